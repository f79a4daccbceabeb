"""Middlewares: skipping what the archive holds; Scrapy's robots.txt, quieter."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from scrapy import signals
from scrapy.downloadermiddlewares import robotstxt
from scrapy.downloadermiddlewares.robotstxt import RobotsTxtMiddleware
from scrapy.exceptions import NotConfigured
from scrapy.http import Request, Response

from newscrawl.archive.index import ArchiveIndex, index_path
from newscrawl.archive.runlog import end_crawl, start_crawl
from newscrawl.meta import DOC_ID, FEED_MTIME, FEED_PAGE

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
    then rewrites the file only if its bytes changed). When every article of a
    feed page is known and unchanged, the next feed page is not requested either:
    the feed is newest first, so the rest was seen by an earlier run, unless that
    run was killed before its end (it may have finished page 1 and not page 3): the
    run after such a run reads every page it may.

    Requests carry what is needed in their meta (``newscrawl_doc_id``,
    ``newscrawl_feed_mtime``, ``newscrawl_feed_page``), set by the spider.
    """

    def __init__(self, stats: StatsCollector, root: Path) -> None:
        self.stats = stats
        self.root = root
        self._index: ArchiveIndex | None = None
        self.resuming = False

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> ArchivedArticlesMiddleware:
        root = crawler.settings.get("ARCHIVE_DIR")
        if not root:
            raise NotConfigured("no ARCHIVE_DIR: nothing to skip")
        assert crawler.stats is not None
        middleware = cls(crawler.stats, Path(root))
        crawler.signals.connect(middleware.spider_opened, signal=signals.spider_opened)
        crawler.signals.connect(middleware.spider_closed, signal=signals.spider_closed)
        return middleware

    def spider_opened(self) -> None:
        self.resuming = start_crawl(self.root)

    def spider_closed(self, reason: str) -> None:
        if self._index is not None:
            self._index.close()
        if reason == "finished":
            end_crawl(self.root)

    @property
    def index(self) -> ArchiveIndex | None:
        """The index, once it exists: a new archive has nothing to skip."""
        if self._index is None and index_path(self.root).exists():
            self._index = ArchiveIndex.for_archive(self.root, create=False)
        return self._index

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
        doc_id, feed_mtime = output.meta[DOC_ID], output.meta.get(FEED_MTIME)
        archived, archived_mtime = self.lookup(doc_id)
        if not archived:
            return False
        if archived_mtime is None and feed_mtime is not None:
            # A row rebuilt by `reindex` from the files alone: the file is taken as
            # current and the feed's mtime adopted, so later edits are noticed.
            if not self.adopt(doc_id, output.url, feed_mtime):
                return False
            archived_mtime = feed_mtime
        if archived_mtime != feed_mtime:
            self.stats.inc_value("archive/refetch/mtime_changed")
            return False
        self.stats.inc_value("archive/skipped/known")
        return True

    def lookup(self, doc_id: str) -> tuple[bool, int | None]:
        """``(archived, feed mtime)`` of ``doc_id`` in the archive's index."""
        index = self.index
        return (False, None) if index is None else index.archived_mtime(doc_id)

    def adopt(self, doc_id: str, url: str, feed_mtime: int) -> bool:
        """Note the feed's mtime for an archived row that has none; True if noted."""
        index = self.index
        if index is None:
            return False
        index.saw(doc_id, url, feed_mtime)
        return True
