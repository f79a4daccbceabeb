"""The last pipeline of a distributed worker: hand the article over to the writer."""

from __future__ import annotations

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


class HandoffPipeline:
    """Hands each article over to the archive writer through Redis.

    It takes the place of ArchivePipeline on workers: the writer runs that
    pipeline, with the same exporter and index, on what this one hands over.
    """

    def __init__(self, stats: StatsCollector, link: WorkerLink) -> None:
        self.stats = stats
        self.link = link
        self.handoff = Handoff(link.client, link.keys)

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> HandoffPipeline:
        return cls(crawler.stats, WorkerLink.of(crawler))

    def process_item(self, item: Any) -> Any:
        message = encode_item(item)
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
