"""``scrapy reindex``: rebuild the archive's index from its files and the old index."""

from __future__ import annotations

import os
import sqlite3
from typing import TYPE_CHECKING

from newscrawl.archive.check import rebuild_rows, temp_files
from newscrawl.archive.files import fsync_dir
from newscrawl.archive.index import (
    ArchiveIndex,
    Change,
    IndexDamagedError,
    IndexRow,
    IndexUnusableError,
    Version,
    copy_days,
    copy_meta,
    index_path,
    write_index,
)
from newscrawl.archive_command import ArchiveCommand
from newscrawl.extensions import ExitStatus

if TYPE_CHECKING:
    import argparse
    from pathlib import Path

_SIDE_FILES = ("", "-wal", "-shm")


class Command(ArchiveCommand):
    """Rebuilds the index from the files (the doc id is in each path), keeping what
    only the old index knew; never leaves the archive worse than it found it."""

    def short_desc(self) -> str:
        return "Rebuild the archive's index from its files (and the old index)"

    def run(self, args: list[str], opts: argparse.Namespace) -> None:
        if not self.require_archive(files_will_do=True):
            return
        lock = self.hold("reindexing")
        if lock is None:
            return
        try:
            self.exitcode = self.reindex()
        except (OSError, sqlite3.Error, IndexUnusableError) as exc:
            # Nothing was swapped: the old index is as it was.
            self.say(f"newscrawl: reindex failed, the index is unchanged: {exc}")
            self.exitcode = int(ExitStatus.ARCHIVE_FAILED)
        finally:
            lock.release()

    def reindex(self) -> int:
        path = index_path(self.archive)
        old, changes, aliases, versions, damaged = self.read_old(path)
        owner = self.owner()
        rows, report = rebuild_rows(self.archive, owner.rules, old, self.progress)
        for problem in report.problems:
            print(problem)
        for note in report.notes:
            self.say(f"note: {note}")
        # Built beside the old index, swapped in only once whole.
        building = path.with_name(f".{path.name}.reindex")
        _remove(building)
        try:
            count = write_index(
                building, rows, changes, aliases, versions, report.metas
            )
            if not damaged and path.exists():
                copy_days(path, building)
                # What pages said outranks what the files say (index.py ``_meta``).
                copy_meta(path, building)
            if damaged:
                moved = path.with_name(path.name + ".damaged")
                for suffix in _SIDE_FILES:
                    side = path.with_name(path.name + suffix)
                    if side.exists():
                        side.replace(moved.with_name(moved.name + suffix))
                self.say(f"the damaged index was moved to {moved}")
            os.replace(building, path)
            fsync_dir(path.parent)
        finally:
            _remove(building)
        for leftover in temp_files(self.archive):
            leftover.unlink()
        self.say(
            f"reindex: {count} articles indexed from {report.files} files,"
            f" {len(report.problems)} file(s) not indexed"
        )
        return 1 if report.problems else 0

    def read_old(
        self, path: Path
    ) -> tuple[
        dict[str, IndexRow],
        list[Change],
        list[tuple[str, str, int | None]],
        list[Version],
        bool,
    ]:
        """The old index's rows, journal and aliases, and whether it is damaged.

        A damaged index gives nothing (and is moved aside); one that cannot be
        opened for another reason (a full disk) stops the reindex unchanged.
        """
        if not path.exists():
            return {}, [], [], [], False
        try:
            index = ArchiveIndex(path, create=False)
        except IndexDamagedError as exc:
            self.say(f"newscrawl: {exc}")
            return {}, [], [], [], True
        try:
            rows = {row.doc_id: row for row in index.rows()}
            return (
                rows,
                list(index.changes()),
                list(index.aliases()),
                list(index.versions()),
                False,
            )
        except sqlite3.DatabaseError as exc:
            name = getattr(exc, "sqlite_errorname", "") or ""
            if name.startswith("SQLITE_CORRUPT") or name == "SQLITE_NOTADB":
                self.say(f"newscrawl: the index {path} is damaged ({exc})")
                return {}, [], [], [], True
            raise
        finally:
            index.close()


def _remove(path: Path) -> None:
    for suffix in _SIDE_FILES:
        path.with_name(path.name + suffix).unlink(missing_ok=True)
