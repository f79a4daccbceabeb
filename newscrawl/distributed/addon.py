"""The add-on that turns a crawl into a distributed worker when REDIS_URL is set."""

from __future__ import annotations

from typing import TYPE_CHECKING

from newscrawl.distributed import enabled

if TYPE_CHECKING:
    from scrapy.settings import BaseSettings


#: FetchLeftoverMiddleware's place: before HttpErrorMiddleware (50), i.e. outside it.
FETCH_LEFTOVER_ORDER = 10


class DistributedMode:
    """Scrapy add-on: with ``REDIS_URL`` set, the crawl is a distributed worker.

    It then uses scrapy-redis's scheduler and a per-run dupefilter on that Redis
    (newscrawl/distributed/scheduler.py), hands articles over to the archive
    writer instead of writing them, skips what the writer's ``archived`` hash
    holds, and sums the run up as a worker. Without ``REDIS_URL`` it changes
    nothing, and neither scrapy-redis nor redis is imported.
    """

    def update_settings(self, settings: BaseSettings) -> None:
        if not enabled(settings):
            return
        # Imported here: a single-machine crawl needs none of it.
        from newscrawl.capture import WarcCaptureMiddleware
        from newscrawl.distributed.capture import (
            FetchLeftoverMiddleware,
            HandoffCaptureMiddleware,
        )
        from newscrawl.distributed.extensions import WorkerOutcome
        from newscrawl.distributed.middleware import SharedArchivedArticlesMiddleware
        from newscrawl.distributed.pipelines import HandoffPipeline
        from newscrawl.distributed.scheduler import RunDupeFilter, SharedScheduler
        from newscrawl.extensions import RunOutcome
        from newscrawl.middlewares import ArchivedArticlesMiddleware
        from newscrawl.pipelines import ArchivePipeline

        settings.set("SCHEDULER", SharedScheduler, priority="addon")
        settings.set("DUPEFILTER_CLASS", RunDupeFilter, priority="addon")
        # Queued requests as JSON data: pickle would let Redis run code on workers.
        settings.set(
            "SCHEDULER_SERIALIZER",
            "newscrawl.distributed.serializer",
            priority="addon",
        )
        settings.replace_in_component_priority_dict(
            "ITEM_PIPELINES", ArchivePipeline, HandoffPipeline
        )
        settings.replace_in_component_priority_dict(
            "SPIDER_MIDDLEWARES",
            ArchivedArticlesMiddleware,
            SharedArchivedArticlesMiddleware,
        )
        settings.replace_in_component_priority_dict(
            "EXTENSIONS", RunOutcome, WorkerOutcome
        )
        # Workers write no archive: each raw fetch goes to the writer, with its
        # article or alone (newscrawl/distributed/capture.py).
        settings.replace_in_component_priority_dict(
            "DOWNLOADER_MIDDLEWARES", WarcCaptureMiddleware, HandoffCaptureMiddleware
        )
        # Outermost: it sees what the spider's output became after every other.
        settings["SPIDER_MIDDLEWARES"][FetchLeftoverMiddleware] = FETCH_LEFTOVER_ORDER
