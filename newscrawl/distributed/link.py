"""A worker's Redis connection, shared by its components; what a failure does."""

from __future__ import annotations

import logging
import os
import secrets
import socket
from collections.abc import Callable
from typing import TYPE_CHECKING, ClassVar, TypeVar
from weakref import WeakKeyDictionary

from redis.exceptions import RedisError
from scrapy.utils.asyncio import call_later
from scrapy.utils.defer import deferred_from_coro

from newscrawl.distributed.shared import (
    RedisUnavailableError,
    connect,
    keys_from,
    unavailable,
    worker_timeout,
)

if TYPE_CHECKING:
    from scrapy.crawler import Crawler

logger = logging.getLogger(__name__)

_T = TypeVar("_T")

#: The reason a worker's spider closes with when Redis fails.
REDIS_UNAVAILABLE = "redis_unavailable"


class WorkerLink:
    """The Redis of one worker (one crawler): client, keys, identity, failure.

    The first Redis error anywhere (scheduler, middleware, pipeline) is logged
    once, in one line, and closes the spider; later calls fail at once instead of
    waiting for the network again.
    """

    _links: ClassVar[WeakKeyDictionary[Crawler, WorkerLink]] = WeakKeyDictionary()

    def __init__(self, crawler: Crawler) -> None:
        settings = crawler.settings
        self.crawler = crawler
        self.client = connect(settings)
        self.keys = keys_from(settings)
        self.timeout = worker_timeout(settings)
        #: Unique among all workers of all machines, readable in Redis.
        self.worker = f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"
        self.lost: str | None = None

    @classmethod
    def of(cls, crawler: Crawler) -> WorkerLink:
        """The link of ``crawler``, made on first use."""
        link = cls._links.get(crawler)
        if link is None:
            link = cls._links[crawler] = cls(crawler)
        return link

    def call(self, doing: str, command: Callable[[], _T]) -> _T:
        """``command()``; RedisUnavailableError if Redis fails now or failed before."""
        if self.lost is not None:
            raise RedisUnavailableError(self.lost)
        try:
            return command()
        except RedisError as exc:
            self.fail(exc, doing)
            raise RedisUnavailableError(self.lost) from exc

    def fail(self, exc: Exception, doing: str) -> None:
        """Redis failed: say so once and close the spider."""
        self.refuse(unavailable(self.crawler.settings, exc, doing))

    def refuse(self, why: str) -> None:
        """Redis cannot be used (``why``): say so once and close the spider."""
        if self.lost is not None:
            return
        self.lost = why
        logger.error(
            "%s: this worker stops; articles it has not handed over are fetched"
            " by the next run",
            self.lost,
        )
        self.crawler.stats.set_value("redis/unavailable", 1)
        # Not from inside the engine's own call (a scheduler method): next turn.
        call_later(0, self._close)

    def _close(self) -> None:
        try:
            engine = self.crawler.engine
        except RuntimeError:  # not crawling yet: the scheduler's open() stops it
            return
        if engine.spider is not None:
            deferred_from_coro(engine.close_spider_async(reason=REDIS_UNAVAILABLE))
