"""Fields of a Sina article page: title, instants, outlet, doc id, body, keywords,
original title, editor, stock codes.

Four templates are handled: the 2016+ finance/news/tech pages (``h1.main-title``,
``div#artibody`` / ``div#article``), the 2009-2012 GB2312 pages
(``h1#artibodyTitle``, ``span#pub_date``), the 2004-2006 table pages (``th.f24``,
the date row under it, ``td.l17``) and the mobile pages of finance.sina.cn
(``h1.art_tit_h1``, ``section.art_content``). Every function takes a parsed page (an
lxml tree, see ``encoding.read_document``) and returns plain values; the spider
decides what to do with missing ones.

Speed matters here: this runs once per article on a 100-400 KB page. Lookups by id
(``id('artibody')``) are hash lookups in libxml2, ``/html/head/…`` paths visit a
few dozen nodes; only what has no id (the h1, the date line) is searched with
``//``, and then once. Every XPath is compiled once, at import.
"""

from __future__ import annotations

import html
import re
import unicodedata
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from lxml import etree

from newscrawl.sina.dates import from_iso, from_plain_beijing, from_visible, plausible
from newscrawl.sina.ids import doc_id_from_url

_XPath = Callable[..., Any]

# Meta tags live in the head; a page whose head the parser gave up on is searched
# whole.
_HEAD_METAS: _XPath = etree.XPath("/html/head/meta[@content]")
_ALL_METAS: _XPath = etree.XPath("//meta[@content]")
_TITLE_TAG: _XPath = etree.XPath("/html/head/title")
# News pages put a "新闻中心" logo in an h1 before the real title
# (https://news.sina.com.cn/c/2019-09-07/doc-iicezzrq4076655.shtml): the title is
# the h1 of class main-title, never the first h1.
_H1S: _XPath = etree.XPath("//h1")
_BY_ID: _XPath = etree.XPath("id($id)")
# Body containers in order of preference: finance pages #artibody, news pages
# #article, old pages div#artibody.blkContainerSblkCon.
_BODY_IDS = ("artibody", "article")
# 2004-2006 table pages hold the article in the innermost <td class=l17> of the
# table headed by the title, <th class=f24>
# (http://chanye.finance.sina.com.cn/sm/2005-03-21/244339.shtml), some inside a
# <div id=article> that also holds the title and the date line
# (http://bj.house.sina.com.cn/p/2005-03-31/031868306.html). Their body font,
# <font id="zoom">, is no container: the parser closes it before the first <p>.
_F24 = "contains(concat(' ', normalize-space(@class), ' '), ' f24 ')"
_L17 = "contains(concat(' ', normalize-space(@class), ' '), ' l17 ')"
_TABLE_TITLE: _XPath = etree.XPath(f"//th[{_F24}]")
_TABLE_TITLE_IN: _XPath = etree.XPath(f".//th[{_F24}]")
_TABLE_BODY: _XPath = etree.XPath(f"ancestor::table[1]//td[{_L17}][not(.//td[{_L17}])]")
# Its date line is one of the next rows: <tr><td height=20 align=center>
# http://www.sina.net 2005年03月21日 11:21 <font color=#A20010>《理财周刊》</font>
_TABLE_HEAD_CELLS: _XPath = etree.XPath("ancestor::table[1]/tr[position() <= 4]/td")
# Mobile pages (https://finance.sina.cn/2018-12-28/detail-ihqfskcn2160999.d.html)
# have no such id: their body is a section.art_content.
_MOBILE_BODY: _XPath = etree.XPath(
    "//section[contains(concat(' ', normalize-space(@class), ' '), ' art_content ')]"
)
# The date line sits in the top bar (#top_bar) of 2016+ pages.
_DATE_SOURCE_IN_TOP_BAR: _XPath = etree.XPath(
    "id('top_bar')//div[contains(concat(' ', normalize-space(@class), ' '),"
    " ' date-source ')]"
)
_DATE_SOURCE: _XPath = etree.XPath(
    "//div[contains(concat(' ', normalize-space(@class), ' '), ' date-source ')]"
)
_HAS_CLASS: _XPath = etree.XPath(
    "contains(concat(' ', normalize-space(@class), ' '), concat(' ', $name, ' '))"
)
_CLASSED_DESCENDANTS: _XPath = etree.XPath(
    ".//*[contains(concat(' ', normalize-space(@class), ' '), concat(' ', $name, ' '))]"
)
_TEXT: _XPath = etree.XPath("string()")

# "<title>标题|标签_新浪财经_新浪网</title>"; old pages "标题_影音娱乐_新浪网".
_TITLE_SUFFIX = re.compile(r"(?:\|.*|_[^_|]*_新浪网\s*)$", re.S)
_PUBLISH_HELPER_END = "publish_helper_end"
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ufeff\ufffe\uffff]")
_SPACES = re.compile(r"\s+")
_PUBLISHID = re.compile(r"[0-9a-z]{6,64}")
_KEYWORD_SEPARATORS = re.compile(r"[,，]")

# The editor line: "责任编辑：张三 SF014" (p.article-editor in 2016+ pages, inside or
# just after the body container; p.show_author on mobile-era pages); the code is
# Sina's staff code, two capitals and digits (SF014, SN098).
# Searched in the body's parent, not the page: a whole-page search costs more than
# the rest of the page's fields together.
_EDITOR_LINES: _XPath = etree.XPath(
    ".//p[contains(concat(' ', normalize-space(@class), ' '), ' article-editor ')"
    " or contains(concat(' ', normalize-space(@class), ' '), ' show_author ')]"
)
_EDITOR = re.compile(r"责任编辑\s*[：:]\s*(?P<who>[^（）()\n]*)")
_EDITOR_CODE = re.compile(r"[A-Z]{2}\d{2,4}")
_TEXT_WITH: _XPath = etree.XPath(".//text()[contains(., $needle)]")
_PARAGRAPHS: _XPath = etree.XPath(".//p")
# "原标题：…" opens the body of a reprint, in its first paragraphs
# (https://news.sina.com.cn/c/2019-09-07/doc-iicezzrq4076655.shtml).
_ORIGINAL_TITLE = re.compile(r"^[\s\u3000]*原标题\s*[：:]\s*(?P<title>.+)$", re.S)
#: How far into the body an original title is looked for (paragraphs).
ORIGINAL_TITLE_WITHIN = 5
# Stocks the article names. In its body, Sina wraps each in a quote span,
# <span id=stock_sh600016><a href=…/realstock/company/sh600016/nc.shtml
# class=keyword>民生银行</a></span>, usstock_AAPL, hkstock_00700; and after the body a
# marker lists them: <!-- news_keyword_pub,stock,sh600016&sh601818 -->
# (http://finance.sina.com.cn/money/bank/focus/2018-04-12/doc-ifyzeyqa8290317.shtml).
# The page's header and sidebars link other quotes (sh000001, 热门股票) on every
# page: only the body and the marker count.
_STOCK_SPANS: _XPath = etree.XPath(
    ".//span[starts-with(@id, 'stock_') or starts-with(@id, 'usstock_')"
    " or starts-with(@id, 'hkstock_')]/@id"
)
_BODY_LINKS: _XPath = etree.XPath(".//a/@href")
# The quote chart atop a market article (div.ct_hqimg) links the article's stock
# (sz002681, hk03908) or, for a market report, an index: 上证指数 sh000001
# (http://finance.sina.com.cn/stock/jsy/2018-04-12/doc-ifyzeyqc0402093.shtml).
# An index is no stock the article names, unless its own spans or marker say so.
_INDEX_CODE = re.compile(r"sh000\d{3}|sz399\d{3}")
_KEYWORD_MARKERS: _XPath = etree.XPath(".//comment()[contains(., 'news_keyword_pub')]")
_MARKER = re.compile(r"news_keyword_pub\s*,\s*(?P<kind>\w+)\s*,(?P<codes>[^>]*)")
_QUOTE_LINK = re.compile(
    r"/realstock/company/(?P<cn>(?:sh|sz|bj)\d{6})/"
    r"|/usstock/quotes/(?P<us>[A-Za-z][A-Za-z.]{0,9})\.html"
    r"|/hkstock/quotes/(?P<hk>\d{1,5})\.html",
    re.I,
)
_CN_CODE = re.compile(r"(?:sh|sz|bj)\d{6}")
_US_CODE = re.compile(r"[A-Z][A-Z.]{0,9}")
_HK_CODE = re.compile(r"\d{1,5}")


@dataclass(frozen=True, slots=True)
class PageFields:
    """What an article page says about itself; empty or None where it says nothing."""

    title_raw: str
    title_source: str
    published_raw: str
    published_source: str
    published: datetime | None
    updated_raw: str
    updated: datetime | None
    outlet: str
    doc_id: str | None
    #: The body container, an element of the page's tree; None if there is none.
    body: etree._Element | None
    keywords: list[str] = field(default_factory=list)
    original_title: str = ""
    editor: str = ""
    editor_code: str = ""
    #: Normalised, sorted, unique: sh600519, sz000001, hk00700, usAAPL.
    stocks: list[str] = field(default_factory=list)

    @property
    def body_html(self) -> str | None:
        """The inner HTML of the body container, as in the page (for people and
        tests: the page path cleans the element itself)."""
        return None if self.body is None else inner_html(self.body)


def extract_page(root: etree._Element, url: str) -> PageFields:
    """Every field of one article page; ``url`` is the page's own URL."""
    metas = meta_values(root)
    body = find_body(root)
    editor, editor_code = find_editor(body)
    title_source, title_raw = find_title(root, metas, body)
    date_source = find_date_source(root)
    published_source, published_raw, published = find_published(
        root, metas, date_source
    )
    updated_raw = metas.get("weibo: article:update_at", "")
    return PageFields(
        title_raw=title_raw,
        title_source=title_source,
        published_raw=published_raw,
        published_source=published_source,
        published=published,
        updated_raw=updated_raw,
        updated=from_plain_beijing(updated_raw) if updated_raw else None,
        outlet=find_outlet(root, metas, date_source),
        doc_id=find_doc_id(metas, url),
        body=body,
        keywords=find_keywords(metas),
        original_title=find_original_title(body),
        editor=editor,
        editor_code=editor_code,
        stocks=find_stocks(body),
    )


def meta_values(root: etree._Element) -> dict[str, str]:
    """``content`` of the page's meta tags by ``name`` or ``property``; first wins."""
    values: dict[str, str] = {}
    for meta in _HEAD_METAS(root) or _ALL_METAS(root):
        key = meta.get("property") or meta.get("name")
        if key:
            values.setdefault(key.strip().lower(), (meta.get("content") or "").strip())
    return values


def find_title(
    root: etree._Element,
    metas: dict[str, str],
    body: etree._Element | None = None,
) -> tuple[str, str]:
    """``(source, title as found)`` from the first place that has a title;
    ``body``, the body container, tells where to look for it first."""
    for h1 in _title_headings(root, body):
        text = _TEXT(h1)
        if text.strip():
            return "h1", text
    if metas.get("og:title"):
        return "og:title", metas["og:title"]
    # 2004-2006 table pages: the <title> reads "标题__商贸_产业资讯_新浪网".
    for th in _TABLE_TITLE(root):
        text = _TEXT(th)
        if text.strip():
            return "th", text
    for title in _TITLE_TAG(root):
        text = _TITLE_SUFFIX.sub("", _TEXT(title))
        if text.strip():
            return "title", text
    return "", ""


def _title_headings(
    root: etree._Element, body: etree._Element | None
) -> Iterator[etree._Element]:
    """The page's title headings: near the body first, then the whole page's."""
    # The title is a child of one of the body's ancestors (div.main-content >
    # h1.main-title, beside div#article_content > div#artibody) on 120 of the 122
    # corpus pages with a title heading, and on the 4 fixture pages: found there
    # without reading the whole page, which costs more than every other field
    # together (a tree of 100-400 KB just parsed, mostly out of the CPU's caches).
    if body is not None:
        for ancestor in body.iterancestors():
            for child in ancestor:
                if child.tag == "h1" and _is_title_heading(child):
                    yield child
                    break
    for h1 in _H1S(root):
        if _is_title_heading(h1):
            yield h1


def _is_title_heading(h1: etree._Element) -> bool:
    return bool(
        _HAS_CLASS(h1, name="main-title")
        or h1.get("id") == "artibodyTitle"
        # Mobile pages: <h1 class="art_tit_h1">
        # (https://finance.sina.cn/sa/2005-08-26/detail-ikknscsi2623250.d.html)
        or _HAS_CLASS(h1, name="art_tit_h1")
    )


def normalize_title(title: str) -> str:
    """The title as archived: NFC, no control characters, whitespace collapsed."""
    title = unicodedata.normalize("NFC", title)
    title = _CONTROL.sub(" ", title)
    return _SPACES.sub(" ", title).strip()


def find_date_source(root: etree._Element) -> etree._Element | None:
    """The line under the title with the visible date and the outlet (2016+)."""
    found = _DATE_SOURCE_IN_TOP_BAR(root) or _DATE_SOURCE(root)
    return found[0] if found else None


def find_published(
    root: etree._Element, metas: dict[str, str], date_source: etree._Element | None
) -> tuple[str, str, datetime | None]:
    """``(source, raw value, instant)`` of the page's own publication time."""
    raw = metas.get("article:published_time", "")
    instant = from_iso(raw) if raw else None
    if instant is not None and plausible(instant):
        return "meta", raw, instant
    visible: list[Any] = []
    if date_source is not None:
        visible += _CLASSED_DESCENDANTS(date_source, name="date")
    visible += _BY_ID(root, id="pub_date")  # old pages
    for element in visible:
        text = _TEXT(element)
        instant = from_visible(text)
        if instant is not None and plausible(instant):
            return "visible", text.strip(), instant
    for th in _TABLE_TITLE(root):  # 2004-2006 table pages
        for cell in _TABLE_HEAD_CELLS(th):
            text = _SPACES.sub(" ", _TEXT(cell)).strip()
            instant = from_visible(text)
            if instant is not None and plausible(instant):
                return "visible", text, instant
    raw = metas.get("weibo: article:create_at", "")
    instant = from_plain_beijing(raw) if raw else None
    if instant is not None and plausible(instant):
        return "meta", raw, instant
    return "", "", None


def find_outlet(
    root: etree._Element, metas: dict[str, str], date_source: etree._Element | None
) -> str:
    """The original media outlet (新京报, 澎湃新闻 …), not the site."""
    places: list[Any] = []
    if date_source is not None:
        places += _CLASSED_DESCENDANTS(date_source, name="source")
    places += _BY_ID(root, id="media_name")  # old pages
    for element in places:
        text = _SPACES.sub(" ", _TEXT(element)).strip()
        if text:
            return text
    # 2004-2006 table pages: the outlet is the red <font> after the date line,
    # "http://www.sina.net 2005年03月21日 11:21 <font color=#A20010>《理财周刊》</font>"
    # (http://chanye.finance.sina.com.cn/sm/2005-03-21/244339.shtml).
    for th in _TABLE_TITLE(root):
        for cell in _TABLE_HEAD_CELLS(th):
            if from_visible(_SPACES.sub(" ", _TEXT(cell)).strip()) is None:
                continue
            for font in reversed(cell.findall(".//font")):
                text = _SPACES.sub(" ", _TEXT(font)).strip()
                if text:
                    return text
    return metas.get("article:author") or metas.get("mediaid") or ""


def find_doc_id(metas: dict[str, str], url: str) -> str | None:
    """The doc id from the URL, else from ``meta[name=publishid]``."""
    doc_id = doc_id_from_url(url)
    if doc_id is not None:
        return doc_id
    publishid = metas.get("publishid", "")
    # 2016+ pages write the id without its "i"; old pages "28,3,2762951".
    if _PUBLISHID.fullmatch(publishid):
        return publishid if publishid.startswith("i") else "i" + publishid
    return None


def find_keywords(metas: dict[str, str]) -> list[str]:
    """The article's keywords from ``meta[name=keywords]``."""
    raw = metas.get("keywords", "")
    return [k.strip() for k in _KEYWORD_SEPARATORS.split(raw) if k.strip()]


def find_editor(body: etree._Element | None) -> tuple[str, str]:
    """``(name, code)`` of the responsible editor ("责任编辑：张三 SF014"), from the
    editor line in or after the body; empty strings when the page names none."""
    if body is None:
        return "", ""
    found = _editor_in(_TEXT_WITH(body, needle="责任编辑"))
    if found is None:
        # The editor line just after the body, in its parent
        # (http://finance.sina.com.cn/money/forex/forexroll/2016-05-25/doc-ifxsktkp9337164.shtml).
        container = body.getparent()
        lines = _EDITOR_LINES(body if container is None else container)
        found = _editor_in(_TEXT(p) for p in lines)
    return found or ("", "")


def _editor_in(texts: Iterable[Any]) -> tuple[str, str] | None:
    for text in texts:
        found = _EDITOR.search(str(text))
        if found is None:
            continue
        words = _SPACES.sub(" ", found["who"]).strip().split(" ")
        code = ""
        if len(words) > 1 and _EDITOR_CODE.fullmatch(words[-1]):
            code = words.pop()
        name = " ".join(words)
        if name or code:
            return name, code
    return None


def find_original_title(body: etree._Element | None) -> str:
    """The title the article had at its outlet ("原标题：…" in the body's first
    paragraphs), normalised as titles are; empty when it gives none."""
    if body is None:
        return ""
    paragraphs = _PARAGRAPHS(body)
    for paragraph in paragraphs[:ORIGINAL_TITLE_WITHIN]:
        found = _ORIGINAL_TITLE.match(_TEXT(paragraph))
        if found is not None:
            return _original_title(found["title"])
    # A body of text and <br>s (old pages) has no paragraphs to go by.
    for text in [] if paragraphs else _TEXT_WITH(body, needle="原标题")[:1]:
        found = _ORIGINAL_TITLE.match(str(text))
        if found is not None:
            return _original_title(found["title"])
    return ""


def _original_title(text: str) -> str:
    """The outlet's title as the reprint quotes it, normalised as titles are. The
    space between a headline's two halves ("善林金融上海总部被查 现场图片曝光（多图）",
    http://finance.sina.com.cn/money/bank/hykx/2018-04-11/doc-ifyzeyqa4658976.shtml)
    is kept, as in the article's own title: it is how Chinese headlines separate
    their clauses, and the archive keeps what the page says."""
    return normalize_title(text)


def find_stocks(body: etree._Element | None) -> list[str]:
    """The stock codes the article names, normalised (``sh600519``, ``sz000001``,
    ``hk00700``, ``usAAPL``), sorted: from the body's quote spans and links and the
    page's keyword markers, never from the site's navigation."""
    found: set[str] = set()
    if body is not None:
        for span_id in _STOCK_SPANS(body):
            kind, _, code = str(span_id).partition("_")
            found.update(_stock_codes(kind, [code]))
        for href in _BODY_LINKS(body):
            for link in _QUOTE_LINK.finditer(str(href)):
                if link["cn"]:
                    if not _INDEX_CODE.fullmatch(link["cn"].lower()):
                        found.update(_stock_codes("stock", [link["cn"]]))
                elif link["us"]:
                    found.update(_stock_codes("usstock", [link["us"]]))
                else:
                    found.update(_stock_codes("hkstock", [link["hk"]]))
    # The marker closes the body (<!-- news_keyword_pub,stock,… --> inside
    # #artibody on every page of the corpus).
    for marker in [] if body is None else _KEYWORD_MARKERS(body):
        parsed = _MARKER.search(marker.text or "")
        if parsed is not None:
            codes = parsed["codes"].split("&")
            found.update(_stock_codes(parsed["kind"].lower(), codes))
    return sorted(found)


def _stock_codes(kind: str, codes: list[str]) -> list[str]:
    """Codes of one market made canonical; what is no stock code is left out (a
    marker of kind ``overseas_futures`` names futures, not stocks)."""
    out = []
    for code in (c.strip() for c in codes):
        if kind == "stock" and _CN_CODE.fullmatch(code.lower()):
            out.append(code.lower())
        elif kind == "usstock" and _US_CODE.fullmatch(code.upper()):
            out.append("us" + code.upper())
        elif kind == "hkstock" and _HK_CODE.fullmatch(code):
            out.append("hk" + code.zfill(5))
    return out


def find_body(root: etree._Element) -> etree._Element | None:
    """The body container, in the page's tree; None if there is none.

    Its content ends at an old page's ``<!-- publish_helper_end -->``
    (``inner_html``, ``cut_at_body_end``).
    """
    for container_id in _BODY_IDS:
        for element in _BY_ID(root, id=container_id):
            if isinstance(element, etree._Element):
                if container_id == "article":
                    # A 2005 page's #article holds the title table.
                    table_body = _table_body(_TABLE_TITLE_IN(element))
                    if table_body is not None:
                        return table_body
                return element
    for element in _MOBILE_BODY(root):
        if isinstance(element, etree._Element):
            return element
    return _table_body(_TABLE_TITLE(root))


def _table_body(titles: list[Any]) -> etree._Element | None:
    """The body cell of a 2004-2006 table page, given its title cells."""
    for th in titles:
        for element in _TABLE_BODY(th):
            if isinstance(element, etree._Element):
                return element
    return None


def _body_end(element: etree._Element) -> etree._Element | None:
    """The child that ends the article in an old page's body container, if any.

    Old pages end the article at ``<!-- publish_helper_end -->`` and put promotions
    after it, inside the same container
    (http://ent.sina.com.cn/y/2009-11-09/13482762951.shtml).
    """
    for child in element.iterchildren(etree.Comment):
        if _PUBLISH_HELPER_END in (child.text or ""):
            return child
    return None


def inner_html(element: etree._Element) -> str:
    """The HTML inside ``element``, stopping at an old page's publish_helper_end."""
    end = _body_end(element)
    parts = [html.escape(element.text or "", quote=False)]
    for child in element:
        if child is end:
            break
        parts.append(etree.tostring(child, encoding="unicode", method="html"))
    return "".join(parts)


def cut_at_body_end(element: etree._Element) -> None:
    """Remove from the page's tree what follows the article in its body container
    (an old page's publish_helper_end and all after it), as ``inner_html`` leaves
    it out."""
    end = _body_end(element)
    if end is None:
        return
    for child in [end, *end.itersiblings()]:
        element.remove(child)
