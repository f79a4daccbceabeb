"""``scrapy crawl``: one run per archive at a time, and an exit status for cron."""

from __future__ import annotations

import errno
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from scrapy.commands.crawl import Command as ScrapyCrawlCommand
from scrapy.exceptions import UsageError

from newscrawl.archive.files import UnsafePathError, check_component
from newscrawl.archive.index import (
    ArchiveIndex,
    IndexUnusableError,
    free_space,
    index_path,
)
from newscrawl.archive.lock import ArchiveLock, ArchiveLockedError
from newscrawl.archive.owner import Archive, archive_root
from newscrawl.distributed import enabled as distributed
from newscrawl.extensions import ExitStatus, RunOutcome

if TYPE_CHECKING:
    import argparse

    from scrapy.settings import BaseSettings


def check_categories(settings: BaseSettings) -> None:
    """UsageError unless every channel's categories are plain, visible folder names.

    A category such as ``.x`` would hide its articles from Hexo and ``verify``;
    one with a ``/`` would make folders the path template does not know.
    """
    for name, value in settings.getdict("SINA_CHANNELS").items():
        categories = value.get("categories", []) if isinstance(value, dict) else []
        for category in categories:
            try:
                check_component(str(category))
            except UnsafePathError as exc:
                raise UsageError(
                    f"SINA_CHANNELS: channel {name!r} has category {category!r},"
                    f" not a plain visible folder name ({exc})"
                ) from exc


def hold_archive(settings: BaseSettings, purpose: str = "") -> ArchiveLock:
    """Take the archive's lock for this process, and check its index opens.

    Raises ArchiveLockedError if another run holds it, OSError if the archive
    cannot be written, IndexUnusableError if its index is damaged or its disk
    full: all before anything is fetched.
    """
    root = archive_root(settings)
    lock = ArchiveLock(root, purpose)
    lock.acquire()
    try:
        if index_path(root).exists():
            ArchiveIndex.for_archive(root, create=False).close()
    except IndexUnusableError:
        lock.release()
        raise
    return lock


class Command(ScrapyCrawlCommand):
    """Scrapy's crawl command; exits with RunOutcome's status (0 = did its job)."""

    def run(self, args: list[str], opts: argparse.Namespace) -> None:
        if len(args) != 1:
            raise UsageError(
                "give exactly one spider name, e.g. scrapy crawl sina_finance"
            )
        assert self.crawler_process is not None and self.settings is not None
        spidercls = self.crawler_process.spider_loader.load(args[0])
        check_arguments = getattr(spidercls, "check_arguments", None)
        if check_arguments is not None:
            check_arguments(self.settings, opts.spargs)
        check_categories(self.settings)
        try:
            Archive.check_settings(self.settings)
        except ValueError as exc:
            raise UsageError(str(exc)) from exc
        crawler = self._create_crawler(spidercls)
        # The summary comes after Scrapy's stats dump: the log's last line.
        crawler.newscrawl_summary_last = True  # type: ignore[attr-defined]
        try:
            # A distributed worker never touches the archive: its writer holds it.
            backfill = "backfill" if opts.spargs.get("backfill") else ""
            lock = (
                None
                if distributed(self.settings)
                else hold_archive(self.settings, backfill)
            )
        except ArchiveLockedError as exc:
            if exc.purpose == "backfill" and not opts.spargs.get("backfill"):
                # A backfill reads the live feed every SINA_BACKFILL_LIVE_EVERY
                # seconds itself: this run's work is being done; cron sees success.
                print(
                    f"newscrawl: {exc}; it reads the live feed itself, nothing to do",
                    file=sys.stderr,
                )
                self.exitcode = int(ExitStatus.OK)
                return
            # One clear line and a status of its own: cron may simply try later.
            print(f"newscrawl: {exc}; not starting a second run", file=sys.stderr)
            self.exitcode = int(ExitStatus.LOCKED)
            return
        except (OSError, IndexUnusableError) as exc:
            print(f"newscrawl: cannot use the archive: {_reason(exc)}", file=sys.stderr)
            self.exitcode = int(ExitStatus.ARCHIVE_FAILED)
            return
        try:
            self.crawler_process.crawl(crawler, **opts.spargs)
            self.crawler_process.start()
        finally:
            if lock is not None:
                lock.release()
        if self.crawler_process.bootstrap_failed:
            self.exitcode = 1
            return
        outcome = crawler.get_extension(RunOutcome)
        if outcome is not None:
            # A second SIGTERM or Ctrl-C stops Scrapy without closing the spider:
            # the run still gets its summary line and record here.
            outcome.forced_stop()
            self.exitcode = int(outcome.exit_status)
            # After Scrapy's stats dump (30 lines): the log's last line, for cron.
            if outcome.closed:
                outcome.log_summary()


def _reason(exc: OSError | IndexUnusableError) -> str:
    """What to tell the operator: a full disk names its free space."""
    if isinstance(exc, OSError) and exc.errno == errno.ENOSPC and exc.filename:
        try:
            free = free_space(Path(exc.filename).parent)
        except OSError:
            return str(exc)
        return f"the disk is full ({free // 1024} KiB free): {exc}"
    return str(exc)
