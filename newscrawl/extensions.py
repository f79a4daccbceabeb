"""The outcome of a run: one summary line and an exit status for cron."""

from __future__ import annotations

import logging
from enum import IntEnum
from typing import TYPE_CHECKING

from scrapy import signals

if TYPE_CHECKING:
    from scrapy import Spider
    from scrapy.crawler import Crawler
    from scrapy.statscollectors import StatsCollector

logger = logging.getLogger(__name__)


class ExitStatus(IntEnum):
    """What ``scrapy crawl sina_finance`` exits with."""

    OK = 0  # the run did its job, even if there was nothing new
    FAILED = 1  # Scrapy could not start the crawl (bad settings)
    USAGE = 2  # bad command line or spider arguments (Scrapy's own status)
    FEED_UNREADABLE = 3  # a feed page could not be fetched or parsed
    ARTICLES_FAILED = 4  # more articles failed than RUN_MAX_FAILED_RATIO allows


class RunOutcome:
    """Sums up a run in one line and decides its exit status.

    Articles failed = pages that could not be fetched + articles dropped as bad.
    Their share of all articles attempted may reach ``RUN_MAX_FAILED_RATIO``
    before the run counts as failed: one broken page among fifty is Sina's
    problem, not the run's.
    """

    def __init__(self, stats: StatsCollector, max_failed_ratio: float) -> None:
        self.stats = stats
        self.max_failed_ratio = max_failed_ratio
        self.exit_status = ExitStatus.OK

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> RunOutcome:
        assert crawler.stats is not None
        outcome = cls(
            crawler.stats, crawler.settings.getfloat("RUN_MAX_FAILED_RATIO", 0.2)
        )
        crawler.signals.connect(outcome.spider_closed, signal=signals.spider_closed)
        return outcome

    def counts(self) -> dict[str, int]:
        """New, updated, unchanged, skipped and failed articles of this run."""
        value = self.stats.get_value
        return {
            "new": value("archive/written", 0),
            "updated": value("archive/updated", 0),
            "unchanged": value("archive/skipped/unchanged", 0),
            "skipped": value("archive/skipped/known", 0),
            "failed": value("sina/article/failed", 0)
            + value("item_dropped_count", 0)
            + value("spider_exceptions_count", 0),
        }

    def spider_closed(self, spider: Spider, reason: str) -> None:
        counts = self.counts()
        attempted = (
            counts["new"] + counts["updated"] + counts["unchanged"] + counts["failed"]
        )
        if self.stats.get_value("sina/feed/failed", 0):
            self.exit_status = ExitStatus.FEED_UNREADABLE
        elif attempted and counts["failed"] / attempted > self.max_failed_ratio:
            self.exit_status = ExitStatus.ARTICLES_FAILED
        self.stats.set_value("run/exit_status", int(self.exit_status))
        summary = ", ".join(f"{n} {k}" for k, n in counts.items())
        logger.log(
            logging.INFO if self.exit_status == ExitStatus.OK else logging.ERROR,
            "Run %s (%s): %s",
            "done" if self.exit_status == ExitStatus.OK else "FAILED",
            self.exit_status.name.lower().replace("_", " "),
            summary,
        )
