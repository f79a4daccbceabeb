"""The outcome of a distributed worker's run: a summary line and an exit status."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from scrapy import signals

from newscrawl.extensions import ExitStatus, RunOutcome

if TYPE_CHECKING:
    from scrapy import Spider
    from scrapy.crawler import Crawler

logger = logging.getLogger(__name__)


class WorkerOutcome(RunOutcome):
    """RunOutcome for a worker: it hands articles over instead of writing them.

    No run record: a worker has no archive (the writer keeps the runs log). The
    exit status is RunOutcome's, plus REDIS_UNAVAILABLE (6) when Redis failed.
    """

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> WorkerOutcome:
        outcome = cls(
            crawler.stats, crawler.settings.getfloat("RUN_MAX_FAILED_RATIO", 0.2), None
        )
        crawler.signals.connect(outcome.spider_opened, signal=signals.spider_opened)
        crawler.signals.connect(outcome.spider_closed, signal=signals.spider_closed)
        return outcome

    def counts(self) -> dict[str, int]:
        """Articles handed over, skipped as archived, and failed in this worker."""
        value = self.stats.get_value
        return {
            "handed over": value("archive/handed_off", 0),
            "skipped": value("archive/skipped/known", 0),
            "failed": value("sina/article/failed", 0)
            + value("item_dropped_count", 0)
            + value("spider_exceptions/count", 0),
        }

    def spider_closed(self, spider: Spider, reason: str) -> None:
        counts = self.counts()
        attempted = counts["handed over"] + counts["failed"]
        if self.stats.get_value("redis/unavailable", 0):
            self.exit_status = ExitStatus.REDIS_UNAVAILABLE
        elif self.stats.get_value("sina/feed/failed", 0):
            self.exit_status = ExitStatus.FEED_UNREADABLE
        elif attempted and counts["failed"] / attempted > self.max_failed_ratio:
            self.exit_status = ExitStatus.ARTICLES_FAILED
        self.stats.set_value("run/exit_status", int(self.exit_status))
        ok = self.exit_status == ExitStatus.OK
        logger.log(
            logging.INFO if ok else logging.ERROR,
            "Worker %s (%s): %s",
            "done" if ok else "FAILED",
            self.exit_status.name.lower().replace("_", " "),
            ", ".join(f"{n} {k}" for k, n in counts.items()),
        )
