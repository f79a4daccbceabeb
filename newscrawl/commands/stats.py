"""``scrapy stats``: archived articles per day and per channel."""

from __future__ import annotations

import sqlite3
from collections import Counter
from typing import TYPE_CHECKING

from newscrawl.archive.index import ArchiveIndex, IndexUnusableError
from newscrawl.archive_command import ArchiveCommand

if TYPE_CHECKING:
    import argparse


class Command(ArchiveCommand):
    """Counts the archive's articles by publication day and by channel folder."""

    def short_desc(self) -> str:
        return "Count archived articles per day and per channel"

    def run(self, args: list[str], opts: argparse.Namespace) -> None:
        try:
            index = ArchiveIndex.for_archive(self.archive, create=False)
        except IndexUnusableError as exc:
            self.say(f"newscrawl: {exc}")
            self.exitcode = 1
            return
        days: Counter[str] = Counter()
        channels: Counter[str] = Counter()
        try:
            for row in index.rows():
                if not row.archived:
                    continue
                folder, _, name = row.path.rpartition("/")
                channels[folder] += 1
                days[name[:10]] += 1  # FORMAT.md names start with YYYY-MM-DD
        except sqlite3.DatabaseError as exc:
            # A damaged page inside the file: SQLite opens it, reading it fails.
            self.say(
                f"newscrawl: the index {index.path} is damaged ({exc});"
                " run `scrapy reindex` to rebuild it"
            )
            self.exitcode = 1
            return
        finally:
            index.close()
        print("per channel:")
        for channel, count in sorted(channels.items()):
            print(f"  {count:8d}  {channel}")
        print("per day:")
        for day, count in sorted(days.items()):
            print(f"  {count:8d}  {day}")
        print(f"total: {sum(channels.values())} articles")
