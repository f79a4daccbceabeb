"""``scrapy reindex``: rebuild the archive's index from its files alone."""

from __future__ import annotations

import sqlite3
from typing import TYPE_CHECKING

from newscrawl.archive.check import rebuild_rows, temp_files
from newscrawl.archive.index import ArchiveIndex, IndexUnusableError, index_path
from newscrawl.archive.lock import ArchiveLock, ArchiveLockedError
from newscrawl.archive_command import ArchiveCommand
from newscrawl.extensions import ExitStatus

if TYPE_CHECKING:
    import argparse
    from pathlib import Path

    from newscrawl.archive.index import IndexRow


class Command(ArchiveCommand):
    """Rebuilds the index from the files (the doc id is in each file name)."""

    def short_desc(self) -> str:
        return "Rebuild the archive's index from its files"

    def run(self, args: list[str], opts: argparse.Namespace) -> None:
        lock = ArchiveLock(self.archive)
        try:
            lock.acquire()
        except ArchiveLockedError as exc:
            self.say(f"newscrawl: {exc}; not reindexing now")
            self.exitcode = int(ExitStatus.LOCKED)
            return
        try:
            self.exitcode = self.reindex()
        finally:
            lock.release()

    def reindex(self) -> int:
        rows, report = rebuild_rows(self.archive, self.progress)
        for problem in report.problems:
            print(problem)
        path = index_path(self.archive)
        try:
            count = _replace_rows(path, rows)
        except (IndexUnusableError, sqlite3.DatabaseError):
            # A damaged index is what reindex is for: start a new one beside it
            # (its journals too: SQLite would replay them into the new one).
            damaged = path.with_name(path.name + ".damaged")
            for suffix in ("", "-wal", "-shm"):
                old = path.with_name(path.name + suffix)
                if old.exists():
                    old.replace(damaged.with_name(damaged.name + suffix))
            self.say(f"the damaged index was moved to {damaged}")
            count = _replace_rows(path, rows)
        for leftover in temp_files(self.archive):
            leftover.unlink()
        self.say(
            f"reindex: {count} articles indexed from {report.files} files,"
            f" {len(report.problems)} file(s) not indexed"
        )
        return 1 if report.problems else 0


def _replace_rows(path: Path, rows: list[IndexRow]) -> int:
    index = ArchiveIndex(path)
    try:
        return index.replace_all(rows)
    finally:
        index.close()
