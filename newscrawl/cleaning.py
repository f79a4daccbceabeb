"""The body policy of FORMAT.md: a raw article body in, clean publishable HTML out.

Pure: lxml and the standard library only, no Scrapy, no disk, and no site: what a
site adds to its bodies (ads, promotions, widgets, editor lines) comes in as data, a
``Rules`` value (Sina's are ``newscrawl/sina/boilerplate.py``), the way trafilatura
keeps its XPaths apart from its tree surgery. The body comes in as the container
element of the page's own tree (``clean_element``: the page path's one parse, the
tree cleaned in place) or as HTML (``clean_body``: parsed once). It is then
walked three times: ``_Pruner`` removes what the policy and the rules remove and
rewrites URLs, ``_drop_by_text`` removes blocks recognised by their text (which is
only reliable once scripts and comments are gone), and ``_Layout`` writes the result,
one block per line, unwrapping every element the policy does not keep.
"""

from __future__ import annotations

import html
import re
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from urllib.parse import urljoin, urlsplit

from lxml import etree

# Blocks whose content is written on one line, inline.
_LEAF_BLOCKS = frozenset(
    {"p", "h2", "h3", "h4", "h5", "h6", "pre", "li", "th", "td", "figcaption"}
)
# Blocks whose children are blocks: one line for each tag and each child.
# Inline content met directly inside a blockquote is wrapped in <p>, as at the top.
_CONTAINER_BLOCKS = frozenset(
    {"blockquote", "ul", "ol", "table", "thead", "tbody", "tr", "figure"}
)
_BLOCKS = _LEAF_BLOCKS | _CONTAINER_BLOCKS
# Blocks that may hold inline content only. Unclosed tags nest blocks in them
# (<p>a<b>b<div>c<p>d… parses as one <p>): such a block is laid out as a flow, so
# that no <p> or <table> is ever written inside a <p>.
_PHRASING_BLOCKS = frozenset({"p", "h2", "h3", "h4", "h5", "h6", "pre"})
_INLINES = frozenset(
    {"br", "strong", "b", "em", "i", "u", "sub", "sup", "img", "a", "code"}
)
_VOID = frozenset({"br", "img"})

# Removed together with their content: active content, form widgets, raw-text
# elements (their "children" are text that only looks like markup) and document-level
# elements that have no place in a body.
_REMOVED_TAGS = frozenset(
    {
        "script", "style", "iframe", "object", "embed", "form", "input", "button",
        "noscript", "template", "textarea", "select", "option", "optgroup",
        "datalist", "applet", "param", "frame", "frameset", "noframes", "audio",
        "video", "source", "track", "canvas", "head", "title", "meta", "link",
        "base", "xmp", "plaintext", "noembed", "portal",
    }
)  # fmt: skip
# Elements whose content the HTML serialiser writes as it is, unescaped.
_RAW_TEXT_TAGS = (
    "script", "style", "xmp", "iframe", "noembed", "noframes", "plaintext",
)  # fmt: skip
# Unwrapped elements that still end a paragraph: their content starts a new line.
_BREAKING_TAGS = frozenset(
    {
        "div", "center", "section", "article", "aside", "header", "footer", "nav",
        "main", "h1", "address", "dl", "dt", "dd", "hr", "caption", "tfoot",
        "details", "summary", "fieldset", "legend", "hgroup", "menu", "dir",
        "dialog", "search", "colgroup", "col", "html", "body", "marquee",
    }
)  # fmt: skip
# Blocks that are dropped when they hold neither text nor an image. Table cells and
# rows are left alone: an empty cell is part of the table's shape.
_DROPPED_WHEN_EMPTY = frozenset(
    {"p", "h2", "h3", "h4", "h5", "h6", "pre", "li", "figcaption"}
    | {"blockquote", "ul", "ol", "table", "figure"}
)
# Inline elements dropped when they hold nothing at all (not even a space).
_FORMATTING = frozenset({"strong", "b", "em", "i", "u", "sub", "sup", "a", "code"})
# The parser stops at "</html>" and moves anything after "</body>" out of the body,
# so those end tags (meaningless inside a fragment) must not reach it.
_DOCUMENT_END_TAGS = re.compile(r"</(?:html|body|head)\b[^>]*>", re.IGNORECASE)
_LONE_SURROGATES = re.compile(r"[\ud800-\udfff]")
# What browsers strip from URLs before parsing them: tabs and newlines anywhere,
# C0 controls and spaces at both ends ("jav&#x09;ascript:" is "javascript:").
_URL_TABS = re.compile(r"[\t\n\r]")
_URL_EDGES = "".join(map(chr, range(0x21)))
_SAFE_SCHEMES = frozenset({"http", "https"})
# Percent-encoded the way browsers do before a request; a written URL never holds
# a space or a quote.
_URL_UNSAFE = re.compile(r'[\x00-\x20"<>`\x7f]')
# Real bodies nest a dozen levels deep. Markup deeper than this is flattened to its
# text, which keeps the recursive walks far from Python's recursion limit.
_MAX_DEPTH = 64
_SPAN_VALUE = re.compile(r"[1-9][0-9]{0,3}")
_LEADING_INT = re.compile(r"\s*([0-9]+)")
_BLANK_LINES = re.compile(r"\n(?:[ \t\f]*\n)+")
_NEWLINE_BEFORE_BLANK_LINE = re.compile(r"\n(?=[ \t\f]*\n)")
# HTML's own whitespace: U+3000 and U+00A0 are content (paragraph indents, &nbsp;).
_HTML_SPACE = " \t\n\f"

# Characters that XML forbids; character references such as "&#1;" still make them.
_FORBIDDEN_CHARS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
_ATTR_LINE_BREAKS = re.compile(r"[\t\n\r]")
_STRING_VALUE = etree.XPath("string()")
_PARSER = etree.HTMLParser(
    encoding="utf-8",
    collect_ids=False,
    no_network=True,
    remove_comments=False,  # removed by the pruner, which counts them
    remove_pis=False,
)


# --- Site rules as data ---------------------------------------------------------

# "tag", ".class", "tag.class", "#id", "tag#id", "tag[class^=x]", "[id*=x]", "[id=x]"
_SELECTOR = re.compile(
    r"^(?P<tag>[a-z][a-z0-9]*)?"
    r"(?:\.(?P<cls>[\w-]+)|#(?P<id>[\w-]+)"
    r"|\[(?P<attr>class|id)(?P<op>[\^*]?=)(?P<value>[^\]]+)\])?$"
)


@dataclass(frozen=True, slots=True)
class TextRule:
    """Blocks removed because of their visible text (stripped of spaces).

    A block goes when its tag is in ``tags`` and its text equals one of ``equals``,
    starts with one of ``prefixes`` or fully matches ``pattern``, and is at most
    ``max_length`` characters long (0: any length). The length bound keeps a rule
    on the short widget it was written for, never on a paragraph of the article.
    """

    kind: str
    tags: frozenset[str]
    equals: tuple[str, ...] = ()
    prefixes: tuple[str, ...] = ()
    pattern: str = ""
    max_length: int = 0
    #: The heading of a list (相关阅读): the blocks after it that are nothing but
    #: links go with it.
    with_following_links: bool = False
    #: A promotion framed by pictures (a banner before, a QR code after): the
    #: blocks right before and after it that hold an image and no text go with it.
    with_adjacent_images: bool = False
    #: The heading of a footer that runs to a closing block (a list of an
    #: account's past posts, then its QR code): the blocks after it up to the first
    #: whose text contains a match of ``through``, that one and the pictures right
    #: after it go with it, when every block between is short (``through_block``
    #: characters at most) and there are at most ``through_blocks`` of them.
    #: Without such a closing block the heading alone goes.
    through: str = ""
    through_block: int = 60
    through_blocks: int = 30

    def matches(self, text: str) -> bool:
        """Whether a block of this text is this rule's boilerplate."""
        if self.max_length and len(text) > self.max_length:
            return False
        return (
            text in self.equals
            or text.startswith(self.prefixes)
            or bool(self.pattern and re.fullmatch(self.pattern, text))
        )


@dataclass(frozen=True, slots=True)
class InlineRule:
    """Text removed from inside a paragraph: ``pattern`` wherever ``needle`` is."""

    kind: str
    needle: str
    pattern: str


@dataclass(frozen=True, slots=True)
class Rules:
    """One site's boilerplate as data, applied by a cleaner that knows no site.

    - ``elements``: ``(kind, selector)``, elements removed with their content;
      selectors are ``tag``, ``.class``, ``tag.class``, ``#id``, ``tag#id`` and
      ``[class|id ^= *= = value]`` with an optional tag;
    - ``texts``: blocks removed by their text (``TextRule``);
    - ``inline``: text removed from inside paragraphs (``InlineRule``);
    - ``comment_ranges``: ``(kind, start, end)``, everything between a comment
      containing ``start`` and the next sibling comment containing ``end``;
    - ``cut_ranges``: ``(kind, start, end)``, the markup from a comment containing
      ``start`` to the next comment containing ``end`` (and the spaces after it)
      cut out of the HTML before it is parsed, wherever the two comments sit:
      an insert set mid-sentence whose table made the page's parser close the
      paragraph around it, so that the sentence is whole again;
    - ``unlinked``: ``(kind, parent selector, link selector)``, links that keep
      their text and lose their ``href``;
    - ``image_sources``: ``(kind, substring of src)``, images removed;
    - ``leading_image_paths``: ``(kind, path ending)``, images removed when they
      come before the body's first text (an account's banner above a repost);
    - ``spacer_paths``: path endings of spacer images (removed with the ``<br>``
      that would cut a photo from its caption);
    - ``drop_hidden``: remove elements styled ``display:none`` (share images, empty
      widgets filled by script).
    """

    elements: tuple[tuple[str, str], ...] = ()
    texts: tuple[TextRule, ...] = ()
    inline: tuple[InlineRule, ...] = ()
    comment_ranges: tuple[tuple[str, str, str], ...] = ()
    cut_ranges: tuple[tuple[str, str, str], ...] = ()
    unlinked: tuple[tuple[str, str, str], ...] = ()
    image_sources: tuple[tuple[str, str], ...] = ()
    leading_image_paths: tuple[tuple[str, str], ...] = ()
    spacer_paths: tuple[str, ...] = ()
    drop_hidden: bool = False
    _compiled: _CompiledRules | None = field(
        default=None, init=False, repr=False, compare=False
    )

    def compiled(self) -> _CompiledRules:
        """The rules indexed for the walks; built once per Rules value."""
        if self._compiled is None:
            object.__setattr__(self, "_compiled", _CompiledRules(self))
        assert self._compiled is not None
        return self._compiled


#: No site rules: the policy of FORMAT.md alone.
NO_RULES = Rules()


@dataclass(frozen=True, slots=True)
class _Selector:
    tag: str  # "" for any
    attr: str  # "class", "id" or "" (the tag alone)
    op: str  # "~=" (one of the classes), "=", "^=", "*="
    value: str

    def matches(self, tag: str, classes: str, ident: str) -> bool:
        if self.tag and tag != self.tag:
            return False
        if not self.attr:
            return True
        value = classes if self.attr == "class" else ident
        if self.op == "~=":
            return self.value in value.split()
        if self.op == "=":
            return value == self.value
        if self.op == "^=":
            return value.startswith(self.value)
        return self.value in value


def parse_selector(selector: str) -> _Selector:
    """A selector of ``Rules``; ValueError for a form the cleaner does not know."""
    match = _SELECTOR.match(selector.strip())
    if match is None or not selector.strip():
        raise ValueError(f"unsupported selector {selector!r}")
    tag = match["tag"] or ""
    if match["cls"]:
        return _Selector(tag, "class", "~=", match["cls"])
    if match["id"]:
        return _Selector(tag, "id", "=", match["id"])
    if match["attr"]:
        return _Selector(tag, match["attr"], match["op"], match["value"].strip("'\""))
    return _Selector(tag, "", "", "")


class _CompiledRules:
    """Rules indexed for speed: most elements are settled by one dict look-up."""

    def __init__(self, rules: Rules) -> None:
        self.by_class: dict[str, list[tuple[str, str]]] = {}
        self.by_id: dict[str, list[tuple[str, str]]] = {}
        self.by_tag: dict[str, str] = {}
        self.scanned: list[tuple[_Selector, str]] = []
        for kind, selector in rules.elements:
            parsed = parse_selector(selector)
            if parsed.op == "~=":
                self.by_class.setdefault(parsed.value, []).append((parsed.tag, kind))
            elif parsed.attr == "id" and parsed.op == "=":
                self.by_id.setdefault(parsed.value, []).append((parsed.tag, kind))
            elif not parsed.attr:
                self.by_tag[parsed.tag] = kind
            else:
                self.scanned.append((parsed, kind))
        self.texts = rules.texts
        self.text_tags = frozenset(t for rule in rules.texts for t in rule.tags)
        # Most blocks match no rule: one dict look-up, one startswith and the few
        # patterns of short blocks settle them.
        self.equals: dict[str, list[TextRule]] = {}
        for rule in rules.texts:
            for text in rule.equals:
                self.equals.setdefault(text, []).append(rule)
        self.prefixes = tuple(p for rule in rules.texts for p in rule.prefixes)
        self.patterns = [
            (rule, re.compile(rule.pattern)) for rule in rules.texts if rule.pattern
        ]
        self.pattern_length = max(
            (
                rule.max_length if rule.max_length else 1 << 62
                for rule, _ in self.patterns
            ),
            default=0,
        )
        self.inline = [(r.kind, r.needle, re.compile(r.pattern)) for r in rules.inline]
        self.comment_ranges = rules.comment_ranges
        # A comment is "<!--" up to the first "-->"; the range ends at the first
        # comment holding the end marker after it.
        self.cut_ranges = [
            (
                kind,
                start,
                re.compile(
                    rf"<!--(?:(?!-->).)*?{re.escape(start)}.*?"
                    rf"<!--(?:(?!-->).)*?{re.escape(end)}(?:(?!-->).)*-->\s*",
                    re.S,
                ),
            )
            for kind, start, end in rules.cut_ranges
        ]
        self.unlinked = [
            (kind, parse_selector(parent), parse_selector(link))
            for kind, parent, link in rules.unlinked
        ]
        self.image_sources = rules.image_sources
        self.leading_image_paths = rules.leading_image_paths
        self.spacer_paths = rules.spacer_paths
        self.drop_hidden = rules.drop_hidden

    def element_kind(self, tag: str, classes: str, ident: str) -> str | None:
        """The kind of boilerplate an element with these attributes is, if any."""
        for name in classes.split():
            for want, kind in self.by_class.get(name, ()):
                if not want or want == tag:
                    return kind
        for want, kind in self.by_id.get(ident, ()) if ident else ():
            if not want or want == tag:
                return kind
        for selector, kind in self.scanned:
            if selector.matches(tag, classes, ident):
                return kind
        return None

    def text_rule(self, tag: str, text: str) -> TextRule | None:
        """The rule that says a block of this text is boilerplate, if any."""
        candidates: list[TextRule] = list(self.equals.get(text, ()))
        if self.prefixes and text.startswith(self.prefixes):
            candidates += [r for r in self.texts if text.startswith(r.prefixes)]
        if len(text) <= self.pattern_length:
            candidates += [r for r, p in self.patterns if p.fullmatch(text)]
        if not candidates:
            return None
        found = {id(rule) for rule in candidates}
        for rule in self.texts:  # in the order the rules are given
            if (
                id(rule) in found
                and tag in rule.tags
                and (not rule.max_length or len(text) <= rule.max_length)
            ):
                return rule
        return None


@dataclass(frozen=True, slots=True)
class CleanedBody:
    """A cleaned article body, its first image and what cleaning removed."""

    html: str
    image: str | None
    removed: Mapping[str, int]


def clean_body(html: str, base_url: str, rules: Rules = NO_RULES) -> CleanedBody:
    """Clean the inner HTML of an article container by the policy of FORMAT.md,
    removing what ``rules`` say is the site's boilerplate."""
    removed: Counter[str] = Counter()
    compiled = rules.compiled()
    for kind, start, cut in compiled.cut_ranges:
        if start in html:
            html, count = cut.subn("", html)
            if count:
                removed[kind] += count
    body = _parse(html)
    if body is None:
        removed["unparsable"] += 1
        return CleanedBody("", None, MappingProxyType(dict(removed)))
    return _clean(body, base_url, compiled, removed, escape_urls=False)


def clean_element(
    container: etree._Element, base_url: str, rules: Rules = NO_RULES
) -> CleanedBody:
    """Clean the content of an article container, an element of the page's own
    tree, as ``clean_body`` cleans its inner HTML: the same result, without
    writing the content out as HTML and parsing it again.

    The cleaning happens in place: the container's content is pruned and
    rewritten, so the tree must be the caller's own and not read afterwards.
    Where the serialised markup would not read back as the same tree, the
    container is serialised and cleaned as markup, as ``clean_body`` would
    (``_needs_markup``: 3 pages of the 125 of the corpus, 2005-2010 pages with
    an ad or a player cut out by ``cut_ranges``).
    """
    compiled = rules.compiled()
    if _needs_markup(container, compiled):
        return clean_body(_inner_html(container), base_url, rules)
    return _clean(container, base_url, compiled, Counter(), escape_urls=True)


def _needs_markup(container: etree._Element, rules: _CompiledRules) -> bool:
    """Whether the container's markup says more than its tree.

    - A ``cut_ranges`` rule works on markup (it mends what the page's parser made
      of an insert): a comment, or what looks like one in the raw text of a
      script or a style (a page's print script names its ad markers), may start
      a range.
    - The serialiser writes an empty ``<li>`` without its end tag, so what
      follows it reads as its content.
    """
    if rules.cut_ranges:
        starts = [start for _, start, _ in rules.cut_ranges]
        if any(
            start in (node.text or "")
            for node in container.iter(etree.Comment, *_RAW_TEXT_TAGS)
            for start in starts
        ):
            return True
    return any(
        not len(li) and not li.text and (li.tail or li.getnext() is not None)
        for li in container.iter("li")
    )


def _inner_html(element: etree._Element) -> str:
    """The HTML inside ``element`` as the HTML serialiser writes it."""
    parts = [html.escape(element.text or "", quote=False)]
    parts += (
        etree.tostring(child, encoding="unicode", method="html") for child in element
    )
    return "".join(parts)


def _clean(
    body: etree._Element,
    base_url: str,
    compiled: _CompiledRules,
    removed: Counter[str],
    *,
    escape_urls: bool,
) -> CleanedBody:
    """The three walks over a body's content, in place."""
    _Pruner(base_url, removed, compiled, escape_urls=escape_urls).prune(body)
    if compiled.leading_image_paths:
        _drop_leading_images(body, removed, compiled.leading_image_paths)
    _drop_by_text(body, removed, compiled)
    first_image = next(body.iter("img"), None)
    lines = _Layout(removed).lines(body, wrap_inline=True)
    return CleanedBody(
        html="\n".join(lines),
        image=None if first_image is None else first_image.get("src"),
        removed=MappingProxyType(dict(removed)),
    )


def _parse(html: str) -> etree._Element | None:
    """Parse a fragment into a <body> element, whatever the input."""
    html = _DOCUMENT_END_TAGS.sub("", html)
    try:
        data = html.encode("utf-8")
    except UnicodeEncodeError:
        data = _LONE_SURROGATES.sub("\ufffd", html).encode("utf-8")
    # Bytes with an explicit encoding: a stray <meta charset> cannot switch it.
    try:
        root = etree.fromstring(b"<html><body>" + data, _PARSER)
    except etree.LxmlError:
        return None
    if root is None:
        return None
    return root.find("body")


def _text(el: etree._Element) -> str:
    """The text content of an element (comments are gone by then)."""
    return str(_STRING_VALUE(el))


# Chained str.replace: a translate table is ten times slower on CJK text.
def _escape_text(text: str) -> str:
    """Escape text for HTML, writing U+00A0 as &nbsp; as Sina's pages do."""
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return _FORBIDDEN_CHARS.sub("", text.replace("\xa0", "&nbsp;"))


def _escape_attr(value: str) -> str:
    """Escape a double-quoted attribute value, on one line."""
    value = _escape_text(value).replace('"', "&quot;")
    return _ATTR_LINE_BREAKS.sub(" ", value)


def _is_blank(text: str | None) -> bool:
    return not text or not text.strip(_HTML_SPACE)


def _visible(text: str) -> str:
    """Text as it shows: without surrounding spaces or characters never written."""
    return _FORBIDDEN_CHARS.sub("", text).strip()


def _has_content(el: etree._Element) -> bool:
    """Whether an element shows something: visible text or an image."""
    if el.tag == "img":
        return True
    return bool(_visible(_text(el))) or next(el.iter("img"), None) is not None


def _without_blank_lines(line: str) -> str:
    """Keep blank lines out of a written line."""
    # A blank line would end the HTML block for a Markdown renderer such as Hexo's.
    if "\n" not in line:
        return line
    if "<pre>" not in line:
        return _BLANK_LINES.sub("\n", line)  # newlines are plain spaces here
    # In a <pre> every newline shows; a character reference keeps it off the line.
    return _NEWLINE_BEFORE_BLANK_LINE.sub("&#10;", line)


def _drop(el: etree._Element) -> None:
    """Remove an element and its content, keeping the text that follows it."""
    parent = el.getparent()
    if parent is None:
        return
    if el.tail:
        # lxml refuses to set text with the control characters that a character
        # reference such as "&#8;" can leave in the tree.
        tail = _FORBIDDEN_CHARS.sub("", el.tail)
        previous = el.getprevious()
        if previous is None:
            parent.text = _FORBIDDEN_CHARS.sub("", parent.text or "") + tail
        else:
            previous.tail = _FORBIDDEN_CHARS.sub("", previous.tail or "") + tail
    parent.remove(el)


def _resolve_url(url: str, base_url: str) -> str | None:
    """The absolute http(s) form of a URL as a browser would read it, or None."""
    url = _FORBIDDEN_CHARS.sub("", _URL_TABS.sub("", url)).strip(_URL_EDGES)
    if not url:
        return None
    try:
        # Sina writes images as //n.sinaimg.cn/...: always https, whatever the page.
        url = "https:" + url if url.startswith("//") else urljoin(base_url, url)
        scheme = urlsplit(url).scheme
    except ValueError:  # e.g. an unbalanced "[" in the host
        return None
    if scheme not in _SAFE_SCHEMES:
        return None
    return _URL_UNSAFE.sub(lambda match: f"%{ord(match.group()):02X}", url)


def _int_prefix(value: str | None) -> int | None:
    match = _LEADING_INT.match(value or "")
    return int(match.group(1)) if match else None


# libxml2's HTML serialiser writes URL attributes (src, href) without their leading
# blanks and with every byte outside printable ASCII, the space included,
# percent-encoded. Cleaning the page's tree reads them the same way, so that its
# output stays byte for byte that of cleaning the body's serialised HTML.
_URL_LEADING_BLANKS = " \t\n"
_URL_KEPT = frozenset(map(chr, range(0x21, 0x7F)))
_URL_PLAIN = re.compile(r"[\x21-\x7e]*")


def _as_serialised_url(value: str) -> str:
    """A URL attribute as it reads once written by the HTML serialiser and parsed."""
    if _URL_PLAIN.fullmatch(value):
        return value  # nearly every URL
    value = value.lstrip(_URL_LEADING_BLANKS)
    return "".join(
        char
        if char in _URL_KEPT or char == "\r"
        else "".join(f"%{byte:02X}" for byte in char.encode("utf-8", "surrogatepass"))
        for char in value
    )


_HIDDEN_STYLE = re.compile(r"display\s*:\s*none", re.IGNORECASE)


class _Pruner:
    """First walk: remove by tag, selector and comment range; check and rewrite URLs."""

    def __init__(
        self,
        base_url: str,
        removed: Counter[str],
        rules: _CompiledRules,
        *,
        escape_urls: bool = False,
    ) -> None:
        self.base_url = base_url
        self.removed = removed
        self.rules = rules
        #: Read src and href as the HTML serialiser writes them (``clean_element``).
        self.escape_urls = escape_urls

    def prune(self, parent: etree._Element, depth: int = 0) -> None:
        taken = None  # the <br> removed along with a spacer image
        until: tuple[str, str] | None = None  # (kind, end marker) of a comment range
        for child in list(parent):
            if child is taken:
                continue
            if until is not None:
                # Inside a template's comment range (a player, a chart): all goes.
                if not isinstance(child.tag, str) and until[1] in (child.text or ""):
                    until = None
                    self.removed["comment"] += 1
                elif isinstance(child.tag, str):
                    # A slot holding only its script is an empty slot, not a player.
                    tag = child.tag
                    self.removed[tag if tag in _REMOVED_TAGS else until[0]] += 1
                _drop(child)
                continue
            kind = self._removal_kind(child)
            if kind is not None:
                self.removed[kind] += 1
                if kind == "spacer":
                    taken = self._drop_spacer(child)
                else:
                    if kind == "comment":
                        until = self._range_start(child, parent)
                    _drop(child)
                continue
            self._clean_link(child, parent)
            if not len(child):
                continue
            if depth < _MAX_DEPTH:
                self.prune(child, depth + 1)
            else:
                self.removed["too_deep"] += 1
                etree.strip_elements(
                    child, *_REMOVED_TAGS, etree.Comment, with_tail=False
                )
                etree.strip_tags(child, "*")

    def _range_start(
        self, comment: etree._Element, parent: etree._Element
    ) -> tuple[str, str] | None:
        """The ``(kind, end marker)`` of a comment range this comment opens, if its
        end is among the following siblings (else only the comment goes)."""
        text = comment.text or ""
        for kind, start, end in self.rules.comment_ranges:
            if start in text and any(
                not isinstance(s.tag, str) and end in (s.text or "")
                for s in comment.itersiblings()
            ):
                return kind, end
        return None

    def _removal_kind(self, el: etree._Element) -> str | None:
        tag = el.tag
        if not isinstance(tag, str):
            # Comments, and what the HTML parser turns into comments: CDATA and
            # processing instructions.
            return "comment"
        if tag in _REMOVED_TAGS:
            return tag
        kind = self.rules.by_tag.get(tag)
        if kind is not None:
            return kind
        if len(el.attrib):  # most paragraphs have none
            kind = self._boilerplate_kind(el, tag)
            if kind is not None:
                return kind
        if tag == "img":
            return self._image_removal_kind(el)
        return None

    def _boilerplate_kind(self, el: etree._Element, tag: str) -> str | None:
        """The site's ads and page furniture by selector; counts on* attributes."""
        if events := sum(1 for name in el.attrib if str(name).lower().startswith("on")):
            self.removed["event_attribute"] += events
        if self.rules.drop_hidden and _HIDDEN_STYLE.search(el.get("style") or ""):
            return "hidden"
        return self.rules.element_kind(tag, el.get("class") or "", el.get("id") or "")

    def _image_removal_kind(self, img: etree._Element) -> str | None:
        src = img.get("src")
        if src is not None and self.escape_urls:
            src = _as_serialised_url(src)
        if src is None or not src.strip():
            return "image_without_src"
        width = _int_prefix(img.get("width"))
        height = _int_prefix(img.get("height"))
        path = src.split("?", 1)[0].split("#", 1)[0]
        if (
            (self.rules.spacer_paths and path.endswith(self.rules.spacer_paths))
            or (width is not None and width <= 5)
            or (height is not None and height <= 5)
        ):
            return "spacer"
        for kind, needle in self.rules.image_sources:
            if needle in src:
                return kind
        resolved = _resolve_url(src, self.base_url)
        if resolved is None:
            return "unsafe_url"
        img.set("src", resolved)
        return None

    def _drop_spacer(self, img: etree._Element) -> etree._Element | None:
        """Drop a spacer image, and with it the second <br> of "<br><spacer><br>".

        Without the spacer the two <br> would read as a paragraph break, cutting
        a photo from its caption.
        """
        previous, following = img.getprevious(), img.getnext()
        if (
            previous is not None
            and previous.tag == "br"
            and _is_blank(previous.tail)
            and _is_blank(img.tail)
            and following is not None
            and following.tag == "br"
        ):
            _drop(following)
            _drop(img)
            return following
        _drop(img)
        return None

    def _clean_link(self, el: etree._Element, parent: etree._Element) -> None:
        """Resolve a link, or strip its href so that the layout unwraps it."""
        if el.tag != "a" or el.get("href") is None:
            return
        href = el.get("href") or ""
        del el.attrib["href"]
        if self.escape_urls:
            href = _as_serialised_url(href)
        if self.rules.unlinked:
            classes, ident = el.get("class") or "", el.get("id") or ""
            parent_classes, parent_id = (
                parent.get("class") or "",
                parent.get("id") or "",
            )
            for kind, parent_selector, link_selector in self.rules.unlinked:
                if link_selector.matches("a", classes, ident) and (
                    parent_selector.matches(str(parent.tag), parent_classes, parent_id)
                ):
                    self.removed[kind] += 1
                    return
        resolved = _resolve_url(href, self.base_url)
        if resolved is None:
            self.removed["unsafe_url"] += 1
            return
        el.set("href", resolved)


def _drop_by_text(
    parent: etree._Element, removed: Counter[str], rules: _CompiledRules
) -> None:
    """Second walk: remove boilerplate known by its text, and empty blocks."""
    if rules.inline:
        _strip_inline(parent, removed, rules)
    for child in list(parent):
        if child.getparent() is not parent:  # gone with a rule's heading
            continue
        tag = child.tag
        kind = None
        by_text = tag in rules.text_tags
        if by_text or tag in _DROPPED_WHEN_EMPTY:
            text = _visible(_text(child))
            rule = rules.text_rule(tag, text) if by_text and text else None
            if rule is not None:
                kind = rule.kind
                if rule.with_following_links:
                    removed[kind] += _drop_following_links(child)
                if rule.with_adjacent_images:
                    removed[kind] += _drop_adjacent_images(child)
                if rule.through:
                    removed[kind] += _drop_through(child, rule)
            if (
                kind is None
                and tag in _DROPPED_WHEN_EMPTY
                and not text
                and next(child.iter("img"), None) is None
            ):
                kind = "empty"
        elif tag in _FORMATTING and not child.text and not len(child):
            kind = "empty"
        if kind is not None:
            removed[kind] += 1
            _drop(child)
        elif len(child):
            _drop_by_text(child, removed, rules)


def _drop_following_links(heading: etree._Element) -> int:
    """Drop the blocks after ``heading`` that hold links and nothing else."""
    dropped = 0
    following = heading.getnext()
    while following is not None and _is_link_list(following):
        after = following.getnext()
        if not _is_blank(following.tail):
            break
        _drop(following)
        dropped += 1
        following = after
    return dropped


def _drop_through(heading: etree._Element, rule: TextRule) -> int:
    """Drop the blocks after ``heading`` through the one that closes its footer,
    and the pictures right after that one (``TextRule.through``)."""
    between: list[etree._Element] = []
    closing = None
    for following in heading.itersiblings():
        if len(between) > rule.through_blocks:
            return 0
        text = _visible(_text(following))
        if re.search(rule.through, text):
            closing = following
            break
        if len(text) > rule.through_block:
            return 0
        between.append(following)
    if closing is None:
        return 0
    pictures: list[etree._Element] = []
    after = closing.getnext()
    while (
        after is not None
        and _is_blank((pictures[-1] if pictures else closing).tail)
        and after.tag in ("img", "br")
    ):
        pictures.append(after)
        after = after.getnext()
    for el in (*between, closing, *pictures):
        _drop(el)
    return len(between) + 1 + len(pictures)


def _drop_leading_images(
    body: etree._Element, removed: Counter[str], paths: tuple[tuple[str, str], ...]
) -> None:
    """Drop the images of ``paths`` that come before the body's first text."""
    found: list[tuple[str, etree._Element]] = []
    for el in body.iter():
        if not _is_blank(el.text):
            break
        if el.tag == "img":
            path = (el.get("src") or "").split("?", 1)[0].split("#", 1)[0].lower()
            kind = next((k for k, end in paths if path.endswith(end)), None)
            if kind is None:
                break
            found.append((kind, el))
        if el is not body and not _is_blank(el.tail):
            break
    for kind, el in found:
        removed[kind] += 1
        _drop(el)


def _drop_adjacent_images(block: etree._Element) -> int:
    """Drop the siblings right before and after ``block`` that show an image and
    no text (only when nothing but blank text separates them)."""
    dropped = 0
    previous, following = block.getprevious(), block.getnext()
    for sibling, between in ((previous, previous), (following, block)):
        if (
            sibling is not None
            and isinstance(sibling.tag, str)
            and between is not None
            and _is_blank(between.tail)
            and not _visible(_text(sibling))
            and (sibling.tag == "img" or next(sibling.iter("img"), None) is not None)
        ):
            _drop(sibling)
            dropped += 1
    return dropped


def _is_link_list(el: etree._Element) -> bool:
    """Whether an element shows links and nothing else (an entry of a list)."""
    if not isinstance(el.tag, str) or el.tag in ("img", "br"):
        return False
    text = _visible(_text(el))
    links = "".join(_text(a) for a in el.iter("a"))
    return bool(text) and _visible(links).replace(" ", "") == text.replace(" ", "")


def _strip_inline(
    el: etree._Element, removed: Counter[str], rules: _CompiledRules
) -> None:
    """Remove the inline rules' text from an element's own text and its children's
    tails (the children are walked on their own)."""
    for kind, needle, pattern in rules.inline:
        if el.text and needle in el.text:
            el.text, count = pattern.subn("", el.text)
            removed[kind] += count
        for child in el:
            if child.tail and needle in child.tail:
                child.tail, count = pattern.subn("", child.tail)
                removed[kind] += count


# A piece of inline content met while laying out a flow: text, or an element to write.
_Item = str | etree._Element


class _Layout:
    """Third walk: write the pruned tree, one block per line."""

    def __init__(self, removed: Counter[str]) -> None:
        self.removed = removed

    def kept(self, el: etree._Element) -> bool:
        tag = el.tag
        if tag == "a":
            return el.get("href") is not None
        return tag in _BLOCKS or tag in _INLINES

    def lines(self, node: etree._Element, *, wrap_inline: bool) -> list[str]:
        """Lay out a node's content as lines; loose inline runs become paragraphs."""
        flow = _Flow(self, wrap_inline)
        flow.feed(node)
        flow.flush()
        return flow.lines

    def block(self, el: etree._Element) -> list[str]:
        """The lines of a kept block element."""
        if el.tag in _LEAF_BLOCKS:
            out: list[str] = [self.start_tag(el)]
            self.inline_content(el, out)
            out.append(f"</{el.tag}>")
            return [_without_blank_lines("".join(out))]
        inner = self.lines(el, wrap_inline=el.tag == "blockquote")
        if not inner:
            return []
        return [self.start_tag(el), *inner, f"</{el.tag}>"]

    def start_tag(self, el: etree._Element) -> str:
        tag = el.tag
        if tag == "img":
            alt = el.get("alt")
            alt_attr = "" if alt is None else f' alt="{_escape_attr(alt)}"'
            src = _escape_attr(el.get("src") or "")
            return f'<img src="{src}"{alt_attr} referrerpolicy="no-referrer">'
        if tag == "a":
            return f'<a href="{_escape_attr(el.get("href") or "")}">'
        if tag in ("td", "th"):
            spans = "".join(
                f' {name}="{value}"'
                for name in ("colspan", "rowspan")
                if (value := (el.get(name) or "").strip())
                and _SPAN_VALUE.fullmatch(value)
            )
            return f"<{tag}{spans}>"
        return f"<{tag}>"

    def inline_content(self, el: etree._Element, out: list[str]) -> None:
        """Write an element's text and children (not its tail), unwrapping as needed."""
        if el.text:
            out.append(_escape_text(el.text))
        for child in el:
            self.inline(child, out)
            if child.tail:
                out.append(_escape_text(child.tail))

    def inline(self, el: etree._Element, out: list[str]) -> None:
        """Write an element (not its tail) inside a line."""
        if not self.kept(el):
            self.removed["unwrapped"] += 1
            self.inline_content(el, out)
            return
        out.append(self.start_tag(el))
        if el.tag not in _VOID:
            self.inline_content(el, out)
            out.append(f"</{el.tag}>")


class _Flow:
    """Lines of one flow (the body, a blockquote, a list…) as its children are fed."""

    def __init__(self, layout: _Layout, wrap_inline: bool) -> None:
        self.layout = layout
        self.wrap_inline = wrap_inline
        self.lines: list[str] = []
        self.run: list[_Item] = []

    def feed(self, node: etree._Element) -> None:
        """Take a node's text and children (not its tail) into the flow."""
        if node.text:
            self.run.append(node.text)
        for child in node:
            self._feed_child(child)
            if child.tail:
                self.run.append(child.tail)

    def _feed_child(self, el: etree._Element) -> None:
        tag = el.tag
        blocks = (
            next(el.iterdescendants(*_BLOCKS), None)
            if tag in _PHRASING_BLOCKS
            else None
        )
        if blocks is not None:
            self.layout.removed["unwrapped"] += 1
            self.flush()
            self.feed(el)
            self.flush()
        elif tag in _BLOCKS:
            self.flush()
            self.lines.extend(self.layout.block(el))
        elif self.layout.kept(el) and next(el.iter(*_BLOCKS), None) is None:
            self.run.append(el)
        else:
            # Unwrapped. A <span> or <font>, or a <strong> around paragraphs (which
            # cannot sit inside a <p>), stays in the running paragraph; a <div> or
            # <center> closes it and opens a new one.
            self.layout.removed["unwrapped"] += 1
            breaking = tag in _BREAKING_TAGS
            if breaking:
                self.flush()
            self.feed(el)
            if breaking:
                self.flush()

    def flush(self) -> None:
        """Write the pending inline run, one paragraph per <br><br>-separated part."""
        run, self.run = self.run, []
        if all(isinstance(item, str) and _is_blank(item) for item in run):
            return  # the usual case: the newlines between two blocks
        for part in _split_at_double_breaks(run):
            items = _trim(part)
            if not any(_item_has_content(item) for item in items):
                continue
            out: list[str] = []
            for item in items:
                if isinstance(item, str):
                    out.append(_escape_text(item))
                else:
                    self.layout.inline(item, out)
            line = _without_blank_lines("".join(out))
            self.lines.append(f"<p>{line}</p>" if self.wrap_inline else line)


def _is_break(item: _Item) -> bool:
    return not isinstance(item, str) and item.tag == "br"


def _is_filler(item: _Item) -> bool:
    return _is_blank(item) if isinstance(item, str) else item.tag == "br"


def _item_has_content(item: _Item) -> bool:
    if isinstance(item, str):
        return bool(_visible(item))
    return _has_content(item)


def _split_at_double_breaks(run: list[_Item]) -> list[list[_Item]]:
    """Split an inline run where two or more <br> follow each other."""
    parts: list[list[_Item]] = [[]]
    pending: list[_Item] = []  # <br>s, and the blank text between them
    breaks = 0
    for item in run:
        if _is_break(item):
            pending.append(item)
            breaks += 1
        elif breaks and isinstance(item, str) and _is_blank(item):
            pending.append(item)
        else:
            if breaks >= 2:
                parts.append([])
            elif breaks == 1:
                parts[-1].extend(pending)
            pending, breaks = [], 0
            parts[-1].append(item)
    return parts


def _trim(items: list[_Item]) -> list[_Item]:
    """Drop <br>s and HTML whitespace at both ends of a run."""
    start, end = 0, len(items)
    while start < end and _is_filler(items[start]):
        start += 1
    while end > start and _is_filler(items[end - 1]):
        end -= 1
    trimmed = items[start:end]
    if trimmed and isinstance(first := trimmed[0], str):
        trimmed[0] = first.lstrip(_HTML_SPACE)
    if trimmed and isinstance(last := trimmed[-1], str):
        trimmed[-1] = last.rstrip(_HTML_SPACE)
    return trimmed
