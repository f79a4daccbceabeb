"""Hand-over messages between workers and the writer: compressed JSON, exact values.

Two kinds: an ``item`` (an Article, every field, so that the writer's exporter writes
the same bytes a single-machine run would) and a ``seen`` note (an archived article
whose index row had no feed mtime adopts the feed's, as the single-machine crawl
does in its index). JSON rather than pickle: reading a message runs no code.
"""

from __future__ import annotations

import json
import zlib
from dataclasses import dataclass, fields
from datetime import datetime, timezone
from typing import Any

from itemadapter import ItemAdapter

from newscrawl.items import Article

VERSION = 1

_FIELDS = fields(Article)
# Article's annotations are strings (``from __future__ import annotations``).
_DATETIMES = frozenset(f.name for f in _FIELDS if "datetime" in str(f.type))
_TUPLES = frozenset(f.name for f in _FIELDS if str(f.type).startswith("tuple"))


class MessageError(ValueError):
    """A hand-over that cannot be read as a message of this version."""


@dataclass(frozen=True, slots=True)
class Seen:
    """An archived article the feed lists with a mtime its index row lacks."""

    doc_id: str
    url: str
    feed_mtime: int


def encode_item(item: Any) -> bytes:
    """The message that hands ``item`` (an Article) over to the writer."""
    adapter = ItemAdapter(item)
    values = {f.name: _plain(adapter.get(f.name)) for f in _FIELDS}
    return _pack({"v": VERSION, "kind": "item", "item": values})


def encode_seen(seen: Seen) -> bytes:
    """The message that tells the writer to adopt a feed mtime."""
    values = {"doc_id": seen.doc_id, "url": seen.url, "feed_mtime": seen.feed_mtime}
    return _pack({"v": VERSION, "kind": "seen", "seen": values})


def decode(data: bytes) -> Article | Seen:
    """The Article or Seen note of a message; MessageError if it is not one."""
    try:
        message = json.loads(zlib.decompress(data))
        if message.get("v") != VERSION:
            raise MessageError(f"message version {message.get('v')!r}, not {VERSION}")
        if message["kind"] == "seen":
            return Seen(**message["seen"])
        if message["kind"] != "item":
            raise MessageError(f"unknown message kind {message['kind']!r}")
        values = message["item"]
        for name in _DATETIMES:
            values[name] = _datetime(values[name])
        for name in _TUPLES:
            values[name] = tuple(values[name])
        return Article(**values)
    except (zlib.error, ValueError, KeyError, TypeError, AttributeError) as exc:
        if isinstance(exc, MessageError):
            raise
        raise MessageError(f"unreadable hand-over message ({exc!r})") from exc


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


def _datetime(value: dict[str, Any] | None) -> datetime | None:
    if value is None:
        return None
    moment = datetime.fromisoformat(value["iso"])
    offset = moment.utcoffset()
    if offset is not None and value["tz"] != moment.tzname():
        moment = moment.replace(tzinfo=timezone(offset, value["tz"]))
    return moment
