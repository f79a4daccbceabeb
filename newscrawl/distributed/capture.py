"""A distributed worker's raw capture: it writes no archive, so it hands its fetches
over to the writer, which writes the WARC records by the single-machine rules
(newscrawl/capture.py, newscrawl/archive/warc.py). Every fetch is handed over
exactly once: with its article, with a ``withdrawn`` note, or alone (a ``fetch``
message), within the bound of waiting hand-overs (``REDIS_HANDOFF_MAX_WAITING``) —
but for the two sent from code that cannot wait (a Twisted errback, a spider
middleware's ``process_spider_exception``): a ``withdrawn`` note and the fetch of a
callback that raised, rare, one message each over the bound at most.

Who hands a fetch over is decided in two places, each seeing every outcome of its
stage, rather than on each path that may lose it:

- In the downloader (HandoffCaptureMiddleware), as each response arrives: only an
  article page's answer that may become an article (2xx) or a ``withdrawn`` note
  (404, 410) rides on its request (``WARC_FETCH``); every other fetch — a feed page,
  a redirect, an error answer, retried or not — no article can carry, so it goes
  over alone at once. (Riding on, a retried or redirected answer would be copied
  into the next request, through the shared queue, and overwritten by its answer.)
- After the spider (FetchLeftoverMiddleware): the fetch riding on the request is
  taken by whatever carries it on, which removes it from the request — the article
  leaving the spider for the pipelines, the ``withdrawn`` note
  (newscrawl/distributed/middleware.py). What is left when the response's
  processing ends (callback or errback: not HTML, refused by ``read_article``,
  an HTTP error not withdrawn, an exception) goes over alone; so does the fetch of
  an article a pipeline drops or fails on (``item_dropped``, ``item_error``: the
  article, and its fetch with it, never reached HandoffPipeline).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

from itemadapter import ItemAdapter, is_item
from scrapy import signals
from scrapy.exceptions import NotConfigured

from newscrawl.archive.warc import fetch_to_json
from newscrawl.capture import fetch_metadata, fetched_of
from newscrawl.distributed.codec import WITHDRAWN_STATUSES, encode_fetch
from newscrawl.distributed.handoff import Handoff
from newscrawl.distributed.link import WorkerLink
from newscrawl.distributed.pipelines import wait_for_room
from newscrawl.distributed.shared import RedisUnavailableError
from newscrawl.meta import WARC_FETCH

if TYPE_CHECKING:
    from scrapy import Request
    from scrapy.crawler import Crawler
    from scrapy.http import Response
    from scrapy.statscollectors import StatsCollector

logger = logging.getLogger(__name__)


def may_carry(status: int) -> bool:
    """Whether an article page's answer ``status`` may go over with what it
    becomes: an article (2xx) or a ``withdrawn`` note (404, 410)."""
    return 200 <= status < 300 or status in WITHDRAWN_STATUSES


class FetchHandover:
    """Hands raw fetches over alone, as ``fetch`` messages, within the bound."""

    def __init__(
        self, stats: StatsCollector, link: WorkerLink, max_waiting: int = 0
    ) -> None:
        self.stats = stats
        self.link = link
        self.handoff = Handoff(link.client, link.keys)
        self.max_waiting = max_waiting

    @classmethod
    def of(cls, crawler: Crawler) -> FetchHandover:
        if not crawler.settings.getbool("ARCHIVE_WARC_ENABLED"):
            raise NotConfigured("ARCHIVE_WARC_ENABLED is off")
        assert crawler.stats is not None
        return cls(
            crawler.stats,
            WorkerLink.of(crawler),
            crawler.settings.getint("REDIS_HANDOFF_MAX_WAITING"),
        )

    async def hand_over(self, fetch: str, url: str) -> None:
        """Hand ``fetch`` (``fetch_to_json``'s text) over, once there is room."""
        await wait_for_room(self.link, self.handoff, self.max_waiting, self.stats)
        self.put(fetch, url)

    def put(self, fetch: str, url: str) -> None:
        """Hand ``fetch`` over now. Redis failing is said once by the link, which
        stops the worker; the crawl goes on (the next run fetches the page again)."""
        message = encode_fetch(fetch)
        try:
            self.link.call("handing a fetch over", lambda: self.handoff.put(message))
        except RedisUnavailableError:
            self.stats.inc_value("warc/handoff/failed")
            return
        self.stats.inc_value("warc/handed_off")
        logger.debug("Handed the fetch of %s over", url)


class HandoffCaptureMiddleware:
    """Keeps on its request the fetch of an article page that may become an
    article or a ``withdrawn`` note; hands every other fetch over alone."""

    def __init__(
        self, stats: StatsCollector, link: WorkerLink, max_waiting: int = 0
    ) -> None:
        self.handover = FetchHandover(stats, link, max_waiting)

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> HandoffCaptureMiddleware:
        handover = FetchHandover.of(crawler)
        return cls(handover.stats, handover.link, handover.max_waiting)

    async def process_request(self, request: Request) -> None:
        # A fetch still on a request entering the downloader belongs to the answer
        # it was copied from (a redirect the answer asked for: a meta refresh):
        # this request's own answer is about to take its place.
        superseded = request.meta.pop(WARC_FETCH, None)
        if superseded is not None:
            await self.handover.hand_over(superseded, request.url)

    async def process_response(self, request: Request, response: Response) -> Response:
        metadata = fetch_metadata(request)
        if "cached" in response.flags or not metadata:
            return response
        fetch = fetch_to_json(fetched_of(request, response), metadata)
        if metadata["kind"] == "article" and may_carry(response.status):
            request.meta[WARC_FETCH] = fetch
            return response
        await self.handover.hand_over(fetch, response.url)
        return response


class FetchLeftoverMiddleware:
    """Spider middleware, outermost (it sees the spider's output last): hands over
    alone the fetch that nothing carried on (see the module's docstring)."""

    def __init__(self, handover: FetchHandover) -> None:
        self.handover = handover

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> FetchLeftoverMiddleware:
        middleware = cls(FetchHandover.of(crawler))
        crawler.signals.connect(middleware.item_lost, signal=signals.item_dropped)
        crawler.signals.connect(middleware.item_lost, signal=signals.item_error)
        return middleware

    async def process_spider_output(
        self, response: Response, result: AsyncIterator[Any]
    ) -> AsyncIterator[Any]:
        meta = response.meta
        try:
            async for output in result:
                if (
                    WARC_FETCH in meta
                    and is_item(output)
                    and ItemAdapter(output).get("fetch") == meta[WARC_FETCH]
                ):
                    # The article carries it on: the pipelines hand both over.
                    del meta[WARC_FETCH]
                yield output
        finally:
            # Also when the callback or errback raised: no fetch is left behind.
            leftover = meta.pop(WARC_FETCH, None)
            if leftover is not None:
                await self.handover.hand_over(leftover, response.url)

    def process_spider_exception(
        self, response: Response, exception: Exception
    ) -> None:
        # A callback or errback raised (a bug): hand its fetch over here, as an
        # errback that raises for an HTTP error never reaches process_spider_output
        # (Scrapy offers its exception to this method only). No waiting for room
        # (this method cannot wait): one message over the bound, at most, per
        # such exception.
        leftover = response.meta.pop(WARC_FETCH, None)
        if leftover is not None:
            self.handover.put(leftover, response.url)

    async def item_lost(self, item: Any) -> None:
        """A pipeline dropped or failed on an article: its fetch goes over alone."""
        adapter = ItemAdapter(item)
        fetch = adapter.get("fetch")
        if isinstance(fetch, str):
            await self.handover.hand_over(fetch, str(adapter.get("url")))
