"""``scrapy writer``: the archive writer of the distributed mode (REDIS_URL)."""

from __future__ import annotations

import contextlib
import signal
import sqlite3
import sys
from typing import TYPE_CHECKING

from scrapy.commands import ScrapyCommand
from scrapy.exceptions import NotConfigured, UsageError
from scrapy.utils.log import configure_logging

from newscrawl.archive.index import IndexUnusableError
from newscrawl.archive.lock import ArchiveLock, ArchiveLockedError
from newscrawl.archive.owner import archive_root
from newscrawl.distributed import enabled
from newscrawl.extensions import ExitStatus

if TYPE_CHECKING:
    import argparse


class Command(ScrapyCommand):
    """Writes what distributed workers hand over into the archive at ARCHIVE_DIR.

    Exit status: 0 stopped (SIGTERM, Ctrl-C) or drained; 1 the archive cannot be
    written; 2 bad usage; 5 another writer holds the archive or the hand-overs,
    or took them over from this one (it was stopped for longer than its claim);
    6 Redis is unavailable, or may evict keys. Whatever it had not finished waits
    in Redis for the next writer.
    """

    requires_project = True
    requires_crawler_process = False

    def syntax(self) -> str:
        return "[--drain] [-s REDIS_URL=redis://host:6379/0] [-s ARCHIVE_DIR=…]"

    def short_desc(self) -> str:
        return "Write the articles that distributed workers hand over (REDIS_URL)"

    def add_options(self, parser: argparse.ArgumentParser) -> None:
        super().add_options(parser)
        parser.add_argument(
            "--drain",
            action="store_true",
            help="write what is waiting, then exit (default: run until stopped)",
        )

    def run(self, args: list[str], opts: argparse.Namespace) -> None:
        assert self.settings is not None
        settings = self.settings
        if args:
            raise UsageError("scrapy writer takes no arguments, only --drain")
        if not enabled(settings):
            raise UsageError(
                "set REDIS_URL (-s REDIS_URL=redis://host:6379/0): the writer takes"
                " what the workers hand over through that Redis"
            )
        configure_logging(settings)
        # Imported here: Redis only for the distributed mode.
        from redis.exceptions import RedisError

        from newscrawl.distributed.shared import (
            RedisUnsuitableError,
            check_server,
            unavailable,
        )
        from newscrawl.distributed.writer import (
            ArchiveUnwritableError,
            ArchiveWriter,
            WriterClaimedError,
            WriterClaimLostError,
        )

        lock = ArchiveLock(archive_root(settings))
        try:
            lock.acquire()
        except ArchiveLockedError as exc:
            self.fail(ExitStatus.LOCKED, f"{exc}; not starting a second writer")
            return
        except (OSError, IndexUnusableError) as exc:
            self.fail(ExitStatus.ARCHIVE_FAILED, f"cannot use the archive: {exc}")
            return
        doing = "starting"
        writer: ArchiveWriter | None = None
        try:
            try:
                writer = ArchiveWriter.from_settings(settings)
            except (NotConfigured, ValueError) as exc:
                raise UsageError(str(exc)) from exc
            stop = writer.stop
            for number in (signal.SIGTERM, signal.SIGINT):
                signal.signal(number, lambda *_: stop())
            doing = "checking the server"
            check_server(writer.client, settings)
            doing = "claiming the hand-overs"
            writer.claim()
            doing = "publishing the archived ids"
            if writer.restore_unfinished():
                self.say("the last run did not finish: the next one reads every page")
            count = writer.publish()
            self.say(
                f"archive writer {writer.identity}: {count} archived articles"
                " published; taking hand-overs"
            )
            doing = "recovering what a stopped writer had taken"
            writer.recover()
            doing = "taking hand-overs"
            writer.serve(drain=opts.drain)
            doing = "stopping"
            # The last run may have ended since the last look: the archive's copy
            # of the unfinished-run marker must say so before the writer goes.
            writer.mirror_unfinished()
            writer.close()
            writer.release()
            self.say("archive writer stopped")
        except WriterClaimedError as exc:
            self.fail(ExitStatus.LOCKED, str(exc))
        except RedisUnsuitableError as exc:
            self.fail(ExitStatus.REDIS_UNAVAILABLE, f"{exc}; the writer does not start")
        except RedisError as exc:
            self.fail(
                ExitStatus.REDIS_UNAVAILABLE,
                f"{unavailable(settings, exc, doing)}: the writer stops; what it had"
                " not finished waits in Redis for the next writer",
            )
        except (ArchiveUnwritableError, IndexUnusableError) as exc:
            self.fail(ExitStatus.ARCHIVE_FAILED, str(exc))
        finally:
            if writer is not None and self.exitcode:
                # Keep the runs log right after a failure; Redis may be what failed.
                # Each on its own: a record that fails must not keep the WARC
                # file and the index from being closed.
                with contextlib.suppress(
                    OSError,
                    sqlite3.Error,
                    RedisError,
                    ArchiveUnwritableError,
                    WriterClaimLostError,
                ):
                    writer.record()
                with contextlib.suppress(OSError, sqlite3.Error):
                    writer.archive.close()
            lock.release()

    def fail(self, status: ExitStatus, message: str) -> None:
        """One line on stderr and an exit status."""
        print(f"newscrawl: {message}", file=sys.stderr, flush=True)
        self.exitcode = int(status)

    @staticmethod
    def say(line: str) -> None:
        """A line for the user, on stderr."""
        print(line, file=sys.stderr, flush=True)
