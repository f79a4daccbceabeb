"""Skipping archived articles on a worker that has no archive, only Redis."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Iterable
from typing import TYPE_CHECKING, Any

from scrapy import signals
from scrapy.http import Request

from newscrawl.archive.owner import Freshness, freshness
from newscrawl.distributed.codec import Seen, encode_seen, encode_withdrawn
from newscrawl.distributed.handoff import ArchivedIds, Handoff
from newscrawl.distributed.link import WorkerLink
from newscrawl.distributed.runs import Membership
from newscrawl.distributed.shared import RedisUnavailableError
from newscrawl.meta import DOC_ID, FEED_PAGE, WARC_FETCH
from newscrawl.middlewares import ArchivedArticlesMiddleware

if TYPE_CHECKING:
    from scrapy.crawler import Crawler
    from scrapy.http import Response
    from scrapy.statscollectors import StatsCollector

logger = logging.getLogger(__name__)


class SharedArchivedArticlesMiddleware(ArchivedArticlesMiddleware):
    """ArchivedArticlesMiddleware for distributed workers: the archive is in Redis.

    The rule is the base class's (skip an article archived with the same feed
    mtime; stop at a feed page that holds nothing new unless the run before did
    not finish); what it reads is the ``archived`` hash the writer keeps, and
    whether the run before finished comes from the run itself (runs.py).

    Feed page requests go through the shared dupefilter here, although the spider
    marks them ``dont_filter``: however many workers start, each page is fetched
    once per run (the dupefilter of a run is new, so the next run reads it again).
    """

    def __init__(
        self,
        stats: StatsCollector,
        link: WorkerLink,
        archived: ArchivedIds,
        handoff: Handoff,
        membership: Membership,
    ) -> None:
        # Workers have no archive: what they skip is in Redis.
        super().__init__(stats, None)
        self.link = link
        self.archived = archived
        self.handoff = handoff
        self.membership = membership
        self._mtimes: dict[str, tuple[bool, int | None]] = {}

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> SharedArchivedArticlesMiddleware:
        link = WorkerLink.of(crawler)
        middleware = cls(
            crawler.stats,
            link,
            ArchivedIds(link.client, link.keys),
            Handoff(link.client, link.keys),
            Membership(link.client, link.keys, link.worker, link.timeout),
        )
        crawler.signals.connect(middleware.spider_opened, signal=signals.spider_opened)
        return middleware

    def spider_opened(self) -> None:
        # The scheduler has joined the run by now (it opens before this signal).
        try:
            self.resuming = self.link.call("reading the run", self.membership.resuming)
        except RedisUnavailableError:
            self.resuming = False

    async def process_start(self, start: AsyncIterator[Any]) -> AsyncIterator[Any]:
        async for output in start:
            yield _filtered(output)

    async def process_spider_output(
        self, response: Response, result: AsyncIterator[Any]
    ) -> AsyncIterator[Any]:
        outputs = [output async for output in result]
        self._mtimes = self._lookup(outputs)
        try:
            async for output in super().process_spider_output(
                response, _replay(outputs)
            ):
                yield _filtered(output)
        finally:
            self._mtimes = {}

    def _lookup(self, outputs: Iterable[Any]) -> dict[str, tuple[bool, int | None]]:
        # One round trip for a feed page's fifty articles, not fifty.
        doc_ids = [
            o.meta[DOC_ID]
            for o in outputs
            if isinstance(o, Request) and DOC_ID in o.meta
        ]
        try:
            return self.link.call(
                "reading the archived ids", lambda: self.archived.mtimes(doc_ids)
            )
        except RedisUnavailableError:
            return {}

    def check(self, doc_id: str, url: str, feed_mtime: int | None) -> Freshness:
        """The archive's rule, on the archived ids read for this page."""
        archived, archived_mtime = self._mtimes.get(doc_id, (False, None))
        verdict, adopt = freshness(archived, archived_mtime, feed_mtime)
        if adopt and feed_mtime is not None and not self.adopt(doc_id, url, feed_mtime):
            return "new"
        return verdict

    def adopt(self, doc_id: str, url: str, feed_mtime: int) -> bool:
        """Hand the feed's mtime over: the writer notes it in the index and hash."""
        seen = Seen(doc_id, url, feed_mtime)
        try:
            self.link.call(
                "handing over a feed mtime",
                lambda: self.handoff.put(encode_seen(seen)),
            )
        except RedisUnavailableError:
            return False
        return True


def hand_over_withdrawal(
    crawler: Crawler, doc_id: str, url: str, status: int, meta: dict[str, Any]
) -> bool:
    """The page of ``doc_id`` answered ``status`` (404, 410): if the ``archived``
    hash holds the article, hand a ``withdrawn`` note over (with the answer's raw
    fetch, for the capture) for the writer to mark it, and return True (not a
    failure); False if the article is not archived (or Redis failed), as the
    single-machine crawl does."""
    link = WorkerLink.of(crawler)
    try:
        found = link.call(
            "reading the archived ids",
            lambda: ArchivedIds(link.client, link.keys).mtimes([doc_id]),
        )
        if not found[doc_id][0]:
            return False
        message = encode_withdrawn(doc_id, url, status, meta.get(WARC_FETCH))
        handoff = Handoff(link.client, link.keys)
        link.call("handing a withdrawn article over", lambda: handoff.put(message))
    except RedisUnavailableError:
        return False
    # The note carries the fetch: nothing else hands it over (capture.py).
    meta.pop(WARC_FETCH, None)
    assert crawler.stats is not None
    crawler.stats.inc_value("archive/handoff/withdrawn")
    logger.info("Handed over: %s answers %d (archived: withdrawn)", url, status)
    return True


def _filtered(output: Any) -> Any:
    if isinstance(output, Request) and FEED_PAGE in output.meta and output.dont_filter:
        return output.replace(dont_filter=False)
    return output


async def _replay(outputs: list[Any]) -> AsyncIterator[Any]:
    for output in outputs:
        yield output
