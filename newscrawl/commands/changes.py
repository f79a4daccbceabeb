"""``scrapy changes --since <run, date or time>``: what changed in the archive since."""

from __future__ import annotations

import json
import sqlite3
from typing import TYPE_CHECKING

from scrapy.exceptions import UsageError

from newscrawl.archive.changes import UnknownPointError, changes_since
from newscrawl.archive_command import ArchiveCommand
from newscrawl.extensions import ExitStatus

if TYPE_CHECKING:
    import argparse


class Command(ArchiveCommand):
    """Prints one JSON line per archive path created, updated, moved or removed."""

    def syntax(self) -> str:
        return "--since <run id | date | ISO 8601 time>"

    def short_desc(self) -> str:
        return (
            "List archive paths created, updated, moved or removed since a run,"
            " a date or a time (JSON lines)"
        )

    def add_options(self, parser: argparse.ArgumentParser) -> None:
        super().add_options(parser)
        parser.add_argument(
            "--since",
            required=True,
            help="a run id from the runs log, a date such as 2026-11-28 (a Beijing"
            " day), or a time such as 2026-11-28T08:00+08:00",
        )

    def run(self, args: list[str], opts: argparse.Namespace) -> None:
        index = self.open_index()
        if index is None:
            return
        try:
            changes = changes_since(self.archive, index, opts.since)
        except UnknownPointError as exc:
            raise UsageError(str(exc)) from exc
        except sqlite3.DatabaseError as exc:
            self.say(f"newscrawl: cannot read the index {index.path}: {exc}")
            self.exitcode = int(ExitStatus.ARCHIVE_FAILED)
            return
        finally:
            index.close()
        for change in changes:
            print(json.dumps(change, ensure_ascii=False))
