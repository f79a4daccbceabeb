"""The outcome of a run: a summary line, an exit status for cron, the run record."""

from __future__ import annotations

import logging
import sqlite3
from enum import IntEnum
from typing import TYPE_CHECKING

from scrapy import signals

from newscrawl.archive.index import IndexUnusableError
from newscrawl.archive.owner import archive_of

if TYPE_CHECKING:
    from scrapy import Spider
    from scrapy.crawler import Crawler
    from scrapy.statscollectors import StatsCollector

    from newscrawl.archive.owner import Archive

logger = logging.getLogger(__name__)


class ExitStatus(IntEnum):
    """What ``scrapy crawl sina_finance`` exits with."""

    OK = 0  # the run did its job, even if there was nothing new
    FAILED = 1  # Scrapy could not start the crawl (bad settings)
    USAGE = 2  # bad command line or spider arguments (Scrapy's own status)
    FEED_UNREADABLE = 3  # a feed page could not be fetched or parsed
    ARTICLES_FAILED = 4  # more articles failed than RUN_MAX_FAILED_RATIO allows
    LOCKED = 5  # another run holds the archive
    REDIS_UNAVAILABLE = 6  # distributed mode: Redis failed (newscrawl/distributed)
    ARCHIVE_FAILED = 7  # the archive could not be written, or its index read
    INTERRUPTED = 8  # stopped by a signal (SIGTERM, Ctrl-C) before its end


class RunOutcome:
    """Sums up a run in one line, decides its exit status, appends its record.

    Articles failed = pages that could not be fetched + articles dropped as bad.
    Their share of all articles attempted may reach ``RUN_MAX_FAILED_RATIO``
    before the run counts as failed: one broken page among fifty is Sina's
    problem, not the run's.

    The record (one JSON line in ``<archive>/.newscrawl/runs.jsonl``) holds the
    start, end, exit status, counts and the paths created or updated, so that a
    downstream tool can pick up exactly what changed since it last looked.
    """

    def __init__(
        self, stats: StatsCollector, max_failed_ratio: float, archive: Archive | None
    ) -> None:
        self.stats = stats
        self.max_failed_ratio = max_failed_ratio
        self.archive = archive
        self.exit_status = ExitStatus.OK
        #: Whether the run's summary and record were written (spider_closed ran).
        self.closed = False
        #: The summary line, once the run is closed.
        self.summary = ""
        #: Leave the summary line to the caller (the crawl command logs it after
        #: Scrapy's stats dump, so that it is the log's last line).
        self.summary_later = False

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> RunOutcome:
        assert crawler.stats is not None
        outcome = cls(
            crawler.stats,
            crawler.settings.getfloat("RUN_MAX_FAILED_RATIO", 0.2),
            archive_of(crawler) if crawler.settings.get("ARCHIVE_DIR") else None,
        )
        outcome.summary_later = bool(getattr(crawler, "newscrawl_summary_last", False))
        crawler.signals.connect(outcome.spider_closed, signal=signals.spider_closed)
        return outcome

    #: The first word of the summary line.
    label = "Run"

    def counts(self) -> dict[str, int]:
        """New, updated, unchanged, skipped and failed articles of this run."""
        value = self.stats.get_value
        return {
            "new": value("archive/written", 0),
            "updated": value("archive/updated", 0),
            "unchanged": value("archive/skipped/unchanged", 0),
            "skipped": value("archive/skipped/known", 0),
            "failed": self.failures(),
        }

    def failures(self) -> int:
        """Articles not fetched, dropped as bad, or whose callback raised."""
        value = self.stats.get_value
        return int(
            value("sina/article/failed", 0)
            + value("item_dropped_count", 0)
            + value("spider_exceptions/count", 0)
        )

    def decide(self, counts: dict[str, int], reason: str) -> ExitStatus:
        """The run's exit status from its stats, ``counts`` and finish ``reason``."""
        # Skipped articles were not attempted: they cost nothing and cannot fail.
        attempted = sum(counts.values()) - counts.get("skipped", 0)
        if self.stats.get_value("archive/failed", 0):
            return ExitStatus.ARCHIVE_FAILED
        if reason in INTERRUPTED_REASONS:
            return ExitStatus.INTERRUPTED
        if self.stats.get_value("sina/feed/failed", 0):
            return ExitStatus.FEED_UNREADABLE
        if attempted and counts["failed"] / attempted > self.max_failed_ratio:
            return ExitStatus.ARTICLES_FAILED
        return ExitStatus.OK

    def spider_closed(self, spider: Spider, reason: str) -> None:
        self.close(reason)

    def close(self, reason: str) -> None:
        """Decide the exit status, log the summary line, append the run record."""
        self.closed = True
        if self.archive is not None:
            # The last batch counts once durable (the pipeline commits it when
            # the spider closes; a forced stop never closes the spider).
            try:
                self.archive.flush()
            except (OSError, sqlite3.Error) as exc:
                self.stats.inc_value("archive/failed")
                logger.error("Cannot commit into %s: %s", self.archive.root, exc)
        counts = self.counts()
        self.exit_status = self.decide(counts, reason)
        self.stats.set_value("run/exit_status", int(self.exit_status))
        ok = self.exit_status == ExitStatus.OK
        self.summary = "{} {} ({}): {}".format(
            self.label,
            "done" if ok else "FAILED",
            self.exit_status.name.lower().replace("_", " "),
            ", ".join(f"{n} {k}" for k, n in counts.items()),
        )
        if not self.summary_later:
            self.log_summary()
        if self.archive is not None:
            try:
                self.archive.record_run(
                    exit_status=int(self.exit_status),
                    finish_reason=reason,
                    counts=counts,
                )
            except (OSError, IndexUnusableError) as exc:
                # A full or read-only disk: the run already failed for it; say that
                # its record is missing too, in one line.
                self.exit_status = ExitStatus.ARCHIVE_FAILED
                logger.error(
                    "Cannot append this run's record to %s: %s", self.archive.root, exc
                )

    def log_summary(self) -> None:
        """Log the summary line."""
        ok = self.exit_status == ExitStatus.OK
        logger.log(logging.INFO if ok else logging.ERROR, "%s", self.summary)

    def forced_stop(self) -> None:
        """The run was stopped by a second signal: Scrapy never closed the spider.

        The process lives on long enough to say so and keep the run's record.
        """
        if not self.closed:
            self.close("forced stop")


#: Scrapy's finish reason after SIGTERM or Ctrl-C, and ours after a second one.
INTERRUPTED_REASONS = frozenset({"shutdown", "forced stop"})
