"""The base of the archive commands (verify, reindex, changes, stats, forget).

It lives outside newscrawl/commands/: Scrapy would take it for a command there.
"""

from __future__ import annotations

import sys
from pathlib import Path

from scrapy.commands import ScrapyCommand
from scrapy.exceptions import UsageError

from newscrawl.archive.files import STATE_DIR
from newscrawl.archive.index import ArchiveIndex, IndexUnusableError
from newscrawl.archive.lock import ArchiveLock, ArchiveLockedError
from newscrawl.archive.owner import Archive, archive_root
from newscrawl.extensions import ExitStatus
from newscrawl.progress import Bar, terminal_bar

#: Without a terminal, a progress line every this many files.
LINE_EVERY = 5000


class NoArchiveError(RuntimeError):
    """``ARCHIVE_DIR`` names no archive (a typo, most likely)."""


class ArchiveCommand(ScrapyCommand):
    """A command about the archive at ``ARCHIVE_DIR`` (``-s ARCHIVE_DIR=…``)."""

    requires_project = True
    default_settings = {"LOG_ENABLED": False}  # noqa: RUF012 - Scrapy's own attribute

    @property
    def archive(self) -> Path:
        """The archive folder of the project's settings (relative: to the project)."""
        assert self.settings is not None
        return archive_root(self.settings)

    def owner(self) -> Archive:
        """The archive's owner, through which every change goes."""
        assert self.settings is not None
        try:
            return Archive.from_settings(self.settings)
        except ValueError as exc:
            raise UsageError(str(exc)) from exc

    def require_archive(self, *, files_will_do: bool = False) -> bool:
        """Say "no archive at …" and set exit status 2 unless ``ARCHIVE_DIR`` holds
        an archive (its ``.newscrawl`` folder; or, if ``files_will_do``, any file).

        A misspelt folder must not look like an empty archive: `changes` would
        say "nothing changed", `reindex` would make a new archive there.
        """
        root = self.archive
        found = root.is_dir() and (
            (root / STATE_DIR).exists()
            or (
                files_will_do
                and any(
                    p.name != "README.md" and p.is_file() for p in root.rglob("*.md")
                )
            )
        )
        if not found:
            self.say(
                f"newscrawl: no archive at {root} (check ARCHIVE_DIR; a relative"
                " one is relative to the project's folder)"
            )
            self.exitcode = int(ExitStatus.USAGE)
        return found

    def open_index(self) -> ArchiveIndex | None:
        """The archive's index to read, or None (one line said, exit status set)
        when there is no archive (2) or its index cannot be used (7)."""
        if not self.require_archive():
            return None
        try:
            return ArchiveIndex.for_archive(self.archive, create=False)
        except IndexUnusableError as exc:
            self.say(f"newscrawl: {exc}")
            self.exitcode = int(ExitStatus.ARCHIVE_FAILED)
            return None

    def hold(self, doing: str) -> ArchiveLock | None:
        """The archive's lock, or None (one line said, exit status set) if another
        run holds it or the archive cannot be used."""
        lock = ArchiveLock(self.archive)
        try:
            lock.acquire()
        except ArchiveLockedError as exc:
            self.say(f"newscrawl: {exc}; not {doing} now")
            self.exitcode = int(ExitStatus.LOCKED)
            return None
        except (OSError, IndexUnusableError) as exc:
            self.say(f"newscrawl: cannot use the archive {self.archive}: {exc}")
            self.exitcode = int(ExitStatus.ARCHIVE_FAILED)
            return None
        return lock

    #: The live bar of a long command on a terminal (newscrawl/progress.py).
    bar: Bar | None = None

    def say(self, line: str) -> None:
        """A line for the user, on stderr: stdout is for results."""
        if self.bar is not None:
            # The summary comes after the bar, not through it.
            self.bar.close()
            self.bar = None
        print(line, file=sys.stderr, flush=True)

    def progress(self, files: int) -> None:
        """Long commands over big archives say how far they are: a live bar on a
        terminal, a line now and then otherwise (cron logs stay readable)."""
        if self.bar is None and sys.stderr.isatty():
            self.bar = terminal_bar(
                self.__class__.__module__.rpartition(".")[2], unit=" files"
            )
        if self.bar is None:
            if files % LINE_EVERY == 0:
                self.say(f"… {files} files")
            return
        self.bar.update(files - getattr(self.bar, "n", 0))
