"""``scrapy verify``: does every file parse, and do index and files agree?"""

from __future__ import annotations

from typing import TYPE_CHECKING

from newscrawl.archive.check import verify
from newscrawl.archive_command import ArchiveCommand
from newscrawl.extensions import ExitStatus

if TYPE_CHECKING:
    import argparse


class Command(ArchiveCommand):
    """Checks the archive; prints each problem; exits 1 if there is any."""

    def short_desc(self) -> str:
        return "Check that every archive file parses and the index agrees with them"

    def run(self, args: list[str], opts: argparse.Namespace) -> None:
        if not self.archive.is_dir():
            self.require_archive()
            return
        report = verify(self.archive, self.progress, self.owner().warc_folder)
        for problem in report.problems:
            print(problem)
        for note in report.notes:
            self.say(f"note: {note}")
        verdict = "FAILED" if report.problems else "ok"
        self.say(
            f"verify {verdict}: {report.files} files, {report.rows} index rows,"
            f" {len(report.problems)} problem(s) in {self.archive}"
        )
        # An index that cannot be used at all is status 7, as in every command.
        self.exitcode = (
            int(ExitStatus.ARCHIVE_FAILED)
            if report.index_unusable
            else 1
            if report.problems
            else 0
        )
