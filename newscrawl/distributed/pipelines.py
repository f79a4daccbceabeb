"""The last pipeline of a distributed worker: hand the article over to the writer."""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any

from itemadapter import ItemAdapter
from scrapy.exceptions import DropItem

from newscrawl.distributed.codec import encode_item
from newscrawl.distributed.handoff import Handoff
from newscrawl.distributed.link import WorkerLink
from newscrawl.distributed.shared import RedisUnavailableError

if TYPE_CHECKING:
    from scrapy.crawler import Crawler
    from scrapy.statscollectors import StatsCollector

logger = logging.getLogger(__name__)

#: Seconds between two looks at the waiting hand-overs while the queue is full.
WAIT = 0.2


class HandoffPipeline:
    """Hands each article over to the archive writer through Redis.

    It takes the place of ArchivePipeline on workers: the writer runs that
    pipeline, with the same exporter and index, on what this one hands over.
    """

    def __init__(
        self, stats: StatsCollector, link: WorkerLink, max_waiting: int = 0
    ) -> None:
        self.stats = stats
        self.link = link
        self.handoff = Handoff(link.client, link.keys)
        #: Hand-overs may wait for the writer up to this many (0: no bound).
        self.max_waiting = max_waiting

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> HandoffPipeline:
        return cls(
            crawler.stats,
            WorkerLink.of(crawler),
            crawler.settings.getint("REDIS_HANDOFF_MAX_WAITING"),
        )

    async def process_item(self, item: Any) -> Any:
        message = encode_item(item)
        await self.wait_for_room()
        try:
            self.link.call("handing an article over", lambda: self.handoff.put(message))
        except RedisUnavailableError as exc:
            self.stats.inc_value("archive/handoff/failed")
            raise DropItem(
                f"not handed over (Redis unavailable): {ItemAdapter(item)['url']}"
            ) from exc
        self.stats.inc_value("archive/handed_off")
        logger.debug("Handed over %s", ItemAdapter(item)["url"])
        return item

    async def wait_for_room(self) -> None:
        """Wait while the writer lags (``wait_for_room``)."""
        await wait_for_room(self.link, self.handoff, self.max_waiting, self.stats)


async def wait_for_room(
    link: WorkerLink, handoff: Handoff, max_waiting: int, stats: StatsCollector
) -> None:
    """While more than ``max_waiting`` hand-overs wait, wait: a hand-over holds
    a raw page (tens of KB), and a lagging writer must not fill Redis. Workers
    slow down to the writer's pace instead."""
    if max_waiting <= 0:
        return
    waited = False
    while True:
        try:
            waiting = link.call("counting waiting hand-overs", handoff.waiting)
        except RedisUnavailableError:
            return  # handing over says so, once
        if waiting < max_waiting:
            break
        if not waited:
            stats.inc_value("archive/handoff/waited")
            waited = True
        await asyncio.sleep(WAIT)
