"""``scrapy rebuild``: re-derive the article files from the captured responses."""

from __future__ import annotations

import sqlite3
from datetime import UTC
from typing import TYPE_CHECKING

from scrapy.exceptions import UsageError

from newscrawl.archive.index import IndexUnusableError
from newscrawl.archive.rebuild import rebuild
from newscrawl.archive.runlog import instant
from newscrawl.archive_command import ArchiveCommand
from newscrawl.extensions import ExitStatus
from newscrawl.sina.channels import load_channels

if TYPE_CHECKING:
    import argparse


class Command(ArchiveCommand):
    """Runs the current extraction and cleaning over the WARC capture, with no
    network; writes what changed or is missing (journalled: ``scrapy changes``),
    never deletes. ``--dry-run`` only reports."""

    def short_desc(self) -> str:
        return "Re-derive article files from the WARC capture with the current code"

    def add_options(self, parser: argparse.ArgumentParser) -> None:
        super().add_options(parser)
        parser.add_argument(
            "--dry-run",
            action="store_true",
            help="report what would stay, change, appear or be dropped; write nothing",
        )
        parser.add_argument(
            "--since",
            help="only versions fetched since this day or time (2026-11-28,"
            " 2026-11-28T08:00+08:00)",
        )
        parser.add_argument(
            "--doc-id",
            action="append",
            default=[],
            help="only this article (repeat for more)",
        )

    def run(self, args: list[str], opts: argparse.Namespace) -> None:
        assert self.settings is not None
        since = None
        if opts.since:
            try:
                since = (
                    instant(opts.since)
                    .astimezone(UTC)
                    .isoformat(timespec="microseconds")
                )
            except ValueError as exc:
                raise UsageError(f"--since: {exc}") from exc
        if not self.require_archive(files_will_do=True):
            return
        lock = self.hold("rebuilding")
        if lock is None:
            return
        owner = self.owner()
        try:
            channels = load_channels(self.settings.getdict("SINA_CHANNELS"))
            report = rebuild(
                owner,
                channels,
                dry_run=opts.dry_run,
                doc_ids=set(opts.doc_id) or None,
                since=since,
                max_replacement_ratio=self.settings.getfloat(
                    "CLEAN_MAX_REPLACEMENT_RATIO"
                ),
                progress=lambda n: self.say(f"… {n} articles"),
            )
            for path in report.changed:
                print(f"changed {path}")
            for path in report.appeared:
                print(f"appeared {path}")
            for line in report.dropped:
                print(f"dropped (kept) {line}")
            for line in report.unreadable:
                print(f"unreadable {line}")
            for diff in report.diffs:
                print(diff)
            counts = {
                "same": report.same,
                "changed": len(report.changed),
                "appeared": len(report.appeared),
                "dropped": len(report.dropped),
                "unreadable": len(report.unreadable),
            }
            self.exitcode = 1 if report.unreadable else 0
            if not opts.dry_run:
                owner.record_run(
                    exit_status=self.exitcode, finish_reason="rebuild", counts=counts
                )
            verb = "would be" if opts.dry_run else "were"
            source = " (from a scan of the WARC files)" if report.scanned else ""
            self.say(
                f"rebuild{' --dry-run' if opts.dry_run else ''}{source}:"
                f" {counts['same']} same, {counts['changed']} changed,"
                f" {counts['appeared']} new or restored, {counts['dropped']} {verb}"
                f" dropped by the current code (kept),"
                f" {counts['unreadable']} unreadable record(s)"
            )
        except (OSError, sqlite3.Error, IndexUnusableError) as exc:
            self.say(f"newscrawl: cannot rebuild the archive {self.archive}: {exc}")
            self.exitcode = int(ExitStatus.ARCHIVE_FAILED)
        finally:
            owner.close()
            lock.release()
