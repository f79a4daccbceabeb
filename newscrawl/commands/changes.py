"""``scrapy changes --since <run or time>``: what runs created or updated since."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from scrapy.exceptions import UsageError

from newscrawl.archive.runlog import changes_since
from newscrawl.archive_command import ArchiveCommand

if TYPE_CHECKING:
    import argparse


class Command(ArchiveCommand):
    """Prints one JSON line per archive path created or updated since a point."""

    def syntax(self) -> str:
        return "--since <run id | ISO 8601 time>"

    def short_desc(self) -> str:
        return (
            "List archive paths created or updated since a run or a time (JSON lines)"
        )

    def add_options(self, parser: argparse.ArgumentParser) -> None:
        super().add_options(parser)
        parser.add_argument(
            "--since",
            required=True,
            help="a run id from the runs log, or a time such as 2026-11-28T08:00+08:00",
        )

    def run(self, args: list[str], opts: argparse.Namespace) -> None:
        try:
            changes = changes_since(self.archive, opts.since)
        except ValueError as exc:
            raise UsageError(str(exc)) from exc
        for change in changes:
            print(json.dumps(change, ensure_ascii=False))
