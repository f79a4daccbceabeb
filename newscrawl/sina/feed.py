"""The roll feed (``feed.mix.sina.com.cn/api/roll/get``): its URLs and its pages."""

from __future__ import annotations

import json
import re
from collections import Counter
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any
from urllib.parse import urlencode, urlsplit

from newscrawl.sina.dates import BEIJING, from_unix
from newscrawl.sina.ids import doc_id_from_url, host_allowed, is_article_url

#: The feed answers at most this many items a page, whatever ``num`` asks.
MAX_NUM = 50

# With ?callback=cb the feed answers JSONP: "cb({...});", sometimes after a
# "try{" prologue that some Sina endpoints add.
_JSONP = re.compile(
    r"^[\s;]*(?:try\s*\{\s*)?[\w$.]+\s*\((.*)\)\s*;?\s*(?:\}.*)?$", re.S
)


class FeedError(ValueError):
    """The feed answered something that is not a usable page of items."""


@dataclass(frozen=True, slots=True)
class FeedEntry:
    """One feed item: an article to fetch, with the feed's own times."""

    url: str
    doc_id: str
    title: str
    intime_raw: str
    intime: datetime | None
    mtime: int | None
    media_name: str = ""


@dataclass(slots=True)
class FeedPage:
    """A parsed feed page: usable entries, the channel's total, what was rejected."""

    entries: list[FeedEntry]
    total: int | None
    rejected: Counter[str] = field(default_factory=Counter)


def feed_url(
    endpoint: str, pageid: int, lid: int, page: int, num: int = MAX_NUM
) -> str:
    """The URL of one feed page, newest items first."""
    query = {
        "pageid": pageid,
        "lid": lid,
        "k": "",
        "num": min(max(num, 1), MAX_NUM),
        "page": max(page, 1),
        "encode": "utf-8",
    }
    return f"{endpoint}?{urlencode(query)}"


def window_url(
    endpoint: str, pageid: int, lid: int, day: date, page: int, num: int = MAX_NUM
) -> str:
    """The URL of one page of the feed's date window of ``day`` (a Beijing day).

    Known from public crawlers, not from Sina's documentation: ``etime`` is the
    window's start, ``stime`` and ``ctime`` its end (Unix seconds), ``date`` the day;
    ``total`` is then the window's count. Check what it returns (``outside``).
    """
    start, end = day_window(day)
    query = {
        "pageid": pageid,
        "lid": lid,
        "etime": start,
        "stime": end,
        "ctime": end,
        "date": day.isoformat(),
        "k": "",
        "num": min(max(num, 1), MAX_NUM),
        "page": max(page, 1),
        "encode": "utf-8",
    }
    return f"{endpoint}?{urlencode(query)}"


def day_window(day: date) -> tuple[int, int]:
    """(start, end) of a Beijing day in Unix seconds: midnight to next midnight."""
    start = datetime(day.year, day.month, day.day, tzinfo=BEIJING)
    return int(start.timestamp()), int((start + timedelta(days=1)).timestamp())


def outside(entries: list[FeedEntry], day: date) -> FeedEntry | None:
    """The first entry published outside ``day``'s window, if any (unknown: inside)."""
    start, end = day_window(day)
    for entry in entries:
        if entry.intime is not None and not start <= entry.intime.timestamp() < end:
            return entry
    return None


def parse_feed(text: str, hosts: frozenset[str]) -> FeedPage:
    """Parse one feed page (JSON or JSONP) into entries on the allowed ``hosts``.

    Raises FeedError when the page as a whole is unusable (not JSON, wrong shape,
    ``status.code`` other than 0); items that are unusable on their own are counted
    in ``rejected`` by reason and left out.
    """
    result = _envelope(_load_json(text))
    data = result.get("data")
    if not isinstance(data, list):
        raise FeedError("feed result has no 'data' list")
    page = FeedPage(entries=[], total=_int_or_none(result.get("total")))
    for raw in data:
        entry, reason = _entry(raw, hosts)
        if entry is None:
            page.rejected[reason] += 1
        else:
            page.entries.append(entry)
    return page


def _load_json(text: str) -> Any:
    stripped = text.strip().lstrip("\ufeff")
    if not stripped.startswith(("{", "[")):
        match = _JSONP.match(stripped)
        if match is None:
            raise FeedError(f"feed is neither JSON nor JSONP: {stripped[:60]!r}")
        stripped = match.group(1)
    try:
        return json.loads(stripped)
    except ValueError as exc:  # json.JSONDecodeError and RecursionError-free cases
        raise FeedError(f"feed is not valid JSON: {exc}") from exc


def _envelope(document: Any) -> dict[str, Any]:
    result = document.get("result") if isinstance(document, dict) else None
    if not isinstance(result, dict):
        raise FeedError("feed has no 'result' object")
    status = result.get("status")
    code = status.get("code") if isinstance(status, dict) else None
    if code not in (0, "0"):
        msg = status.get("msg") if isinstance(status, dict) else None
        raise FeedError(f"feed status code {code!r} ({msg!r})")
    return result


def _entry(raw: Any, hosts: frozenset[str]) -> tuple[FeedEntry | None, str]:
    if not isinstance(raw, dict):
        return None, "not_an_object"
    url = raw.get("url")
    if not isinstance(url, str) or not url.strip():
        return None, "missing_url"
    url = url.strip()
    wapurl = raw.get("wapurl")
    if (
        not is_article_url(url, hosts)
        and isinstance(wapurl, str)
        and is_article_url(wapurl.strip(), hosts)
    ):
        # Some items point their url at a list or video page and only their
        # mobile page at the article (finance.sina.cn/…/detail-i<id>.d.html).
        url = wapurl.strip()
    if not is_article_url(url, hosts):
        # The doc id becomes a file name: a URL without a safe one (../, %00, 300
        # characters) is refused here, whatever the item's own "docid" says.
        return None, _why_not_an_article(url, hosts)
    doc_id = doc_id_from_url(url)
    if doc_id is None:  # pragma: no cover - is_article_url checked it
        return None, "bad_doc_id"
    intime_raw = raw.get("intime")
    title = raw.get("title")
    media = raw.get("media_name")
    return (
        FeedEntry(
            url=url,
            doc_id=doc_id,
            title=title if isinstance(title, str) else "",
            intime_raw="" if intime_raw is None else str(intime_raw),
            intime=from_unix(intime_raw),
            mtime=_int_or_none(raw.get("mtime")),
            media_name=media if isinstance(media, str) else "",
        ),
        "",
    )


def _why_not_an_article(url: str, hosts: frozenset[str]) -> str:
    try:
        parts = urlsplit(url)
        hostname = parts.hostname
    except ValueError:  # an unbalanced "[" in the host, a bad port
        return "bad_url"
    if parts.scheme not in ("http", "https") or not hostname:
        return "bad_url"
    if not host_allowed(hostname, hosts):
        return "offsite_url"
    return "not_an_article_url"


def _int_or_none(value: object) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    return None
