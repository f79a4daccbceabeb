"""The plain text of a cleaned body, and its length: what analysis tools read.

Pure: the cleaned HTML (FORMAT.md's body policy: one block element per line) in,
text out. The export (archive/dataset.py) and the page path (page.py) agree on it.
"""

from __future__ import annotations

import re

from lxml import etree, html

# What indents or pads a Chinese paragraph: the full-width space U+3000 above all,
# and no-break spaces; stripped from each paragraph's ends.
_PAD = " \t\r\n\u3000\u00a0\u2002\u2003"
_WHITESPACE = re.compile(r"\s+")
# Blocks whose children are the paragraphs (a list's items, a table's rows).
_CONTAINERS = frozenset({"ul", "ol", "table", "thead", "tbody", "tfoot", "blockquote"})


def plain_text(body: str) -> str:
    """The body's paragraphs as text, one per line, each stripped of its indent;
    no empty lines."""
    if not body.strip():
        return ""
    try:
        parts = html.fragments_fromstring(body)
    except etree.ParserError:
        return ""
    lines: list[str] = []
    for part in parts:
        if isinstance(part, str):
            _add(lines, part)
        elif isinstance(part.tag, str):
            _block(part, lines)
            _add(lines, part.tail or "")
    return "\n".join(lines)


def _block(element: html.HtmlElement, lines: list[str]) -> None:
    if element.tag in _CONTAINERS and len(element):
        _add(lines, element.text or "")
        for child in element:
            if isinstance(child.tag, str):
                _block(child, lines)
            _add(lines, child.tail or "")
        return
    if element.tag == "tr":
        cells = [_one_line(c.text_content()) for c in element if isinstance(c.tag, str)]
        _add(lines, " ".join(c for c in cells if c))
        return
    for piece in _br_split(element):
        _add(lines, piece)


def _br_split(element: html.HtmlElement) -> list[str]:
    """The element's text, split where it has a <br> (one line each)."""
    if element.find(".//br") is None:
        return [str(element.text_content())]
    for br in element.iter("br"):
        br.tail = "\n" + (br.tail or "")
    return str(element.text_content()).split("\n")


def _one_line(text: str) -> str:
    return _WHITESPACE.sub(" ", text).strip(_PAD)


def _add(lines: list[str], text: str) -> None:
    text = text.strip(_PAD)
    if text:
        lines.append(text)


def text_length(text: str) -> int:
    """Characters that are not whitespace: Chinese has no words to count."""
    return len(_WHITESPACE.sub("", text))
