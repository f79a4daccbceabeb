"""scrapy-redis's scheduler, queue and dupefilter, for workers that come and go.

scrapy-redis shares the request queue and the fingerprints of seen requests among
workers. What it leaves open, and these subclasses add (see runs.py):

- when a worker may close: not while the shared queue holds requests or another
  live worker is busy, since either means more work may come;
- a dupefilter per run, deleted at the run's end, so that Redis does not keep
  every fingerprint for ever and the next run can fetch again what this one lost;
- a Redis failure closes the worker with one clear line instead of a traceback
  per call (link.py).
"""

from __future__ import annotations

import contextlib
import json
import logging
import uuid
from datetime import UTC, datetime
from importlib import import_module
from typing import TYPE_CHECKING, Any, cast

from redis.exceptions import RedisError
from scrapy import signals
from scrapy.exceptions import CloseSpider, DontCloseSpider
from scrapy.utils.asyncio import call_later, create_looping_call
from scrapy.utils.defer import deferred_from_coro
from scrapy.utils.misc import load_object
from scrapy_redis.dupefilter import RFPDupeFilter  # type: ignore[import-untyped]
from scrapy_redis.queue import PriorityQueue  # type: ignore[import-untyped]
from scrapy_redis.scheduler import Scheduler  # type: ignore[import-untyped]

from newscrawl.distributed.link import REDIS_UNAVAILABLE, WorkerLink
from newscrawl.distributed.runs import Joined, Membership, RunEndedError
from newscrawl.distributed.shared import (
    RedisUnavailableError,
    RedisUnsuitableError,
    check_server,
)
from newscrawl.sina.channels import load_channels

if TYPE_CHECKING:
    from redis import Redis
    from scrapy import Spider
    from scrapy.crawler import Crawler
    from scrapy.http import Request
    from scrapy.settings import BaseSettings
    from scrapy.statscollectors import StatsCollector

logger = logging.getLogger(__name__)

#: The reason a worker's spider closes with when its run ended without it.
RUN_ENDED = "run_ended"

#: Seconds between two looks at the shared queue while this worker has nothing to
#: do. Scrapy looks every 5 s (its engine's heartbeat): far too slow for workers
#: that wait for the requests of a feed page another worker is reading.
POLL_INTERVAL = 0.1


class RunQueue(PriorityQueue):  # type: ignore[misc]
    """scrapy-redis's priority queue whose pop also marks the worker busy."""

    def __init__(
        self,
        server: Redis,
        spider: Spider,
        key: str,
        serializer: Any = None,
        *,
        membership: Membership,
        stats: StatsCollector,
    ) -> None:
        super().__init__(server, spider, key, serializer)
        self.membership = membership
        self.stats = stats

    def pop(self, timeout: int = 0) -> Request | None:
        data = self.membership.pop()
        if data is None:
            return None
        try:
            return self.decode(data)
        except (ValueError, TypeError) as exc:
            # Whoever wrote it can write to Redis; it is dropped, never run.
            logger.error(
                "Refused a request from the shared queue %s: %s (%d bytes: %r)",
                self.key,
                exc,
                len(data),
                data[:40],
            )
            self.stats.inc_value("scheduler/refused/redis")
            return None

    def decode(self, data: bytes) -> Request:
        """The request of queued ``data``; ValueError or TypeError if it is not one."""
        return cast("Request", self._decode_request(data))

    def fingerprints_of_all(self, dupefilter: RFPDupeFilter) -> list[str]:
        """The fingerprints of every queued request (refused ones are left out)."""
        encoded = cast("list[bytes]", self.server.zrange(self.key, 0, -1))
        fingerprints = []
        for data in encoded:
            # What is not a request is refused, in one line, when it is popped.
            with contextlib.suppress(ValueError, TypeError):
                request = self.decode(data)
                fingerprints.append(
                    cast("str", dupefilter.request_fingerprint(request))
                )
        return fingerprints


class RunDupeFilter(RFPDupeFilter):  # type: ignore[misc]
    """scrapy-redis's dupefilter on the key of one run, kept when a worker closes.

    The run's last worker deletes the key (Membership.leave); a worker closing
    earlier must not, or the others would fetch again what it had seen.
    """

    def close(self, reason: str = "") -> None:
        pass


class SharedScheduler(Scheduler):  # type: ignore[misc]
    """scrapy-redis's scheduler, taking part in runs (runs.py)."""

    def __init__(self, crawler: Crawler, link: WorkerLink) -> None:
        settings = crawler.settings
        super().__init__(
            server=link.client,
            # The queue outlives every worker: a worker closing must not clear it.
            persist=True,
            queue_key=link.keys.requests,
            queue_cls=RunQueue,
            dupefilter_cls=settings.get("DUPEFILTER_CLASS"),
            # JSON, not scrapy-redis's default pickle (serializer.py); the add-on
            # sets it, as scrapy-redis's own setting.
            serializer=import_module(settings.get("SCHEDULER_SERIALIZER")),
        )
        self.crawler = crawler
        self.link = link
        self.stats = crawler.stats
        self.membership = Membership(link.client, link.keys, link.worker, link.timeout)
        self.debug = settings.getbool("DUPEFILTER_DEBUG")
        self._beat: Any = None
        self._waiting = False
        #: The run ended without this worker (RunEndedError): it takes no more part.
        self.ended = False
        self._closing: Any = None
        crawler.signals.connect(self.spider_idle, signal=signals.spider_idle)

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> SharedScheduler:
        return cls(crawler, WorkerLink.of(crawler))

    # --- Opening and closing ---------------------------------------------------------

    def open(self, spider: Spider) -> None:
        self.spider = spider
        proposed = f"{datetime.now(UTC):%Y%m%dT%H%M%SZ}-{uuid.uuid4().hex[:8]}"
        own = run_arguments(spider)
        try:
            check_server(self.server, self.crawler.settings)
            joined = self.membership.join(proposed, own)
            self.queue = RunQueue(
                self.server,
                spider,
                self.queue_key,
                self.serializer,
                membership=self.membership,
                stats=self.stats,
            )
            dupefilter_cls = load_object(self.dupefilter_cls)
            self.df = dupefilter_cls(
                self.server, key=self.link.keys.dupefilter(joined.run), debug=self.debug
            )
            self.announce(joined, started=joined.run == proposed)
            adopt_arguments(spider, self.crawler.settings, joined, own)
        except RedisError as exc:
            # Not CloseSpider: Scrapy 2.19 then skips opening the scraper and fails
            # to close it. The link closes the spider as soon as it is open.
            self.link.fail(exc, "joining the run")
            return
        except RedisUnsuitableError as exc:
            self.link.refuse(str(exc))
            return
        self._beat = create_looping_call(self.heartbeat)
        # A fifth of the timeout: a late beat or two do not make a worker look dead.
        self._beat.start(self.link.timeout / 5, now=False)
        self.crawler.engine._SLOT_HEARTBEAT_INTERVAL = POLL_INTERVAL

    def announce(self, joined: Joined, *, started: bool) -> None:
        """Log the run this worker takes part in; carry over an abandoned queue."""
        queued = len(self.queue)
        if started and queued:
            # Requests left by a run whose workers all died (or lost Redis): they
            # are fetched in this run, and only once, even if the feed lists them.
            fingerprints = self.queue.fingerprints_of_all(self.df)
            if fingerprints:
                self.server.sadd(self.df.key, *fingerprints)
        logger.info(
            "Worker %s %s run %s (%d request(s) queued%s)",
            self.link.worker,
            "started" if started else "joined",
            joined.run,
            queued,
            "; the run before it did not finish: every feed page is read"
            if joined.resuming
            else "",
        )

    def close(self, reason: str) -> None:
        if self._beat is not None and self._beat.running:
            self._beat.stop()
        if self.link.lost is not None or self.ended:
            # Leaving is for a member of the current run; an ended worker is not.
            return
        try:
            last = self.link.call(
                "leaving the run",
                lambda: self.membership.leave(finished=reason == "finished"),
            )
        except RedisUnavailableError:
            return
        if last:
            logger.info("Run %s is over: this was its last worker", self.membership.run)

    def heartbeat(self) -> None:
        """Tell the other workers that this one is alive."""
        try:
            self.link.call("sending the heartbeat", self.membership.heartbeat)
        except (RedisUnavailableError, RunEndedError) as exc:
            if self._beat is not None and self._beat.running:
                self._beat.stop()
            if isinstance(exc, RunEndedError):
                self.run_ended()

    def run_ended(self) -> None:
        """The run ended without this worker (it was stopped too long): close.

        It takes no request and queues none from now on: its dupefilter is the
        old run's, and the next run would fetch twice what it queued. What it
        had taken is fetched by the next run (the old one was left unfinished).
        """
        if self.ended:
            return
        self.ended = True
        logger.warning(
            "Run %s ended without worker %s, which was stopped for longer than"
            " REDIS_WORKER_TIMEOUT (%g s): it stops and takes no part in the next"
            " run, which fetches what it held",
            self.membership.run,
            self.link.worker,
            self.link.timeout,
        )
        self.stats.set_value("redis/run_ended", 1)
        # Not from inside the engine's own call (a scheduler method): next turn.
        call_later(0, self._close_ended)

    def _close_ended(self) -> None:
        engine = self.crawler.engine
        if engine is not None and engine.spider is not None and self._closing is None:
            self._closing = deferred_from_coro(
                engine.close_spider_async(reason=RUN_ENDED)
            )

    def spider_idle(self) -> None:
        """Keep the spider open while other workers may still push requests."""
        if self.ended:
            return
        try:
            reasons = self.link.call(
                "checking whether the run is over", self.membership.idle
            )
        except RedisUnavailableError as exc:
            raise CloseSpider(REDIS_UNAVAILABLE) from exc
        if reasons:
            if not self._waiting:
                logger.info("Idle: waiting for requests from the other workers")
                self._waiting = True
            raise DontCloseSpider
        self._waiting = False

    # --- The queue -------------------------------------------------------------------

    # scrapy-redis's own enqueue_request and next_request pass a ``spider`` argument
    # to the stats, which Scrapy 2.19 deprecates: these do the same without it.

    def enqueue_request(self, request: Request) -> bool:
        if self.ended:
            return False
        try:
            return self.link.call("queueing a request", lambda: self._enqueue(request))
        except RedisUnavailableError:
            return False
        except RunEndedError:
            self.run_ended()
            return False

    def _enqueue(self, request: Request) -> bool:
        # A worker stopped past the timeout must not queue through its old
        # run's dupefilter into the next run (pop and heartbeat check as well).
        self.membership.check()
        if not request.dont_filter and self.df.request_seen(request):
            self.df.log(request, self.spider)
            return False
        self.queue.push(request)
        self.stats.inc_value("scheduler/enqueued/redis")
        return True

    def next_request(self) -> Request | None:
        if self.ended:
            return None
        try:
            request = self.link.call("taking a request", self.queue.pop)
        except RedisUnavailableError:
            return None
        except RunEndedError:
            self.run_ended()
            return None
        if request is None:
            return None
        self._waiting = False
        self.stats.inc_value("scheduler/dequeued/redis")
        return request

    def has_pending_requests(self) -> bool:
        if self.ended:
            return False
        try:
            return bool(
                self.link.call("reading the queue", super().has_pending_requests)
            )
        except RedisUnavailableError:
            return False


# --- The spider arguments of a run ---------------------------------------------------


def run_arguments(spider: Spider) -> str:
    """The spider's arguments that shape a run (feed pages, channels), as JSON.

    Workers of one run share its feed pages: which worker reads a page decides
    whether the next is read, so they must agree on these. "" for a spider that
    has none.
    """
    pages = getattr(spider, "max_pages", None)
    channels = getattr(spider, "channels", None)
    if not isinstance(pages, int) or not isinstance(channels, list):
        return ""
    names = [c.name for c in channels]
    return json.dumps({"pages": pages, "channels": names}, ensure_ascii=False)


def adopt_arguments(
    spider: Spider, settings: BaseSettings, joined: Joined, own: str
) -> bool:
    """Give ``spider`` the arguments of the run it joined, if they are not its
    own; return whether it took them. One WARNING line when they differ."""
    if not joined.arguments or not own or joined.arguments == own:
        return False
    try:
        stored = json.loads(joined.arguments)
        pages, names = stored["pages"], stored["channels"]
        known = load_channels(settings.getdict("SINA_CHANNELS"))
        if type(pages) is not int or pages < 1 or not isinstance(names, list):
            raise ValueError(joined.arguments)
        channels = [known[name] for name in names]
    except (ValueError, KeyError, TypeError) as exc:
        # Not what a worker of this project stores, or channels this one's
        # SINA_CHANNELS lacks: it keeps its own arguments.
        logger.warning(
            "Run %s has arguments this worker cannot take (%r); it keeps its own (%s)",
            joined.run,
            exc,
            _shown(own),
        )
        return False
    logger.warning(
        "Worker joins run %s with the run's arguments (%s), not its own (%s): a"
        " run's arguments are those of the worker that started it",
        joined.run,
        _shown(joined.arguments),
        _shown(own),
    )
    setattr(spider, "max_pages", pages)  # noqa: B010 (set on any spider)
    setattr(spider, "channels", channels)  # noqa: B010
    return True


def _shown(arguments: str) -> str:
    values = json.loads(arguments)
    return f"pages={values['pages']} channels={','.join(values['channels'])}"
