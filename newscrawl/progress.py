"""Where a long run is: a log line every PROGRESS_INTERVAL seconds, a bar on a terminal.

The log line ("Progress: N of M articles, R/s, ETA …") goes to the log, so cron logs
get it too; the bar (tqdm) only when stderr is a terminal, so that they stay clean.
M comes from the feed: the items listed so far, and for a backfill the totals of
the days' windows (days not read yet estimated from those read, "~M").
"""

from __future__ import annotations

import logging
import sys
import time
from typing import TYPE_CHECKING, Protocol

from scrapy import signals
from scrapy.exceptions import NotConfigured
from twisted.internet import task

if TYPE_CHECKING:
    from scrapy import Spider
    from scrapy.crawler import Crawler
    from scrapy.statscollectors import StatsCollector

logger = logging.getLogger(__name__)

#: Stats that count an article as done, whatever became of it.
DONE_STATS = (
    "archive/written",
    "archive/updated",
    "archive/skipped/unchanged",
    "archive/skipped/known",
    "sina/article/failed",
    "item_dropped_count",
    "spider_exceptions/count",
)


class Bar(Protocol):
    """What the progress needs of a bar (tqdm's, or none)."""

    total: float | None

    def update(self, n: float = 1) -> bool | None: ...

    def refresh(self) -> None: ...

    def close(self) -> None: ...


def terminal_bar(
    description: str, total: int | None = None, unit: str = " articles"
) -> Bar | None:
    """A tqdm bar on stderr if stderr is a terminal; else None (cron, pipes)."""
    if not sys.stderr.isatty():
        return None
    from tqdm import tqdm

    bar: Bar = tqdm(total=total, desc=description, unit=unit, leave=True)
    return bar


def describe(done: int, total: int, estimated: bool, rate: float) -> str:
    """``N of M articles, R/s, ETA …``: the progress line's text."""
    of = f"{'~' if estimated else ''}{total}"
    if rate > 0 and total > done:
        left = (total - done) / rate
        eta = (
            f"ETA {int(left // 3600)}:{int(left % 3600 // 60):02d}:{int(left % 60):02d}"
        )
    else:
        eta = "ETA -"
    return f"{done} of {of} articles, {rate:.1f}/s, {eta}"


class Progress:
    """Logs the run's progress every ``PROGRESS_INTERVAL`` seconds (0: never) and,
    on a terminal, draws a live bar for a backfill."""

    def __init__(self, stats: StatsCollector, interval: float) -> None:
        self.stats = stats
        self.interval = interval
        self.started = time.monotonic()
        self.spider: Spider | None = None
        self.bar: Bar | None = None
        self.ticks: list[task.LoopingCall] = []

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> Progress:
        interval = crawler.settings.getfloat("PROGRESS_INTERVAL", 10)
        if interval <= 0:
            raise NotConfigured("PROGRESS_INTERVAL is 0")
        assert crawler.stats is not None
        progress = cls(crawler.stats, interval)
        crawler.signals.connect(progress.spider_opened, signal=signals.spider_opened)
        crawler.signals.connect(progress.spider_closed, signal=signals.spider_closed)
        return progress

    def done(self) -> int:
        """Articles done so far: archived, unchanged, skipped, failed or dropped."""
        return sum(int(self.stats.get_value(key, 0)) for key in DONE_STATS)

    def expected(self) -> tuple[int, bool]:
        """(articles the run expects, whether estimated), from the spider."""
        total = getattr(self.spider, "progress_total", None)
        if total is None:
            return int(self.stats.get_value("sina/feed/items", 0)), False
        found: tuple[int, bool] = total()
        return found

    def spider_opened(self, spider: Spider) -> None:
        self.spider = spider
        self.started = time.monotonic()
        self.start(task.LoopingCall(self.log), self.interval)
        if getattr(spider, "backfill", None) is not None:
            self.bar = terminal_bar("backfill")
            if self.bar is not None:
                self.start(task.LoopingCall(self.draw), 0.5)

    def start(self, call: task.LoopingCall, every: float) -> None:
        call.start(every, now=False)
        self.ticks.append(call)

    def line(self) -> str:
        done = self.done()
        total, estimated = self.expected()
        rate = done / max(time.monotonic() - self.started, 1e-9)
        return describe(done, max(total, done), estimated, rate)

    def log(self) -> None:
        logger.info("Progress: %s", self.line())

    def draw(self) -> None:
        assert self.bar is not None
        done = self.done()
        total, _ = self.expected()
        self.bar.total = max(total, done)
        self.bar.update(done - getattr(self.bar, "n", 0))
        self.bar.refresh()

    def spider_closed(self, spider: Spider, reason: str) -> None:
        for call in self.ticks:
            if call.running:
                call.stop()
        if self.bar is not None:
            self.draw()
            self.bar.close()
