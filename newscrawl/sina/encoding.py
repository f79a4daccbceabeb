"""Which encoding a page's bytes are in: what the page says, checked against the bytes.

Sina's pages are UTF-8 (2016 onward) or GB2312 (2009-2012), and what a page
declares is usually right. When it is not, a browser shows mojibake; an archive
that keeps the text byte for byte would keep the mojibake forever. So the
declaration is checked against the bytes, and the bytes win when they are
unambiguous:

1. A byte order mark names the encoding (it overrides any header, as in browsers).
2. Bytes that are valid UTF-8 and not plain ASCII are UTF-8, whatever the page
   declares: a page of GB text (or of any legacy encoding) is practically never
   valid UTF-8 by accident, while a UTF-8 page mislabelled ``gb2312`` decodes as
   GB18030 without an error but as nonsense (``工信部`` → ``宸ヤ俊閮``).
3. Otherwise the declared encoding (HTTP header, then ``<meta>``), if it decodes
   the bytes without a single error.
4. Otherwise GB18030 (what GB2312 and GBK are read as), if it decodes them without
   an error: Sina's legacy encoding, and what an undeclared or ``utf-8``-declared
   page that is not UTF-8 is in.
5. Otherwise the text is damaged whatever the encoding: the candidate that
   replaces fewest bytes with U+FFFD, the declared one first on a tie.

Pure: bytes and a header in, a decision out; the spider re-decodes the response.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from lxml import etree
from w3lib.encoding import (
    html_body_declared_encoding,
    http_content_type_encoding,
    read_bom,
    resolve_encoding,
)

_CHARSET = re.compile(r"""charset\s*=\s*["']?([\w.:-]+)""", re.IGNORECASE)

#: Read for gb2312, gbk and gb18030 alike (a superset of both; w3lib does the same).
GB18030 = "gb18030"
UTF8 = "utf-8"
REPLACEMENT = "\ufffd"


@dataclass(frozen=True, slots=True)
class Decoding:
    """The encoding to read a page with, what the page declared, and the damage."""

    encoding: str
    #: What the page declared (BOM, Content-Type, ``<meta>``), normalised; "" if none.
    declared: str
    #: Characters that decoding with ``encoding`` replaces with U+FFFD.
    replacements: int
    #: How the encoding was chosen: "bom", "utf-8", "declared", "gb18030", "least".
    reason: str
    #: The declaration as the page wrote it (``gb2312``), for messages.
    label: str = ""

    @property
    def overrides_declaration(self) -> bool:
        """Whether the bytes contradicted what the page declared."""
        return bool(self.declared) and self.encoding != self.declared


def choose_encoding(body: bytes, content_type: str = "") -> Decoding:
    """How to decode an HTML page's ``body`` served with ``content_type``."""
    bom_encoding, _ = read_bom(body)
    if bom_encoding:
        encoding = resolve_encoding(bom_encoding) or bom_encoding
        replacements = _replacements(body, encoding)
        return Decoding(encoding, encoding, replacements, "bom", bom_encoding)
    label, declared = _declared(body, content_type)
    if body.isascii():
        encoding = declared or UTF8
        return Decoding(encoding, declared, 0, _why(encoding, declared), label)
    if _decodes(body, UTF8):
        return Decoding(UTF8, declared, 0, _why(UTF8, declared), label)
    if declared and _decodes(body, declared):
        return Decoding(declared, declared, 0, "declared", label)
    if _decodes(body, GB18030):
        return Decoding(GB18030, declared, 0, "gb18030", label)
    candidates = [c for c in dict.fromkeys((declared, UTF8, GB18030)) if c]
    counted = [(_replacements(body, c), index, c) for index, c in enumerate(candidates)]
    replacements, _, encoding = min(counted)
    return Decoding(encoding, declared, replacements, "least", label)


def _why(encoding: str, declared: str) -> str:
    return "declared" if encoding == declared else "utf-8"


def _declared(body: bytes, content_type: str) -> tuple[str, str]:
    """``(as written, normalised)`` encoding the header, else the page's ``<meta>``,
    declares; empty strings if none."""
    # w3lib finds the declaration (and ignores unknown names: "charset=foo"); the
    # name as written only serves messages, "gb2312" rather than "gb18030".
    header = http_content_type_encoding(content_type)
    if header:
        return _label(content_type) or header, header
    meta = html_body_declared_encoding(body)
    if meta:
        return _label(body[:4096].decode("latin-1")) or meta, meta
    return "", ""


def _label(text: str) -> str:
    match = _CHARSET.search(text)
    return match.group(1).lower() if match else ""


def _decodes(body: bytes, encoding: str) -> bool:
    try:
        body.decode(encoding)
    except (UnicodeDecodeError, LookupError):
        return False
    return True


def _replacements(body: bytes, encoding: str) -> int:
    try:
        text = body.decode(encoding, "replace")
    except LookupError:
        return len(body)
    # A page may hold a real U+FFFD; only a strict failure says bytes were lost.
    return text.count(REPLACEMENT) if not _decodes(body, encoding) else 0


def replacement_ratio(text: str) -> float:
    """The share of ``text``'s non-space characters that are U+FFFD."""
    visible = sum(1 for c in text if not c.isspace())
    return text.count(REPLACEMENT) / visible if visible else 0.0


# One parser per encoding, reused: building a parser costs about as much as
# parsing a small page. Scrapy calls the spider from one thread, so no locking.
_PARSERS: dict[str, etree.HTMLParser] = {}


def parse_document(body: bytes, decoding: Decoding) -> etree._Element:
    """The page as an lxml tree, parsed once from its bytes in ``decoding``'s encoding.

    Bytes that the encoding cannot read would make libxml2 stop there and drop the
    rest of the page, so a damaged page is decoded in Python first (each bad
    sequence becoming U+FFFD, as counted in ``decoding.replacements``).
    """
    if decoding.replacements or decoding.reason == "bom":
        text = body.decode(decoding.encoding, "replace").lstrip("\ufeff")
        return _document(text or "<html></html>", parser=_parser(None))
    parser = _parser(decoding.encoding)
    try:
        return _document(body or b"<html></html>", parser=parser)
    except (etree.ParserError, LookupError, ValueError):
        # An encoding libxml2 does not know, or bytes it chokes on: decode ourselves.
        text = body.decode(decoding.encoding, "replace")
        return _document(text or "<html></html>", parser=_parser(None))


def _parser(encoding: str | None) -> etree.HTMLParser:
    key = encoding or ""
    parser = _PARSERS.get(key)
    if parser is None:
        # huge_tree: a legitimate 2 MB paragraph is one text node past libxml2's
        # default limit.
        # etree's parser, not lxml.html's: lxml.html picks the class of every
        # element proxy in Python, which made each walk of the tree (extraction,
        # the cleaning of the body in place) a third slower. Same libxml2 parse.
        parser = etree.HTMLParser(encoding=encoding, recover=True, huge_tree=True)
        _PARSERS[key] = parser
    return parser


def _document(body: bytes | str, parser: etree.HTMLParser) -> etree._Element:
    """The root of a parsed page (as ``lxml.html.document_fromstring``)."""
    root = etree.fromstring(body, parser)
    if root is None:
        raise etree.ParserError("Document is empty")
    return root


def read_document(
    body: bytes, content_type: str = ""
) -> tuple[etree._Element, Decoding]:
    """The page parsed once, and how its bytes were decoded.

    Nearly every page is UTF-8 and says so: those are parsed from their bytes
    straight away, and libxml2, which checks UTF-8 as it parses, reports any bad
    byte. Only a page that is not declared UTF-8, or whose bytes prove otherwise,
    pays for ``choose_encoding``'s trial decodes (and then a second parse).
    """
    bom = read_bom(body)[0]
    if b"\x00" in body and not (bom and bom.startswith(("utf-16", "utf-32"))):
        # libxml2 reads NUL as garbage (U+FFFD); browsers and parsel drop it. In
        # UTF-16 and UTF-32 a zero byte is part of a character: those keep it.
        body = body.replace(b"\x00", b"")
    if not bom:
        label, declared = _declared(body, content_type)
        if declared in ("", UTF8):
            parser = _parser(UTF8)
            root = _document(body or b"<html></html>", parser=parser)
            if not any(e.type_name == "ERR_INVALID_ENCODING" for e in parser.error_log):
                return root, Decoding(UTF8, declared, 0, _why(UTF8, declared), label)
    decoding = choose_encoding(body, content_type)
    return parse_document(body, decoding), decoding
