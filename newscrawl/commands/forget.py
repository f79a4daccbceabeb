"""``scrapy forget <doc id> …``: drop articles from the archive on purpose."""

from __future__ import annotations

import sqlite3
from typing import TYPE_CHECKING

from scrapy.exceptions import UsageError

from newscrawl.archive.index import IndexUnusableError
from newscrawl.archive_command import ArchiveCommand
from newscrawl.extensions import ExitStatus

if TYPE_CHECKING:
    import argparse


class Command(ArchiveCommand):
    """Removes articles (file, index row, aliases); `changes` reports them removed.

    The way to accept a loss that ``verify`` reports (a row without its file), or
    to take an article out of the archive for good.
    """

    def syntax(self) -> str:
        return "<doc id> [<doc id> …]"

    def short_desc(self) -> str:
        return "Drop articles from the archive (file and index row), by doc id"

    def run(self, args: list[str], opts: argparse.Namespace) -> None:
        if not args:
            raise UsageError(
                "name at least one doc id, e.g. scrapy forget ikmvwzxq0000001"
            )
        if not self.require_archive():
            return
        lock = self.hold("forgetting")
        if lock is None:
            return
        owner = self.owner()
        try:
            unknown = 0
            for doc_id in args:
                row = owner.forget(doc_id)
                if row is None:
                    self.say(f"newscrawl: no article {doc_id} in {self.archive}")
                    unknown += 1
                else:
                    self.say(f"forgot {doc_id} ({row.path})")
            self.exitcode = 1 if unknown else 0
        except (OSError, sqlite3.Error, IndexUnusableError) as exc:
            self.say(f"newscrawl: cannot change the archive {self.archive}: {exc}")
            self.exitcode = int(ExitStatus.ARCHIVE_FAILED)
        finally:
            owner.close()
            lock.release()
