"""The archive file format (FORMAT.md): YAML front matter and the article's HTML.

Both ways: ``format_article`` makes a file's text, ``read_article`` reads one back
(``verify``, ``reindex``). The exporter (newscrawl/exporters.py) formats items with
it; nothing here touches the disk.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from datetime import datetime
from functools import lru_cache
from typing import Any

import yaml

from newscrawl.sina.dates import rfc1123

# Characters YAML may not carry in a document at all (C0/C1 controls other than tab,
# LF, CR and NEL; surrogates; U+FFFE/U+FFFF): PyYAML refuses the whole header.
_NOT_YAML_PRINTABLE = re.compile(
    "[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x84\x86-\x9f\ud800-\udfff\ufffe\uffff]"
)
# Header values are single-line: a line break would end the scalar.
_LINE_BREAKS = re.compile("[\r\n\x85\u2028\u2029]+")
# Hexo renders posts through Nunjucks: a raw "{{" or "{%" anywhere in the file breaks
# the site or injects template code, so every brace is written as an entity.
_BRACES = str.maketrans({"{": "&#123;", "}": "&#125;"})


def escape_braces(text: str) -> str:
    """``{`` and ``}`` as ``&#123;`` and ``&#125;``, which browsers show as braces."""
    return text.translate(_BRACES)


def header_value(value: str) -> str:
    """A header value made safe to write: one line, YAML-printable, no raw braces."""
    value = _NOT_YAML_PRINTABLE.sub("", value)
    return escape_braces(_LINE_BREAKS.sub(" ", value))


def quote_title(title: str) -> str:
    """The title as the source generator quotes it, always valid YAML.

    ``'…'`` normally; ``"…"`` when the title has a ``'`` (what the generator of the
    seed's corpus does), unless a ``"`` or ``\\`` would make that invalid or change
    the value; then a single-quoted scalar with ``'`` doubled.
    """
    if "'" not in title:
        return f"'{title}'"
    if '"' not in title and "\\" not in title:
        return f'"{title}"'
    return single_quoted(title)


def single_quoted(value: str) -> str:
    """A YAML single-quoted scalar: the only escape is ``''`` for ``'``."""
    return "'" + value.replace("'", "''") + "'"


@lru_cache(maxsize=256)
def plain_or_quoted(value: str) -> str:
    """``value`` as a plain scalar where YAML reads it back unchanged, else quoted.

    Categories and author are plain in the seed (``- 金融``); a value such as
    ``true``, ``2015-10-11`` or ``a: b`` would read back as something else.
    """
    try:
        if value == value.strip() and yaml.safe_load(f"k: {value}") == {"k": value}:
            return value
    except yaml.YAMLError:
        pass
    return single_quoted(value)


#: The optional header keys (``ARCHIVE_EXTRA_FIELDS``), after ``thumbnail`` in the
#: setting's order, and the article field each writes: Hexo's ``tags`` (a list),
#: the original outlet, the page's URL.
EXTRA_FIELDS = {"tags": "keywords", "source": "outlet", "original_url": "url"}


def check_extra_fields(names: Iterable[str]) -> tuple[str, ...]:
    """``ARCHIVE_EXTRA_FIELDS`` as a tuple; ValueError names what is wrong."""
    found = tuple(str(name).strip() for name in names if str(name).strip())
    unknown = [name for name in found if name not in EXTRA_FIELDS]
    if unknown:
        raise ValueError(
            f"ARCHIVE_EXTRA_FIELDS: unknown field(s) {', '.join(unknown)}; the known"
            f" ones are {', '.join(EXTRA_FIELDS)}"
        )
    if len(set(found)) != len(found):
        raise ValueError(f"ARCHIVE_EXTRA_FIELDS: a field twice ({', '.join(found)})")
    return found


def extra_lines(extra: Sequence[tuple[str, str | Sequence[str]]]) -> list[str]:
    """The header lines of the extra fields, every value single-quoted.

    Always quoted, never plain: js-yaml (Hexo) reads YAML 1.2, PyYAML 1.1, and
    plain scalars such as ``no``, ``0o17`` or ``1_000`` are a string in one and not
    in the other; a single-quoted scalar is a string in both, its only escape ``''``.
    Values are single lines (``header_value``), so no scalar folds.
    """
    lines = []
    for name, value in extra:
        if isinstance(value, str):
            lines.append(f"{name}: {single_quoted(header_value(value))}")
        elif not value:
            lines.append(f"{name}: []")
        else:
            lines.append(f"{name}:")
            lines += [f" - {single_quoted(header_value(item))}" for item in value]
    return lines


def format_article(
    *,
    title: str,
    categories: Sequence[str],
    image: str,
    author: str,
    published: datetime,
    body: str,
    extra: Sequence[tuple[str, str | Sequence[str]]] = (),
) -> str:
    """The whole archive file for one article, exactly in the seed's shape;
    ``extra`` fields (``ARCHIVE_EXTRA_FIELDS``) after ``thumbnail``, in order."""
    image_value = single_quoted(header_value(image))
    lines = [
        "",
        "---",
        f"title: {quote_title(header_value(title))}",
        "categories: ",
        *(f" - {plain_or_quoted(header_value(c))}" for c in categories),
        f"headimg: {image_value}",
        f"author: {plain_or_quoted(header_value(author))}",
        "comments: false",
        f"date: {rfc1123(published)}",
        f"thumbnail: {image_value}",
        *extra_lines(extra),
        "---",
        "",
        "<div>   ",
        f"{escape_braces(body)}  ",
        "</div>",
        "            ",
    ]
    return "\n".join(lines)


class FormatError(ValueError):
    """Bytes that are not an archive file in FORMAT.md's shape."""


_HEADER_KEYS = [
    "title",
    "categories",
    "headimg",
    "author",
    "comments",
    "date",
    "thumbnail",
]
_OPENING = "\n---\n"
_BODY_OPEN = "\n---\n\n<div>   \n"
_CLOSING = "  \n</div>\n            "


def read_article(data: bytes) -> tuple[dict[str, Any], str]:
    """``(header, body)`` of an archive file; FormatError says what is wrong.

    The inverse of ``format_article``: what ``verify`` and ``reindex`` use to read
    the archive back.
    """
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise FormatError(f"not UTF-8 ({exc})") from exc
    if not text.startswith(_OPENING) or not text.endswith(_CLOSING):
        raise FormatError("not the archive skeleton (opening or closing lines)")
    split = text.find(_BODY_OPEN, len(_OPENING))
    if split < 0:
        raise FormatError("no end of the header followed by the body's <div>")
    if "{" in text or "}" in text:
        raise FormatError("raw braces (must be &#123; / &#125;)")
    try:
        header = yaml.safe_load(text[len(_OPENING) : split])
    except yaml.YAMLError as exc:
        raise FormatError(f"header is not valid YAML ({exc})") from exc
    if not isinstance(header, dict) or not _known_keys(list(header)):
        raise FormatError(
            f"header keys are not {', '.join(_HEADER_KEYS)}"
            f" (then any of {', '.join(EXTRA_FIELDS)})"
        )
    return header, text[split + len(_BODY_OPEN) : -len(_CLOSING)]


def _known_keys(keys: list[Any]) -> bool:
    extra = keys[len(_HEADER_KEYS) :]
    return (
        keys[: len(_HEADER_KEYS)] == _HEADER_KEYS
        and all(key in EXTRA_FIELDS for key in extra)
        and len(set(extra)) == len(extra)
    )


def read_body(data: bytes) -> str | None:
    """The body of an archive file, without reading its header (the export reads
    100,000 files: YAML costs more than the rest); None if not in the skeleton."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return None
    if not text.startswith(_OPENING) or not text.endswith(_CLOSING):
        return None
    split = text.find(_BODY_OPEN, len(_OPENING))
    if split < 0:
        return None
    return text[split + len(_BODY_OPEN) : -len(_CLOSING)]
