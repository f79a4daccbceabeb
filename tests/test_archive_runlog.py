"""The runs log: one JSON line per run; what changed since a run or a time."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from newscrawl.archive.runlog import (
    append_run,
    changes_since,
    end_crawl,
    read_runs,
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
    assert changes_since(tmp_path, "2026-11-28T00:00:00Z") == []


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


def change(path: str, kind: str, n: int) -> dict[str, Any]:
    return {
        "path": path,
        "change": kind,
        "run": run(n, [])["run"],
        "at": run(n, [])["end"],
    }


def test_changes_since_a_run(three_runs: Path) -> None:
    assert changes_since(three_runs, run(1, [])["run"]) == [
        # Last change wins, but a path created since stays "created".
        change("c.md", "created", 3),
        change("a.md", "updated", 2),
        change("d.md", "created", 3),
        change("b.md", "updated", 3),
    ]
    assert changes_since(three_runs, run(2, [])["run"]) == [
        change("d.md", "created", 3),
        change("c.md", "updated", 3),
        change("b.md", "updated", 3),
    ]
    assert changes_since(three_runs, run(3, [])["run"]) == []


ALL = [
    change("a.md", "created", 2),
    change("b.md", "created", 3),
    change("c.md", "created", 3),
    change("d.md", "created", 3),
]
SINCE_2 = [
    change("c.md", "created", 3),
    change("a.md", "updated", 2),
    change("d.md", "created", 3),
    change("b.md", "updated", 3),
]
SINCE_3 = [
    change("d.md", "created", 3),
    change("c.md", "updated", 3),
    change("b.md", "updated", 3),
]


@pytest.mark.parametrize(
    ("since", "expected"),
    [
        ("2026-11-28T08:00:00+00:00", ALL),
        # Beijing time: 16:01:30+08:00 is when run 1 ended; later runs only.
        ("2026-11-28T16:01:30+08:00", SINCE_2),
        ("2026-11-28T08:02:31Z", SINCE_3),
        ("2026-11-28T08:03:30+00:00", []),
    ],
)
def test_changes_since_a_time(
    three_runs: Path, since: str, expected: list[dict[str, Any]]
) -> None:
    assert changes_since(three_runs, since) == expected


@pytest.mark.parametrize(
    ("since", "message"),
    [
        ("yesterday", "neither a run id nor an ISO 8601 time"),
        ("20991128T080100000000Z-1", "neither a run id nor an ISO 8601 time"),
        ("2026-11-28T08:00:00", "needs a time zone"),
    ],
)
def test_a_bad_since_says_what_it_wants(
    three_runs: Path, since: str, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        changes_since(three_runs, since)


def test_an_unfinished_crawl_is_noticed_by_the_next(tmp_path: Path) -> None:
    assert start_crawl(tmp_path) is False
    # Killed here: no end_crawl.
    assert start_crawl(tmp_path) is True
    end_crawl(tmp_path)
    assert start_crawl(tmp_path) is False
    end_crawl(tmp_path)
    assert sorted(p.name for p in (tmp_path / ".newscrawl").iterdir()) == []
