"""``scrapy stats``: archived articles per day and per channel."""

from __future__ import annotations

import sqlite3
from collections import Counter
from datetime import datetime
from typing import TYPE_CHECKING

from newscrawl.archive_command import ArchiveCommand
from newscrawl.extensions import ExitStatus
from newscrawl.sina.dates import beijing_day

if TYPE_CHECKING:
    import argparse


class Command(ArchiveCommand):
    """Counts the archive's articles by publication day and by channel folder."""

    def short_desc(self) -> str:
        return "Count archived articles per day and per channel"

    def run(self, args: list[str], opts: argparse.Namespace) -> None:
        index = self.open_index()
        if index is None:
            return
        rules = self.owner().rules
        days: Counter[str] = Counter()
        channels: Counter[str] = Counter()
        try:
            for row in index.rows():
                if not row.archived:
                    continue
                # What the path says, by ARCHIVE_PATH_TEMPLATE; else the row.
                fields = rules.parse(row.path)
                folder = "/".join(fields.categories) if fields else ""
                channels[folder or row.path.rpartition("/")[0]] += 1
                day = fields.date if fields and fields.date else None
                days[day or beijing_day_of(row.published)] += 1
        except sqlite3.DatabaseError as exc:
            # A damaged page inside the file: SQLite opens it, reading it fails.
            self.say(
                f"newscrawl: the index {index.path} is damaged ({exc});"
                " run `scrapy reindex` to rebuild it"
            )
            self.exitcode = int(ExitStatus.ARCHIVE_FAILED)
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


def beijing_day_of(published: str) -> str:
    """The Beijing day of an index row's ``published`` (ISO 8601, UTC)."""
    try:
        return beijing_day(datetime.fromisoformat(published))
    except ValueError:
        return "unknown"
