"""The runs log: one JSON line per run, so downstream tools can see what changed."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from newscrawl.archive.files import STATE_DIR, fsync_dir

BEIJING = timezone(timedelta(hours=8))

RUNS_NAME = "runs.jsonl"
#: Present while a crawl runs; a crawl killed before its end leaves it behind.
UNFINISHED_NAME = "crawl.unfinished"


def runs_path(archive_root: Path) -> Path:
    """Where the runs log of the archive at ``archive_root`` lives."""
    return archive_root / STATE_DIR / RUNS_NAME


def append_run(archive_root: Path, record: dict[str, Any]) -> None:
    """Append ``record`` as one line, durably.

    A single ``write`` of a line opened with O_APPEND lands whole or (after a
    crash) as a torn last line, which ``read_runs`` skips.
    """
    path = runs_path(archive_root)
    path.parent.mkdir(parents=True, exist_ok=True)
    line = json.dumps(record, ensure_ascii=False, sort_keys=True) + "\n"
    # Never through a link: the log is the archive's, not wherever a link points.
    fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW, 0o644)
    try:
        size = os.fstat(fd).st_size
        if size and os.pread(fd, 1, size - 1) != b"\n":
            # A torn last line: ours must not be glued to it and lost with it.
            line = "\n" + line
        os.write(fd, line.encode("utf-8"))
        os.fsync(fd)
    finally:
        os.close(fd)


def start_crawl(archive_root: Path) -> bool:
    """Note that a crawl is under way; return whether an earlier one never ended."""
    path = archive_root / STATE_DIR / UNFINISHED_NAME
    interrupted = path.exists()
    path.parent.mkdir(parents=True, exist_ok=True)
    os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_NOFOLLOW, 0o644))
    fsync_dir(path.parent)
    return interrupted


def end_crawl(archive_root: Path) -> None:
    """The crawl ended normally: the next one need not make up for it."""
    (archive_root / STATE_DIR / UNFINISHED_NAME).unlink(missing_ok=True)


def read_runs(archive_root: Path) -> Iterator[dict[str, Any]]:
    """Every complete run record, oldest first."""
    path = runs_path(archive_root)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    except FileNotFoundError:
        return
    with open(fd, encoding="utf-8") as lines:
        for line in lines:
            try:
                record = json.loads(line)
            except ValueError:
                continue  # a line torn by a crash
            if isinstance(record, dict):
                yield record


def run_end(archive_root: Path, run: str) -> str | None:
    """When the run ``run`` ended, by the runs log; None if it has no line there."""
    for record in read_runs(archive_root):
        if record.get("run") == run:
            return str(record.get("end", ""))
    return None


def instant(value: str) -> datetime:
    """A time given by the user: ISO 8601 with a zone, or a plain date (a Beijing
    day, from its midnight); ValueError says which forms work."""
    try:
        moment = datetime.fromisoformat(value)
    except ValueError as exc:
        raise ValueError(
            f"{value!r} is neither a run id nor a time: give a run id from the runs"
            " log, a date such as 2026-01-01 (Beijing), or a time such as"
            " 2026-01-01T08:00:00+08:00"
        ) from exc
    if moment.tzinfo is None:
        if len(value) == 10:  # a plain date: the Beijing day it names
            return moment.replace(tzinfo=BEIJING)
        raise ValueError(f"{value!r} needs a time zone, e.g. {value}+08:00 or {value}Z")
    return moment
