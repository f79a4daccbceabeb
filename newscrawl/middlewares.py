"""Middlewares: skipping what the archive holds; Scrapy's robots.txt, quieter."""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from scrapy import signals
from scrapy.downloadermiddlewares import robotstxt
from scrapy.downloadermiddlewares.robotstxt import RobotsTxtMiddleware
from scrapy.exceptions import IgnoreRequest, NotConfigured
from scrapy.http import Request, Response

from newscrawl.archive.owner import Archive, Freshness, archive_of
from newscrawl.meta import DOC_ID, FEED_DAY, FEED_MTIME, FEED_PAGE

if TYPE_CHECKING:
    from scrapy.crawler import Crawler
    from scrapy.statscollectors import StatsCollector

logger = logging.getLogger(__name__)


class _OneLine(logging.Filter):
    """Turns the robots.txt download error into one WARNING line, no traceback.

    An unreachable robots.txt means the site is unreachable; the request that needed
    it fails next with its own, clearer error. A traceback here only buries that.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno >= logging.ERROR and record.exc_info:
            record.exc_info = None
            record.exc_text = None
            record.levelno, record.levelname = logging.WARNING, "WARNING"
        return True


class QuietRobotsTxtMiddleware(RobotsTxtMiddleware):
    """Scrapy's robots.txt middleware with a one-line log when robots.txt fails."""

    _filter = _OneLine()

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> QuietRobotsTxtMiddleware:
        robotstxt.logger.addFilter(cls._filter)  # idempotent for the same filter
        return cls(crawler)


class ArchivedArticlesMiddleware:
    """Drops requests for articles the archive holds, before they are fetched.

    A feed item whose doc id is archived with the same feed ``mtime`` is not
    requested; a changed ``mtime`` lets the request through (the archive pipeline
    then rewrites the file only if its bytes changed), and so does an archived
    article whose file went missing. When every article of a feed page is known
    and unchanged, the next feed page is not requested either: the feed is newest
    first, so the rest was seen by an earlier run, unless that run was killed
    before its end (it may have finished page 1 and not page 3): the run after
    such a run reads every page it may.

    The rule is the archive owner's (``Archive.check``); requests carry what it
    needs in their meta (``newscrawl_doc_id``, ``newscrawl_feed_mtime``,
    ``newscrawl_feed_page``), set by the spider.
    """

    def __init__(self, stats: StatsCollector, archive: Archive | None) -> None:
        self.stats = stats
        self.archive = archive
        self.resuming = False

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> ArchivedArticlesMiddleware:
        assert crawler.stats is not None
        middleware = cls(crawler.stats, archive_of(crawler))
        crawler.signals.connect(middleware.spider_opened, signal=signals.spider_opened)
        crawler.signals.connect(middleware.spider_closed, signal=signals.spider_closed)
        return middleware

    def spider_opened(self) -> None:
        if self.archive is not None:
            # After a killed run, or while an article's file is known missing, a
            # page of known articles does not end the reading: what was not done
            # (or was lost) may lie on a later page.
            unfinished = self.archive.start_crawl()
            self.resuming = unfinished or self.archive.has_missing()

    def spider_closed(self, reason: str) -> None:
        if self.archive is not None and reason == "finished":
            self.archive.end_crawl()

    async def process_spider_output(
        self, response: Response, result: AsyncIterator[Any]
    ) -> AsyncIterator[Any]:
        if FEED_PAGE not in response.meta:
            async for output in result:
                if not self.known(output):
                    yield output
            return
        # A feed page: hold its output back to see whether every article is known.
        outputs = [output async for output in result]
        articles = [o for o in outputs if isinstance(o, Request) and DOC_ID in o.meta]
        known = [o for o in articles if self.known(o)]
        stop = not self.resuming and bool(articles) and len(known) == len(articles)
        if stop:
            self.stats.inc_value("sina/feed/stopped_at_known")
            logger.info(
                "Feed page %s holds nothing new: not reading further", response.url
            )
        for output in outputs:
            if output in known:
                continue
            if stop and isinstance(output, Request) and FEED_PAGE in output.meta:
                continue
            yield output

    def known(self, output: Any) -> bool:
        """Whether ``output`` is a request for an archived, unchanged article."""
        if not isinstance(output, Request) or DOC_ID not in output.meta:
            return False
        verdict = self.check(
            output.meta[DOC_ID], output.url, output.meta.get(FEED_MTIME)
        )
        if verdict == "changed":
            self.stats.inc_value("archive/refetch/mtime_changed")
        elif verdict == "missing":
            self.stats.inc_value("archive/refetch/file_missing")
            logger.warning(
                "The archived file of %s is missing: fetching it again", output.url
            )
        elif verdict == "current":
            self.stats.inc_value("archive/skipped/known")
            return True
        return False

    def check(self, doc_id: str, url: str, feed_mtime: int | None) -> Freshness:
        """What the archive says of this feed item (see ``Archive.check``)."""
        assert self.archive is not None
        return self.archive.check(doc_id, url, feed_mtime)


class FeedDeadlineMiddleware:
    """Bounds the time a run spends failing to read the feed: ``SINA_FEED_GIVE_UP``.

    A host that accepts connections and never answers would otherwise hold a run for
    robots.txt and each feed retry at ``DOWNLOAD_TIMEOUT`` apiece (4 minutes with
    the defaults). Until the first feed page is read, robots.txt and feed requests
    get at most the time left before the deadline, and none is sent past it: the
    feed then fails with one line (exit 3). Once a feed page is read, nothing here
    applies.
    """

    def __init__(self, give_up: float, timeout: float) -> None:
        self.give_up = give_up
        self.timeout = timeout
        self.deadline = time.monotonic() + give_up
        self.read = False

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> FeedDeadlineMiddleware:
        give_up = crawler.settings.getfloat("SINA_FEED_GIVE_UP", 60)
        if give_up <= 0:
            raise NotConfigured("SINA_FEED_GIVE_UP is 0")
        middleware = cls(give_up, crawler.settings.getfloat("DOWNLOAD_TIMEOUT", 180))
        crawler.signals.connect(middleware.spider_opened, signal=signals.spider_opened)
        return middleware

    def spider_opened(self) -> None:
        self.deadline = time.monotonic() + self.give_up

    @staticmethod
    def bounded(request: Request) -> bool:
        """Whether the request is one the feed's reading waits for."""
        return (
            FEED_PAGE in request.meta
            or FEED_DAY in request.meta
            or urlsplit(request.url).path == "/robots.txt"
        )

    def process_request(self, request: Request) -> None:
        if self.read or not self.bounded(request):
            return
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise IgnoreRequest(
                f"no feed page read within SINA_FEED_GIVE_UP ({self.give_up:g} s):"
                " giving up"
            )
        timeout = request.meta.get("download_timeout", self.timeout)
        request.meta["download_timeout"] = max(0.5, min(timeout, left))

    def process_response(self, request: Request, response: Response) -> Response:
        if (
            not self.read
            and response.status == 200
            and (FEED_PAGE in request.meta or FEED_DAY in request.meta)
        ):
            self.read = True
        return response
