"""Feed times, ISO meta instants and visible Beijing dates."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from newscrawl.sina.dates import (
    beijing_day,
    from_iso,
    from_plain_beijing,
    from_unix,
    from_visible,
    plausible,
    rfc1123,
)

SEED_INSTANT = datetime(2021, 4, 20, 11, 51, 38, tzinfo=UTC)


@pytest.mark.parametrize("value", ["1618919498", 1618919498, " 1618919498 "])
def test_feed_times_as_strings_or_ints(value: object) -> None:
    assert from_unix(value) == SEED_INSTANT


@pytest.mark.parametrize("value", ["garbage", "", None, True, 1.5e9, "-5", 10**20, [1]])
def test_garbage_feed_times(value: object) -> None:
    assert from_unix(value) is None


def test_seed_instant_forms() -> None:
    assert rfc1123(SEED_INSTANT) == "Tue, 20 Apr 2021 11:51:38 GMT"
    assert from_iso("2021-04-20T19:51:38+08:00") == SEED_INSTANT
    assert from_plain_beijing("2021-04-20 19:51:38") == SEED_INSTANT
    assert from_visible("2021年04月20日 19:51") == datetime(
        2021, 4, 20, 11, 51, tzinfo=UTC
    )
    assert from_visible("2009年11月09日13:48") == datetime(
        2009, 11, 9, 5, 48, tzinfo=UTC
    )
    assert from_iso("not a date") is None
    assert from_visible("2021年13月40日 19:51") is None


def test_beijing_day_is_the_file_name_date() -> None:
    # 16:30 UTC is already the next day in Beijing.
    assert beijing_day(datetime(2021, 4, 20, 16, 30, tzinfo=UTC)) == "2021-04-21"


def test_plausible() -> None:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    assert plausible(SEED_INSTANT, now)
    assert not plausible(datetime(1989, 12, 31, tzinfo=UTC), now)
    assert not plausible(datetime(2026, 1, 3, tzinfo=UTC), now)
