"""A distributed worker's raw capture: it writes no archive, so it hands its fetches
over to the writer, which writes the WARC records by the single-machine rules
(newscrawl/capture.py, newscrawl/archive/warc.py).

An article page's fetch rides on its request, to go with the article's hand-over
(or with a ``withdrawn`` note when the page of an archived article answers 404 or
410: newscrawl/distributed/middleware.py); a feed page's fetch, which no article
carries, is handed over on its own as soon as it arrives, within the same bound
of waiting hand-overs as articles (``REDIS_HANDOFF_MAX_WAITING``).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from scrapy.exceptions import NotConfigured

from newscrawl.archive.warc import fetch_to_json
from newscrawl.capture import fetch_metadata, fetched_of
from newscrawl.distributed.codec import encode_fetch
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


class HandoffCaptureMiddleware:
    """Keeps each article page's raw fetch on its request; hands each feed page's
    over to the writer."""

    def __init__(
        self, stats: StatsCollector, link: WorkerLink, max_waiting: int = 0
    ) -> None:
        self.stats = stats
        self.link = link
        self.handoff = Handoff(link.client, link.keys)
        self.max_waiting = max_waiting

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> HandoffCaptureMiddleware:
        if not crawler.settings.getbool("ARCHIVE_WARC_ENABLED"):
            raise NotConfigured("ARCHIVE_WARC_ENABLED is off")
        assert crawler.stats is not None
        return cls(
            crawler.stats,
            WorkerLink.of(crawler),
            crawler.settings.getint("REDIS_HANDOFF_MAX_WAITING"),
        )

    async def process_response(self, request: Request, response: Response) -> Response:
        metadata = fetch_metadata(request)
        if "cached" in response.flags or not metadata:
            return response
        fetch = fetch_to_json(fetched_of(request, response), metadata)
        if metadata["kind"] == "article":
            request.meta[WARC_FETCH] = fetch
            return response
        await self.hand_over(encode_fetch(fetch), response.url)
        return response

    async def hand_over(self, message: bytes, url: str) -> None:
        """Hand a feed page's fetch over, once there is room. Redis failing is
        said once by the link, which stops the worker; the page goes on (its
        articles are fetched again by the next run, as the page is)."""
        await wait_for_room(self.link, self.handoff, self.max_waiting, self.stats)
        try:
            self.link.call(
                "handing a feed page over", lambda: self.handoff.put(message)
            )
        except RedisUnavailableError:
            self.stats.inc_value("warc/handoff/failed")
            return
        self.stats.inc_value("warc/handed_off")
        logger.debug("Handed the fetch of %s over", url)
