"""The Sina Finance spider: roll feed pages → article pages → Article items."""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, date, datetime, timedelta
from http import HTTPStatus
from typing import TYPE_CHECKING, Any

import scrapy
from itemadapter import ItemAdapter
from scrapy import signals
from scrapy.exceptions import (
    CannotResolveHostError,
    CloseSpider,
    DownloadCancelledError,
    DownloadConnectionRefusedError,
    DownloadFailedError,
    DownloadTimeoutError,
    IgnoreRequest,
    ResponseDataLossError,
    UsageError,
)
from scrapy.http import Request, Response, TextResponse
from scrapy.spidermiddlewares.httperror import HttpError
from twisted.internet import task
from twisted.internet.error import ConnectionLost
from twisted.web.client import ResponseFailed

from newscrawl.archive.owner import archive_of
from newscrawl.capture import CaptureRefusedError
from newscrawl.distributed import enabled as distributed
from newscrawl.items import Article
from newscrawl.meta import (
    DOC_ID,
    FEED_DAY,
    FEED_MTIME,
    FEED_PAGE,
    WARC_CAPTURE,
    WARC_FETCH,
)
from newscrawl.page import PageResult, read_article
from newscrawl.sina.channels import Channel, load_channels
from newscrawl.sina.dates import BEIJING, plausible
from newscrawl.sina.feed import (
    FeedEntry,
    FeedError,
    feed_url,
    outside,
    parse_feed,
    window_url,
)
from newscrawl.sina.ids import doc_id_from_url, is_article_url

if TYPE_CHECKING:
    from scrapy.crawler import Crawler
    from scrapy.settings import BaseSettings
    from twisted.python.failure import Failure

logger = logging.getLogger(__name__)

_STATUSES = frozenset(s.value for s in HTTPStatus)
# What an article page may be served as; "" (no Content-Type) is sniffed as HTML.
_HTML_TYPES = frozenset({"", "text/html", "application/xhtml+xml"})


class SinaFinanceSpider(scrapy.Spider):
    """Reads the roll feed of each channel and yields one Article per feed item.

    Arguments (``-a name=value``): ``channels`` (comma-separated names from
    ``SINA_CHANNELS``), ``pages`` (feed pages per channel), ``since`` (YYYY-MM-DD,
    Beijing time: older items are not fetched), ``url`` (archive this one article
    page instead of reading the feed), ``backfill`` (FROM[:TO], Beijing days: every
    article of those days, through the feed's date window; see ``start``).
    """

    name = "sina_finance"
    #: The ``-a`` arguments the spider knows; any other is a usage error.
    ARGUMENTS = ("backfill", "channels", "pages", "since", "url")

    def __init__(
        self,
        channels: str | None = None,
        pages: str | None = None,
        since: str | None = None,
        url: str | None = None,
        backfill: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.arguments = {
            "channels": channels,
            "pages": pages,
            "since": since,
            "url": url,
            "backfill": backfill,
        }

    @classmethod
    def from_crawler(cls, crawler: Crawler, *args: Any, **kwargs: Any) -> Any:
        spider = super().from_crawler(crawler, *args, **kwargs)
        spider.configure(crawler.settings)
        crawler.signals.connect(spider.item_dropped, signal=signals.item_dropped)
        crawler.signals.connect(spider.closed_backfill, signal=signals.spider_closed)
        return spider

    def item_dropped(self, item: Any) -> None:
        """A backfilled article was refused: coverage counts it as dropped."""
        doc_id = ItemAdapter(item).get("doc_id")
        if self.backfill is not None and isinstance(doc_id, str):
            archive_of(self.crawler).note_outcome(doc_id, "dropped")

    def closed_backfill(self) -> None:
        """Mark the days this backfill read complete where every item is archived."""
        if self.backfill is not None:
            settled = self.settle_days()
            self.crawler.stats.set_value("backfill/days/complete", settled)

    @classmethod
    def check_arguments(cls, settings: BaseSettings, arguments: dict[str, str]) -> None:
        """Raise UsageError for bad ``-a`` arguments before the crawl starts.

        Called by the project's crawl command, so that a typo gives one usage line
        instead of a traceback from inside the engine; an unknown argument (``-a
        page=3`` for ``pages``) would otherwise start a full crawl silently.
        """
        unknown = sorted(set(arguments) - set(cls.ARGUMENTS))
        if unknown:
            raise UsageError(
                f"unknown spider argument(s) {', '.join(unknown)}:"
                f" sina_finance knows {', '.join(cls.ARGUMENTS)}"
            )
        cls(**arguments).configure(settings)

    def configure(self, settings: BaseSettings) -> None:
        """Read the arguments and SINA_* settings; UsageError says what to fix."""
        try:
            known = load_channels(settings.getdict("SINA_CHANNELS"))
        except ValueError as exc:
            raise UsageError(f"SINA_CHANNELS: {exc}") from exc
        arguments = self.arguments
        names = [
            c.strip() for c in (arguments["channels"] or "").split(",") if c.strip()
        ]
        names = names or settings.getlist("SINA_DEFAULT_CHANNELS")
        unknown = [n for n in names if n not in known]
        if unknown or not names:
            raise UsageError(
                f"unknown channel(s) {', '.join(unknown) or '(none)'}:"
                f" choose from {', '.join(sorted(known))}"
            )
        self.channels: list[Channel] = [known[n] for n in names]
        self.feed_endpoint: str = settings.get("SINA_FEED_URL")
        self.hosts = frozenset(
            h.lower() for h in settings.getlist("SINA_ARTICLE_HOSTS")
        )
        pages = arguments["pages"]
        self.max_pages = (
            _positive_int("pages", pages)
            if pages
            else settings.getint("SINA_FEED_PAGES")
        )
        self.num = settings.getint("SINA_FEED_NUM", 50)
        self.maxsize = settings.getint("DOWNLOAD_MAXSIZE")
        ratio = settings.getfloat("CLEAN_MAX_REPLACEMENT_RATIO")
        if not 0 <= ratio <= 1:
            raise UsageError(
                f"CLEAN_MAX_REPLACEMENT_RATIO must be between 0 and 1, not {ratio}"
            )
        self.max_replacement_ratio = ratio
        self.since = _parse_since(arguments["since"]) if arguments["since"] else None
        self.article_url = arguments["url"]
        self.today = datetime.now(BEIJING).date()
        self.backfill = (
            _parse_backfill(arguments["backfill"], self.today)
            if arguments["backfill"]
            else None
        )
        if self.backfill and (self.article_url or self.since):
            raise UsageError("-a backfill= goes with neither -a url= nor -a since=")
        if self.backfill and distributed(settings):
            raise UsageError("-a backfill= runs on one machine: unset REDIS_URL")
        self.live_every = settings.getfloat("SINA_BACKFILL_LIVE_EVERY", 300)
        #: Per channel name: the days backfill has yet to read, newest first.
        self.days_ahead: dict[str, list[date]] = {}
        #: Per (channel name, day): the window's total, once read.
        self.day_totals: dict[tuple[str, str], int] = {}
        #: Days to read in all, for the progress estimate.
        self.days_planned = 0
        # Doc ids requested in this run: the feed lists an item again on the next
        # page when newer items push it down between two page fetches.
        self.listed: set[str] = set()
        #: (channel name, day) of the days whose window this run read to its end.
        self.read_days: list[tuple[str, date]] = []
        if self.article_url and not is_article_url(self.article_url, self.hosts):
            raise UsageError(
                f"-a url={self.article_url} is not an article page on"
                f" SINA_ARTICLE_HOSTS ({', '.join(sorted(self.hosts))})"
            )

    async def start(self) -> AsyncIterator[Any]:
        if self.article_url:
            yield self.article_request(self.article_url, self.channels[0], None)
            return
        if self.backfill is not None:
            for request in self.plan_backfill(*self.backfill):
                yield request
            return
        for channel in self.channels:
            yield self.feed_request(channel, 1)

    # --- Backfill: the feed's date window, day by day -------------------------------

    def plan_backfill(self, first: date, last: date) -> list[Request]:
        """The first window request of each channel; the days it will walk.

        Days go newest first, each day's pages until its total, then the next day.
        A day marked complete in the index is not read again, except the two days
        before now (today and yesterday), which may still change. A killed backfill
        resumes where it stopped: finished days are complete, and the day it was in
        costs its feed pages, not its archived articles.
        """
        archive = archive_of(self.crawler)
        recent = self.today - timedelta(days=1)
        requests = []
        for channel in self.channels:
            complete = archive.complete_days(channel.name)
            days = []
            day = last
            while day >= first:
                name = day.isoformat()
                if day >= recent or (
                    name not in complete and not archive.settle_day(channel.name, name)
                ):
                    days.append(day)
                day -= timedelta(days=1)
            skipped = (last - first).days + 1 - len(days)
            logger.info(
                "Backfill of %s, %s to %s: %d day(s) to read, %d complete already",
                channel.name,
                first,
                last,
                len(days),
                skipped,
            )
            self.crawler.stats.inc_value("backfill/days/complete_before", skipped)
            self.days_planned += len(days)
            self.days_ahead[channel.name] = days
            request = self.next_day(channel)
            if request is not None:
                requests.append(request)
        # Cron runs find the archive held: the backfill reads the live feed for them.
        if self.live_every > 0:
            self.live_reader = task.LoopingCall(self.read_live)
            self.live_reader.start(self.live_every, now=True)
            self.crawler.signals.connect(self.stop_live, signal=signals.spider_closed)
        return requests

    def next_day(self, channel: Channel) -> Request | None:
        """The first window request of the channel's next day, if any is left."""
        days = self.days_ahead[channel.name]
        return self.window_request(channel, days.pop(0), 1) if days else None

    def window_request(self, channel: Channel, day: date, page: int) -> Request:
        """The request of one page of the feed's window of ``day``."""
        return Request(
            window_url(
                self.feed_endpoint, channel.pageid, channel.lid, day, page, self.num
            ),
            callback=self.parse_window,
            errback=self.window_failed,
            cb_kwargs={"channel": channel, "day": day, "page": page},
            dont_filter=True,
            meta={"dont_cache": True, FEED_DAY: day.isoformat()},
        )

    def parse_window(
        self, response: Response, channel: Channel, day: date, page: int
    ) -> Iterator[Request]:
        """Yield the day's new articles, then its next page or the next day."""
        stats = self.crawler.stats
        try:
            parsed = parse_feed(
                response.text if isinstance(response, TextResponse) else "", self.hosts
            )
        except FeedError as exc:
            self.feed_unreadable(response.url, str(exc))
            yield from self.day_done(channel, day)
            return
        stray = outside(parsed.entries, day)
        if stray is not None:
            # The window's parameters come from public code, not Sina's documents:
            # if Sina stops honouring them, reading on would archive the wrong days.
            stats.inc_value("sina/feed/failed")
            stats.inc_value("sina/feed/window_ignored")
            assert stray.intime is not None
            logger.error(
                "The feed ignored the date window of %s: %s lists %s, published %s;"
                " stopping the backfill (see SINA.md, the feed's date window)",
                day,
                response.url,
                stray.url,
                stray.intime.astimezone(BEIJING).isoformat(),
            )
            raise CloseSpider("feed_window_ignored")
        stats.inc_value("sina/feed/window_pages")
        total = parsed.total if parsed.total is not None else len(parsed.entries)
        self.day_totals[channel.name, day.isoformat()] = total
        archive_of(self.crawler).record_window(
            channel.name, day.isoformat(), total, [e.doc_id for e in parsed.entries]
        )
        for entry in parsed.entries:
            if entry.doc_id in self.listed:
                continue
            self.listed.add(entry.doc_id)
            stats.inc_value("sina/feed/items")
            yield self.article_request(entry.url, channel, entry)
        if parsed.entries and page * self.num < total:
            yield self.window_request(channel, day, page + 1)
        else:
            yield from self.day_done(channel, day)

    def day_done(self, channel: Channel, day: date) -> Iterator[Request]:
        """The day's pages are read: on to the next day of the channel."""
        self.crawler.stats.inc_value("backfill/days/read")
        self.read_days.append((channel.name, day))
        request = self.next_day(channel)
        if request is not None:
            yield request

    def window_failed(self, failure: Failure) -> Iterator[Request]:
        """A window page could not be fetched: the day stays incomplete; go on."""
        self.feed_failed(failure)
        request = failure.request  # type: ignore[attr-defined]
        yield from self.day_done(request.cb_kwargs["channel"], request.cb_kwargs["day"])

    def read_live(self) -> None:
        """Read the live feed's first pages, as a cron run would (see plan_backfill)."""
        engine = self.crawler.engine
        if engine is None or not engine.running:
            return
        self.crawler.stats.inc_value("backfill/live_reads")
        for channel in self.channels:
            engine.crawl(self.feed_request(channel, 1))

    def stop_live(self) -> None:
        """The run is over: no more live reads."""
        if self.live_reader.running:
            self.live_reader.stop()

    def settle_days(self) -> int:
        """Mark the days read in this run complete where every item is archived."""
        archive = archive_of(self.crawler)
        recent = self.today - timedelta(days=1)
        settled = 0
        for name, day in self.read_days:
            if day < recent and archive.settle_day(name, day.isoformat()):
                settled += 1
        return settled

    def progress_total(self) -> tuple[int, bool]:
        """(articles this run expects, whether that is an estimate)."""
        stats = self.crawler.stats
        listed = int(stats.get_value("sina/feed/items", 0))
        if self.backfill is None:
            return listed, False
        known = sum(self.day_totals.values())
        unread = self.days_planned - len(self.day_totals)
        if unread <= 0 or not self.day_totals:
            return max(known, listed), unread > 0
        mean = known / len(self.day_totals)
        return max(int(known + mean * unread), listed), True

    # --- The feed ------------------------------------------------------------------

    def feed_request(self, channel: Channel, page: int) -> Request:
        """The request of one feed page of ``channel``."""
        return Request(
            feed_url(self.feed_endpoint, channel.pageid, channel.lid, page, self.num),
            callback=self.parse_feed,
            errback=self.feed_failed,
            cb_kwargs={"channel": channel, "page": page},
            # Feed pages change every minute: never let a dupefilter or cache skip one.
            dont_filter=True,
            meta={"dont_cache": True, FEED_PAGE: page},
        )

    def parse_feed(
        self, response: Response, channel: Channel, page: int
    ) -> Iterator[Request]:
        """Yield a request per new feed item, then the next feed page if wanted."""
        assert self.crawler.stats is not None
        stats = self.crawler.stats
        try:
            parsed = parse_feed(
                response.text if isinstance(response, TextResponse) else "", self.hosts
            )
        except FeedError as exc:
            self.feed_unreadable(response.url, str(exc))
            return
        stats.inc_value("sina/feed/pages")
        for reason, count in parsed.rejected.items():
            stats.inc_value(f"sina/feed/rejected/{reason}", count)
            logger.warning(
                "Feed %s: %d item(s) rejected (%s)", response.url, count, reason
            )
        reached_since = False
        duplicates = unusable_intime = 0
        for entry in parsed.entries:
            if entry.intime is None or not plausible(entry.intime):
                # The article's page gives the date instead (see parse_article).
                unusable_intime += 1
            if self.since and entry.intime and entry.intime < self.since:
                reached_since = True
                stats.inc_value("sina/feed/older_than_since")
                continue
            if entry.doc_id in self.listed:
                duplicates += 1
                continue
            self.listed.add(entry.doc_id)
            stats.inc_value("sina/feed/items")
            yield self.article_request(entry.url, channel, entry)
        if duplicates:
            stats.inc_value("sina/feed/duplicates", duplicates)
            logger.info(
                "Feed %s: %d item(s) already listed earlier in this run",
                response.url,
                duplicates,
            )
        if unusable_intime:
            stats.inc_value("sina/feed/unusable_intime", unusable_intime)
            logger.warning(
                "Feed %s: %d item(s) without a usable intime (missing, not a Unix"
                " time, before 1990 or in the future): their pages give the date",
                response.url,
                unusable_intime,
            )
        # The feed says how many items the channel has: no need to ask past them.
        more = parsed.total is None or page * self.num < parsed.total
        if parsed.entries and more and not reached_since and page < self.max_pages:
            yield self.feed_request(channel, page + 1)

    def feed_failed(self, failure: Failure) -> None:
        """The feed could not be fetched: say which and why, in one line."""
        if isinstance(failure.value, CaptureRefusedError):
            return  # the capture middleware said why, once
        request = failure.request  # type: ignore[attr-defined]
        url = request.meta.get("redirect_urls", [request.url])[0]
        self.feed_unreadable(url, describe_failure(failure, request, self.maxsize)[1])

    def feed_unreadable(self, url: str, reason: str) -> None:
        """Count and log a feed page that gave no items."""
        assert self.crawler.stats is not None
        self.crawler.stats.inc_value("sina/feed/failed")
        logger.error("Cannot read the feed %s: %s", url, reason)

    # --- Articles ------------------------------------------------------------------

    def article_request(
        self, url: str, channel: Channel, entry: FeedEntry | None
    ) -> Request:
        """The request of one article page."""
        return Request(
            url,
            callback=self.parse_article,
            errback=self.article_failed,
            cb_kwargs={"channel": channel, "entry": entry},
            # What the archive needs to skip the request without fetching it.
            meta={DOC_ID: entry.doc_id, FEED_MTIME: entry.mtime} if entry else {},
            # A page's articles go before the next feed page: the queue then holds
            # one page of requests, not the whole feed, however long the run.
            priority=1,
        )

    def parse_article(
        self, response: Response, channel: Channel, entry: FeedEntry | None
    ) -> Iterator[Article]:
        """Build the Article of one page; what the page lacks, the feed item gives."""
        url = entry.url if entry else response.url
        listed = None
        landed = doc_id_from_url(response.url)
        if entry is not None and landed is not None and landed != entry.doc_id:
            # The listed page redirects to another article (a 301 from one doc id
            # to another): archive that article under its own id, once; the feed
            # item describes another page, so its values are not used.
            listed, entry, url = entry, None, response.url
            self.crawler.stats.inc_value("sina/article/redirected_to_other")
        content_type = (response.headers.get(b"Content-Type") or b"").decode("latin-1")
        mime = content_type.partition(";")[0].strip().lower()
        # Scrapy guesses HTML from the URL's .shtml when the header says image/png.
        if not isinstance(response, TextResponse) or mime not in _HTML_TYPES:
            self.article_unusable(
                url,
                "not_html",
                f"not an HTML page ({content_type or 'no Content-Type'})",
                verb="use",
                doc_id=entry.doc_id if entry else None,
            )
            return
        result = read_article(
            response.body,
            {"Content-Type": content_type},
            url,
            channel,
            entry,
            max_replacement_ratio=self.max_replacement_ratio,
        )
        self.take_notes(result, url)
        if result.article is not None:
            capture = response.meta.get(WARC_CAPTURE)
            if capture is not None:
                result.article.capture = json.dumps(capture)
            # Distributed mode: the writer captures the fetch handed over with it.
            result.article.fetch = response.meta.get(WARC_FETCH)
            if listed is not None:
                result.article.listed_doc_id = listed.doc_id
                result.article.listed_feed_mtime = listed.mtime
            # A refused article goes on to ValidatePipeline, which drops it: one
            # "Dropped: <reason>: <url>" line and a validate/dropped/<key> stat.
            yield result.article

    def take_notes(self, result: PageResult, url: str) -> None:
        """Turn what ``read_article`` noticed into stats and log lines."""
        assert self.crawler.stats is not None
        stats = self.crawler.stats
        decoding = result.decoding
        if decoding.overrides_declaration:
            stats.inc_value("sina/encoding/corrected")
            logger.info(
                "Page %s declares %s but its bytes are %s: read as %s",
                url,
                decoding.label,
                decoding.encoding,
                decoding.encoding,
            )
        if decoding.replacements:
            stats.inc_value("sina/encoding/damaged_pages")
            stats.inc_value("sina/encoding/replacements", decoding.replacements)
            stats.max_value("sina/encoding/replacements_max", decoding.replacements)
            logger.warning(
                "Page %s: %d byte sequence(s) undecodable as %s, read as U+FFFD",
                url,
                decoding.replacements,
                decoding.encoding,
            )
        for name in result.missing:
            stats.inc_value(f"sina/missing/{name}")
        for kind, count in result.removed.items():
            stats.inc_value(f"clean/removed/{kind}", count)
        if result.article is None and result.refusal is not None:
            # No doc id: nothing to hand to the pipelines.
            stats.inc_value(f"validate/dropped/{result.refusal.key}")
            logger.warning("Dropped: %s: %s", result.refusal.reason, url)

    def article_unusable(
        self,
        url: str,
        detail: str,
        reason: str,
        verb: str = "fetch",
        doc_id: str | None = None,
    ) -> None:
        """Count and log an article that could not be fetched or read."""
        assert self.crawler.stats is not None
        if doc_id is not None and self.backfill is not None:
            archive_of(self.crawler).note_outcome(doc_id, "failed")
        self.crawler.stats.inc_value("sina/article/failed")
        self.crawler.stats.inc_value(f"sina/article/failed/{detail}")
        logger.error("Cannot %s the article %s: %s", verb, url, reason)

    def article_failed(self, failure: Failure) -> None:
        """An article page could not be fetched: count it; the crawl goes on."""
        if isinstance(failure.value, CaptureRefusedError):
            return  # the capture middleware said why, once; the run stops
        request = failure.request  # type: ignore[attr-defined]
        # A redirected request fails under its last URL; the feed gave the first.
        url = request.meta.get("redirect_urls", [request.url])[0]
        if self.withdrawn(failure, request, url):
            return
        detail, reason = describe_failure(failure, request, self.maxsize)
        self.article_unusable(url, detail, reason, doc_id=request.meta.get(DOC_ID))

    def withdrawn(self, failure: Failure, request: Request, url: str) -> bool:
        """Whether the page of an archived article now answers 404 or 410: Sina
        took it down. The archive keeps it, marked withdrawn; not a failure."""
        response = getattr(failure.value, "response", None)
        doc_id = request.meta.get(DOC_ID)
        if response is None or response.status not in (404, 410) or not doc_id:
            return False
        if distributed(self.crawler.settings):
            # A worker has no archive: the writer marks it, if it holds it.
            from newscrawl.distributed.middleware import hand_over_withdrawal

            return hand_over_withdrawal(
                self.crawler, doc_id, url, response.status, request.meta
            )
        archive = archive_of(self.crawler)
        row, _ = archive.index.lookup(doc_id) if archive.has_index() else (None, None)
        if row is None or not row.archived:
            return False
        assert self.crawler.stats is not None
        if archive.withdraw(row.doc_id, response.status):
            self.crawler.stats.inc_value("sina/article/withdrawn")
            logger.warning(
                "Withdrawn: %s answers %d; the archived %s is kept, marked withdrawn",
                url,
                response.status,
                row.path,
            )
        return True


def describe_failure(
    failure: Failure, request: Request, default_maxsize: int
) -> tuple[str, str]:
    """``(stat detail, one-line reason)`` of a failed download."""
    exc = failure.value
    retried = request.meta.get("retry_times", 0)
    after = ""
    if retried:
        after = f" (after {retried} retr{'y' if retried == 1 else 'ies'})"
    if isinstance(exc, HttpError):
        status = exc.response.status
        phrase = HTTPStatus(status).phrase if status in _STATUSES else ""
        return f"http_{status}", f"HTTP {status} {phrase}".rstrip() + after
    if isinstance(exc, DownloadTimeoutError):
        timeout = request.meta.get("download_timeout")
        return "timeout", f"no complete answer within {timeout} s{after}"
    if isinstance(exc, DownloadCancelledError):
        # Scrapy cancels a download for one reason: its size.
        maxsize = request.meta.get("download_maxsize", default_maxsize)
        return "too_large", f"larger than DOWNLOAD_MAXSIZE ({maxsize} bytes)"
    if isinstance(exc, ResponseDataLossError):
        # A Content-Length the body did not reach: cut, or reset, mid-answer.
        return "incomplete", f"the connection closed mid-body (data loss){after}"
    said = f" ({exc})" if str(exc) else ""
    if isinstance(exc, DownloadConnectionRefusedError):
        return "refused", f"connection refused{said}{after}"
    if isinstance(exc, CannotResolveHostError):
        return "dns", f"cannot resolve the host{said}{after}"
    if isinstance(exc, (DownloadFailedError, ResponseFailed, ConnectionLost)):
        return "connection_lost", f"the connection broke mid-answer{after}"
    if isinstance(exc, IgnoreRequest):
        message = str(exc) or "request ignored"
        if "max redirections" in message:
            return "redirect_loop", "more redirects than REDIRECT_MAX_TIMES (a loop?)"
        if "robots.txt" in message:
            return "robots_txt", "forbidden by robots.txt"
        if "off-site" in message:
            return "redirect_offsite", message
        return "ignored", message
    return "error", failure.getErrorMessage()


def _positive_int(name: str, value: str | int) -> int:
    try:
        number = int(value)
    except ValueError:
        number = 0
    if number < 1:
        raise UsageError(f"-a {name}= wants a whole number of 1 or more, not {value!r}")
    return number


def _parse_backfill(value: str, today: date) -> tuple[date, date]:
    """``FROM[:TO]`` as two Beijing days, TO today by default."""
    first_text, _, last_text = value.partition(":")
    try:
        first = date.fromisoformat(first_text.strip())
        last = date.fromisoformat(last_text.strip()) if last_text.strip() else today
    except ValueError as exc:
        raise UsageError(
            f"-a backfill= wants FROM[:TO] as YYYY-MM-DD[:YYYY-MM-DD], not {value!r}"
        ) from exc
    if first > last:
        raise UsageError(f"-a backfill={value}: FROM comes after TO")
    if last > today:
        raise UsageError(f"-a backfill={value}: TO is after today ({today}, Beijing)")
    return first, last


def _parse_since(value: str) -> datetime:
    """The start of a Beijing calendar day, as an aware instant."""
    try:
        day = datetime.strptime(value, "%Y-%m-%d").replace(tzinfo=BEIJING)
    except ValueError as exc:
        raise UsageError(
            f"-a since= wants a date as YYYY-MM-DD, not {value!r}"
        ) from exc
    return day.astimezone(UTC)
