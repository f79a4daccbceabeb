"""The runs log: one JSON line per run; what changed since a run or a time."""

from __future__ import annotations

import json
from datetime import UTC
from pathlib import Path
from typing import Any

import pytest

from newscrawl.archive.runlog import (
    append_run,
    end_crawl,
    instant,
    read_runs,
    run_end,
    runs_path,
    start_crawl,
)


def run(n: int, created: list[str], updated: list[str] = []) -> dict[str, Any]:  # noqa: B006
    """A run record as RunOutcome writes it, ending at 08:0n UTC."""
    return {
        "run": f"20261128T080{n}00000000Z-{1000 + n}",
        "start": f"2026-11-28T08:0{n}:00+00:00",
        "end": f"2026-11-28T08:0{n}:30+00:00",
        "exit_status": 0,
        "finish_reason": "finished",
        "counts": {"new": len(created), "updated": len(updated)},
        "created": created,
        "updated": updated,
    }


@pytest.fixture
def three_runs(tmp_path: Path) -> Path:
    append_run(tmp_path, run(1, ["a.md", "b.md"]))
    append_run(tmp_path, run(2, ["c.md"], ["a.md"]))
    append_run(tmp_path, run(3, ["d.md"], ["c.md", "b.md"]))
    return tmp_path


def test_records_come_back_in_order(three_runs: Path) -> None:
    assert list(read_runs(three_runs)) == [
        run(1, ["a.md", "b.md"]),
        run(2, ["c.md"], ["a.md"]),
        run(3, ["d.md"], ["c.md", "b.md"]),
    ]
    lines = runs_path(three_runs).read_text("utf-8").splitlines()
    assert len(lines) == 3
    assert json.loads(lines[0])["run"] == run(1, [])["run"]


def test_no_log_no_runs(tmp_path: Path) -> None:
    assert list(read_runs(tmp_path)) == []


def test_a_torn_line_is_skipped(three_runs: Path) -> None:
    with runs_path(three_runs).open("a", encoding="utf-8") as log:
        log.write('[1, 2]\n{"run": "torn", "crea')
    assert [r["run"] for r in read_runs(three_runs)] == [
        run(n, [])["run"] for n in (1, 2, 3)
    ]
    # The next record starts on a line of its own and is read.
    append_run(three_runs, run(4, ["e.md"]))
    assert [r["run"] for r in read_runs(three_runs)][-1] == run(4, [])["run"]


def test_non_ascii_paths_are_kept(tmp_path: Path) -> None:
    append_run(tmp_path, run(1, ["金融/新浪财经/新浪财经－国內/x.md"]))
    assert "金融" in runs_path(tmp_path).read_text("utf-8")
    assert next(read_runs(tmp_path))["created"] == ["金融/新浪财经/新浪财经－国內/x.md"]


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2026-11-28T16:01:30+08:00", "2026-11-28T08:01:30+00:00"),
        ("2026-11-28T08:02:31Z", "2026-11-28T08:02:31+00:00"),
        # A plain date is a Beijing day, from its midnight.
        ("2026-11-28", "2026-11-27T16:00:00+00:00"),
    ],
)
def test_instants_the_user_may_give(value: str, expected: str) -> None:
    assert instant(value).astimezone(UTC).isoformat() == expected


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("yesterday", "neither a run id nor a time"),
        ("2026-11-28T08:00:00", "needs a time zone"),
    ],
)
def test_a_bad_instant_says_what_works(value: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        instant(value)


def test_the_end_of_a_run(three_runs: Path) -> None:
    assert run_end(three_runs, run(2, [])["run"]) == run(2, [])["end"]
    assert run_end(three_runs, "no-such-run") is None


def test_an_unfinished_crawl_is_noticed_by_the_next(tmp_path: Path) -> None:
    assert start_crawl(tmp_path) is False
    # Killed here: no end_crawl.
    assert start_crawl(tmp_path) is True
    end_crawl(tmp_path)
    assert start_crawl(tmp_path) is False
    end_crawl(tmp_path)
    assert sorted(p.name for p in (tmp_path / ".newscrawl").iterdir()) == []
