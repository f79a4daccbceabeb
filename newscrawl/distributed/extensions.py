"""The outcome of a distributed worker's run: a summary line and an exit status."""

from __future__ import annotations

from typing import TYPE_CHECKING

from scrapy import signals

from newscrawl.extensions import ExitStatus, RunOutcome

if TYPE_CHECKING:
    from scrapy.crawler import Crawler


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
        crawler.signals.connect(outcome.spider_closed, signal=signals.spider_closed)
        return outcome

    label = "Worker"

    def counts(self) -> dict[str, int]:
        """Articles handed over, skipped as archived, and failed in this worker."""
        return {
            "handed over": self.stats.get_value("archive/handed_off", 0),
            "skipped": self.stats.get_value("archive/skipped/known", 0),
            "failed": self.failures(),
        }

    def decide(self, counts: dict[str, int], reason: str) -> ExitStatus:
        """RunOutcome's status; a Redis failure first, as it explains the rest."""
        if self.stats.get_value("redis/unavailable", 0):
            return ExitStatus.REDIS_UNAVAILABLE
        return super().decide(counts, reason)
