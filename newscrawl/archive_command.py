"""The base of the archive commands (verify, reindex, changes, stats).

It lives outside newscrawl/commands/: Scrapy would take it for a command there.
"""

from __future__ import annotations

import sys
from pathlib import Path

from scrapy.commands import ScrapyCommand


class ArchiveCommand(ScrapyCommand):
    """A command about the archive at ``ARCHIVE_DIR`` (``-s ARCHIVE_DIR=…``)."""

    requires_project = True
    default_settings = {"LOG_ENABLED": False}  # noqa: RUF012 - Scrapy's own attribute

    @property
    def archive(self) -> Path:
        """The archive folder of the project's settings."""
        assert self.settings is not None
        return Path(self.settings.get("ARCHIVE_DIR", "archive"))

    @staticmethod
    def say(line: str) -> None:
        """A line for the user, on stderr: stdout is for results."""
        print(line, file=sys.stderr, flush=True)

    def progress(self, files: int) -> None:
        """Long commands over big archives say how far they are."""
        self.say(f"… {files} files")
