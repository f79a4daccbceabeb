"""The runs log: one JSON line per run, so downstream tools can see what changed."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

from newscrawl.archive.files import fsync_dir
from newscrawl.archive.index import STATE_DIR

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
    fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o644)
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
    path.touch()
    fsync_dir(path.parent)
    return interrupted


def end_crawl(archive_root: Path) -> None:
    """The crawl ended normally: the next one need not make up for it."""
    (archive_root / STATE_DIR / UNFINISHED_NAME).unlink(missing_ok=True)


def read_runs(archive_root: Path) -> Iterator[dict[str, Any]]:
    """Every complete run record, oldest first."""
    path = runs_path(archive_root)
    if not path.exists():
        return
    with path.open(encoding="utf-8") as lines:
        for line in lines:
            try:
                record = json.loads(line)
            except ValueError:
                continue  # a line torn by a crash
            if isinstance(record, dict):
                yield record


def changes_since(archive_root: Path, since: str) -> list[dict[str, Any]]:
    """Paths created or updated by the runs after ``since``, last change first wins.

    ``since`` is a run id (changes of the runs after it) or an ISO 8601 time
    (changes of the runs that ended after it).
    """
    runs = list(read_runs(archive_root))
    ids = [r.get("run") for r in runs]
    if since in ids:
        later = runs[ids.index(since) + 1 :]
    else:
        moment = _instant(since)
        later = [r for r in runs if _instant(str(r.get("end", ""))) > moment]
    latest: dict[str, dict[str, Any]] = {}
    for run in later:
        for change in ("created", "updated"):
            for path in run.get(change, []):
                kind = (
                    "created"
                    if path in latest and latest[path]["change"] == "created"
                    else change
                )
                latest[path] = {
                    "path": path,
                    "change": kind,
                    "run": run.get("run"),
                    "at": run.get("end"),
                }
    return list(latest.values())


def _instant(value: str) -> datetime:
    try:
        moment = datetime.fromisoformat(value)
    except ValueError as exc:
        raise ValueError(f"{value!r} is neither a run id nor an ISO 8601 time") from exc
    if moment.tzinfo is None:
        raise ValueError(f"{value!r} needs a time zone, e.g. {value}+08:00 or {value}Z")
    return moment
