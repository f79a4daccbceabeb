"""Sina's dates: feed Unix times, ISO meta instants and visible Beijing-time dates."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone
from email.utils import formatdate

#: Sina writes every visible date in Beijing time (UTC+8, no daylight saving).
BEIJING = timezone(timedelta(hours=8), "Asia/Shanghai")

# No Sina article predates 1990; a date before it is a parsing accident.
EARLIEST = datetime(1990, 1, 1, tzinfo=UTC)
# A little slack for clock skew between Sina's servers and ours.
FUTURE_SLACK = timedelta(days=1)

# "2018年12月28日 19:55" (2016+ pages), "2009年11月09日13:48" (old pages).
_VISIBLE = re.compile(
    r"(\d{4})\s*年\s*(\d{1,2})\s*月\s*(\d{1,2})\s*日\s*(\d{1,2})\s*[:：]\s*(\d{2})"
)
# "2021-04-20 19:51:38" (meta weibo: article:create_at / update_at).
_PLAIN = re.compile(r"^(\d{4})-(\d{2})-(\d{2})[ T](\d{2}):(\d{2})(?::(\d{2}))?$")


def plausible(instant: datetime, now: datetime | None = None) -> bool:
    """Whether ``instant`` can be a publication time: after 1990, not in the future."""
    now = now or datetime.now(UTC)
    return EARLIEST <= instant <= now + FUTURE_SLACK


def from_unix(value: object) -> datetime | None:
    """A feed time (Unix seconds as int or string, e.g. ``"1618919498"``) as UTC."""
    if isinstance(value, bool):
        return None
    if isinstance(value, str):
        value = value.strip()
        if not value.isdigit():
            return None
        value = int(value)
    if not isinstance(value, int):
        return None
    try:
        return datetime.fromtimestamp(value, UTC)
    except (OverflowError, OSError, ValueError):
        return None


def from_iso(value: str) -> datetime | None:
    """An ISO instant with offset (``2018-12-28T19:56:29+08:00``); naive = Beijing."""
    try:
        instant = datetime.fromisoformat(value.strip())
    except ValueError:
        return None
    if instant.tzinfo is None:
        instant = instant.replace(tzinfo=BEIJING)
    return instant.astimezone(UTC)


def from_plain_beijing(value: str) -> datetime | None:
    """A ``2021-04-20 19:51:38`` Beijing time (Sina's weibo meta tags) as UTC."""
    match = _PLAIN.match(value.strip())
    if match is None:
        return None
    year, month, day, hour, minute = (int(g) for g in match.groups()[:5])
    second = int(match.group(6) or 0)
    return _beijing(year, month, day, hour, minute, second)


def from_visible(text: str) -> datetime | None:
    """The visible ``2018年12月28日 19:55`` Beijing date of a page as UTC."""
    match = _VISIBLE.search(text)
    if match is None:
        return None
    year, month, day, hour, minute = (int(g) for g in match.groups())
    return _beijing(year, month, day, hour, minute, 0)


def _beijing(
    year: int, month: int, day: int, hour: int, minute: int, second: int
) -> datetime | None:
    try:
        local = datetime(year, month, day, hour, minute, second, tzinfo=BEIJING)
    except ValueError:
        return None
    return local.astimezone(UTC)


def rfc1123(instant: datetime) -> str:
    """The archive's date form: ``Tue, 20 Apr 2021 11:51:38 GMT``."""
    return formatdate(instant.timestamp(), usegmt=True)


def beijing_day(instant: datetime) -> str:
    """The Beijing calendar day of ``instant`` as ``YYYY-MM-DD`` (for file names)."""
    return instant.astimezone(BEIJING).strftime("%Y-%m-%d")
