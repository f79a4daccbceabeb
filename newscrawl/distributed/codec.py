"""Hand-over messages between workers and the writer: compressed JSON, exact values.

Four kinds: an ``item`` (an Article, every field, so that the writer's exporter
writes the same bytes a single-machine run would); a ``seen`` note (an archived
article whose index row had no feed mtime adopts the feed's, as the single-machine
crawl does in its index); a ``fetch`` (a raw fetch no article carries: a feed
page, a redirect, an error answer, a page that gave no article; for the writer's
WARC capture); a ``withdrawn`` note (an archived
article's page answered 404 or 410: the writer marks it withdrawn, as the
single-machine crawl does). JSON rather than pickle: reading a message runs no code.
"""

from __future__ import annotations

import json
import zlib
from collections.abc import Callable
from dataclasses import dataclass, fields
from datetime import datetime, timezone
from typing import Any

from itemadapter import ItemAdapter

from newscrawl.archive.warc import Fetched, fetch_from_json
from newscrawl.items import Article
from newscrawl.text import plain_text, text_length

#: 2: the Article carries the page's metadata (original title, editor and code,
#: stocks, length; issue 13). Version 1 (workers of before) is still read, so that
#: hand-overs waiting in Redis across an upgrade are archived; any other version
#: is refused, with one line.
VERSION = 2
READABLE_VERSIONS = (1, VERSION)

#: The largest a message may grow when decompressed: a bomb is refused, not read.
MAX_MESSAGE = 64 * 1024 * 1024
#: The answers that make an archived article withdrawn (Sina took the page down).
WITHDRAWN_STATUSES = (404, 410)
#: The largest feed mtime the index (SQLite INTEGER) and the ``archived`` hash hold.
MAX_MTIME = 2**63 - 1

_FIELDS = fields(Article)
# Article's annotations are strings (``from __future__ import annotations``).
_TYPES = {f.name: str(f.type) for f in _FIELDS}


class MessageError(ValueError):
    """A hand-over that cannot be read as a message of this version."""


@dataclass(frozen=True, slots=True)
class Seen:
    """An archived article the feed lists with a mtime its index row lacks."""

    doc_id: str
    url: str
    feed_mtime: int


@dataclass(frozen=True, slots=True)
class PageFetch:
    """A raw fetch handed over on its own (one no article carries): the writer
    captures it."""

    fetched: Fetched
    metadata: dict[str, Any] | None


@dataclass(frozen=True, slots=True)
class Withdrawn:
    """An archived article whose page answered 404 or 410 on a worker, with that
    answer's raw fetch (None when capture is off)."""

    doc_id: str
    url: str
    status: int
    fetch: PageFetch | None = None


def encode_item(item: Any) -> bytes:
    """The message that hands ``item`` (an Article) over to the writer."""
    adapter = ItemAdapter(item)
    values = {f.name: _plain(adapter.get(f.name)) for f in _FIELDS}
    return _pack({"v": VERSION, "kind": "item", "item": values})


def encode_seen(seen: Seen) -> bytes:
    """The message that tells the writer to adopt a feed mtime."""
    values = {"doc_id": seen.doc_id, "url": seen.url, "feed_mtime": seen.feed_mtime}
    return _pack({"v": VERSION, "kind": "seen", "seen": values})


def encode_fetch(fetch: str) -> bytes:
    """The message that hands a raw fetch over (``fetch_to_json``'s text)."""
    return _pack({"v": VERSION, "kind": "fetch", "fetch": fetch})


def encode_withdrawn(doc_id: str, url: str, status: int, fetch: str | None) -> bytes:
    """The message that tells the writer an archived article's page answered
    ``status``; ``fetch``: that answer (``fetch_to_json``'s text), if captured."""
    values = {"doc_id": doc_id, "url": url, "status": status, "fetch": fetch}
    return _pack({"v": VERSION, "kind": "withdrawn", "withdrawn": values})


def decode(data: bytes) -> Article | Seen | PageFetch | Withdrawn:
    """What a message holds; MessageError if it is not a message.

    Every field is checked against its type (and the values the archive needs:
    a publication time, three categories, a feed mtime the index can hold), so
    that what reaches the writer's pipeline is an Article, not whatever a
    message said.
    """
    try:
        inflater = zlib.decompressobj()
        text = inflater.decompress(data, MAX_MESSAGE)
        if inflater.unconsumed_tail:
            raise MessageError(f"message larger than {MAX_MESSAGE} bytes")
        message = json.loads(text)
    except (zlib.error, ValueError, RecursionError) as exc:
        if isinstance(exc, MessageError):
            raise
        raise MessageError(f"unreadable hand-over message ({exc!r})") from exc
    version = message.get("v") if isinstance(message, dict) else None
    if not isinstance(message, dict) or version not in READABLE_VERSIONS:
        raise MessageError(f"message version {version!r}, not {VERSION}")
    kind = message.get("kind")
    if kind == "seen":
        values = _object(message.get("seen"), ("doc_id", "url", "feed_mtime"))
        return Seen(
            doc_id=_text("doc_id", values["doc_id"]),
            url=_text("url", values["url"]),
            feed_mtime=_mtime("feed_mtime", values["feed_mtime"]),
        )
    if kind == "fetch":
        return _fetch("fetch", message.get("fetch"))
    if kind == "withdrawn":
        values = _object(message.get("withdrawn"), ("doc_id", "url", "status", "fetch"))
        status = values["status"]
        if type(status) is not int or status not in WITHDRAWN_STATUSES:
            raise _wrong("status", status, "404 or 410")
        fetch = values["fetch"]
        return Withdrawn(
            doc_id=_text("doc_id", values["doc_id"]),
            url=_text("url", values["url"]),
            status=status,
            fetch=None if fetch is None else _fetch("fetch", fetch),
        )
    if kind != "item":
        raise MessageError(f"unknown message kind {kind!r}")
    item = message.get("item")
    if isinstance(item, dict) and version == 1:
        _from_version_1(item)
    values = _object(item, tuple(_TYPES))
    try:
        return Article(
            **{name: _READERS[_TYPES[name]](name, values[name]) for name in _TYPES}
        )
    except MessageError as exc:
        # Which article, so that the log line can be followed back to its page.
        url = values["url"]
        raise MessageError(f"{exc} ({url})" if isinstance(url, str) else exc) from None


def _from_version_1(item: dict[str, Any]) -> None:
    """A version 1 item as version 2 has it: without the page's raw body (which
    nothing reads since issue 14), with the metadata it did not carry unknown
    (empty) and its length counted from its cleaned body."""
    item.pop("body_raw", None)
    for name in ("original_title", "editor", "editor_code"):
        item.setdefault(name, "")
    item.setdefault("stocks", [])
    body = item.get("body")
    item.setdefault("length", text_length(plain_text(body)) if body else 0)


def _object(value: Any, names: tuple[str, ...]) -> dict[str, Any]:
    if not isinstance(value, dict) or set(value) != set(names):
        shown = sorted(value) if isinstance(value, dict) else type(value).__name__
        raise MessageError(f"message fields {shown}, not {sorted(names)}")
    return value


def _wrong(name: str, value: Any, wanted: str) -> MessageError:
    shown = repr(value)
    if len(shown) > 60:
        shown = shown[:57] + "..."
    return MessageError(f"field {name!r} is {shown}, not {wanted}")


def _text(name: str, value: Any) -> str:
    if not isinstance(value, str):
        raise _wrong(name, value, "a string")
    return value


def _text_or_none(name: str, value: Any) -> str | None:
    return None if value is None else _text(name, value)


def _texts(name: str, value: Any) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise _wrong(name, value, "a list of strings")
    return value


def _categories(name: str, value: Any) -> tuple[str, str, str]:
    if len(_texts(name, value)) != 3:
        raise _wrong(name, value, "three categories")
    return (value[0], value[1], value[2])


def _fetch(name: str, value: Any) -> PageFetch:
    try:
        fetched, metadata = fetch_from_json(_text(name, value))
    except ValueError as exc:
        if isinstance(exc, MessageError):
            raise
        raise MessageError(f"field {name!r}: {exc}") from None
    return PageFetch(fetched, metadata)


def _mtime(name: str, value: Any) -> int:
    # bool is an int to Python, not to JSON's writer: true is no mtime.
    if not isinstance(value, int) or isinstance(value, bool):
        raise _wrong(name, value, "a feed mtime (an integer)")
    if not 0 <= value <= MAX_MTIME:
        raise _wrong(name, value, f"a feed mtime from 0 to {MAX_MTIME}")
    return value


def _count(name: str, value: Any) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise _wrong(name, value, "a count (an integer, 0 or more)")
    return value


def _mtime_or_none(name: str, value: Any) -> int | None:
    return None if value is None else _mtime(name, value)


def _datetime(name: str, value: Any) -> datetime:
    if not isinstance(value, dict) or set(value) != {"iso", "tz"}:
        raise _wrong(name, value, "a date and time")
    iso, zone = value["iso"], value["tz"]
    if not isinstance(iso, str) or not isinstance(zone, str | None):
        raise _wrong(name, value, "a date and time")
    try:
        moment = datetime.fromisoformat(iso)
    except ValueError as exc:
        raise _wrong(name, value, "a date and time") from exc
    offset = moment.utcoffset()
    if offset is None:
        raise _wrong(name, value, "a date and time with its time zone")
    if zone is not None and zone != moment.tzname():
        moment = moment.replace(tzinfo=timezone(offset, zone))
    return moment


def _datetime_or_none(name: str, value: Any) -> datetime | None:
    if value is None and name not in _REQUIRED:
        return None
    return _datetime(name, value)


#: Fields whose type allows None but that the writer cannot archive without: the
#: day of the publication time is part of the article's path (workers drop an
#: article without one, ValidatePipeline).
_REQUIRED = frozenset({"published"})

#: How each annotation of Article is read back; a field of a new type fails here,
#: at import, rather than passing unchecked.
_READERS: dict[str, Callable[[str, Any], Any]] = {
    "str": _text,
    "str | None": _text_or_none,
    "list[str]": _texts,
    "tuple[str, str, str]": _categories,
    "datetime | None": _datetime_or_none,
    "int | None": _mtime_or_none,
    "int": _count,
}
_UNREAD = sorted(name for name, kind in _TYPES.items() if kind not in _READERS)
if _UNREAD:
    raise TypeError(f"codec.py does not know how to read Article fields {_UNREAD}")


def _pack(message: dict[str, Any]) -> bytes:
    # Level 1: a third of the size for a tenth of the time of level 9; the
    # raw body dominates an article and compresses well at any level.
    text = json.dumps(message, ensure_ascii=False, separators=(",", ":"))
    return zlib.compress(text.encode("utf-8"), 1)


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        # The zone's name too (Beijing's is "Asia/Shanghai"): the value comes back
        # equal in every respect, not only as the same instant.
        return {"iso": value.isoformat(), "tz": value.tzname()}
    if isinstance(value, tuple):
        return list(value)
    return value
