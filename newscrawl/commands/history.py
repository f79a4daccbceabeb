"""``scrapy history <doc id>``: the captured versions of an article."""

from __future__ import annotations

import sqlite3
from typing import TYPE_CHECKING

from scrapy.exceptions import UsageError

from newscrawl.archive.index import ArchiveIndex, IndexUnusableError
from newscrawl.archive.owner import Archive
from newscrawl.archive.rebuild import derive, text_diff
from newscrawl.archive.warc import DamagedRecordError
from newscrawl.archive_command import ArchiveCommand
from newscrawl.extensions import ExitStatus
from newscrawl.sina.channels import load_channels

if TYPE_CHECKING:
    import argparse


class Command(ArchiveCommand):
    """Lists every captured version of an article (fetch time, feed mtime, payload
    size and digest, the file's hash) and whether Sina withdrew it; ``--diff``
    shows what changed in the article between consecutive versions."""

    def syntax(self) -> str:
        return "<doc id> [--diff]"

    def short_desc(self) -> str:
        return "List the captured versions of an article (and their differences)"

    def add_options(self, parser: argparse.ArgumentParser) -> None:
        super().add_options(parser)
        parser.add_argument(
            "--diff",
            action="store_true",
            help="show the article's text changes between consecutive versions",
        )

    def run(self, args: list[str], opts: argparse.Namespace) -> None:
        assert self.settings is not None
        if len(args) != 1:
            raise UsageError("name one doc id, e.g. scrapy history ikmvwzxq0000001")
        if not self.require_archive():
            return
        owner = self.owner()
        try:
            owner._index = ArchiveIndex.for_archive(self.archive, create=False)
            self.exitcode = self.show(owner, args[0], opts.diff)
        except (OSError, sqlite3.Error, IndexUnusableError) as exc:
            self.say(f"newscrawl: cannot read the archive {self.archive}: {exc}")
            self.exitcode = int(ExitStatus.ARCHIVE_FAILED)
        finally:
            owner.close()

    def show(self, owner: Archive, doc_id: str, diff: bool) -> int:
        assert self.settings is not None
        row = owner.index.get(doc_id)
        versions = owner.versions(doc_id)
        if row is None and not versions:
            self.say(f"newscrawl: no article {doc_id} in {self.archive}")
            return 1
        if row is not None:
            print(f"{doc_id} {row.path}")
            if row.withdrawn_at:
                print(f"withdrawn {row.withdrawn_at} (HTTP {row.withdrawn_status})")
        channels = load_channels(self.settings.getdict("SINA_CHANNELS"))
        previous: tuple[str, bytes] | None = None
        problems = 0
        for number, version in enumerate(versions, 1):
            try:
                record = owner.read(version)
                size = f"{len(record.payload)} bytes"
            except DamagedRecordError as exc:
                record, size = None, f"unreadable ({exc})"
                problems += 1
            print(
                f"version {number}: fetched {version.fetched}, feed mtime"
                f" {version.feed_mtime}, {size}, {version.payload_digest},"
                f" file sha256 {version.sha256}"
            )
            if not diff or record is None:
                continue
            data = derive(record, channels, extra_fields=owner.extra_fields).data or b""
            name = f"version {number} ({version.fetched})"
            if previous is not None:
                print(text_diff(previous[1], data, previous[0], name) or "(no change)")
            previous = (name, data)
        return 1 if problems else 0
