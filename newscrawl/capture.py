"""The raw capture of every fetch, as WARC records (newscrawl/archive/warc.py).

A downloader middleware placed after HttpCompressionMiddleware (590) in the order
responses travel, i.e. with a larger number: it sees each response as the server
sent it, still gzip-encoded, before Scrapy decompresses it. The record is written
through the archive owner before the response goes on, and made durable with the
batch of the group commit, before the index rows of that batch: the article the
spider reads from it counts as archived only once its capture is on disk.

A disk that refuses a record stops the run as a refused article file does (one
ERROR line, ``archive/failed/<errno>``, exit status 7); the response is dropped,
so nothing is archived without its capture.

A distributed worker captures nothing itself: newscrawl/distributed/capture.py
hands its fetches over to the writer, which writes them by the same rules.
"""

from __future__ import annotations

import errno
import logging
from typing import TYPE_CHECKING, Any

from scrapy.exceptions import IgnoreRequest, NotConfigured
from scrapy.utils.defer import deferred_from_coro

from newscrawl.archive.owner import archive_of
from newscrawl.archive.warc import Fetched
from newscrawl.meta import FEED_DAY, FEED_PAGE, WARC_CAPTURE
from newscrawl.sina.ids import doc_id_from_url

if TYPE_CHECKING:
    from collections.abc import Mapping

    from scrapy import Request
    from scrapy.crawler import Crawler
    from scrapy.http import Response

    from newscrawl.archive.owner import Archive

logger = logging.getLogger(__name__)


class CaptureRefusedError(IgnoreRequest):
    """The response was not captured (the disk refused it): it goes no further.
    The middleware said why, once; the spider's errbacks stay quiet."""


def fetch_metadata(request: Request) -> dict[str, Any] | None:
    """What the fetch was for, kept beside its record: the channel and feed item of
    an article page (``scrapy rebuild`` re-reads the page with them), the channel
    and page of a feed page (and the day of a backfill's window page); None for
    anything else (robots.txt)."""
    channel = request.cb_kwargs.get("channel")
    if channel is None:
        return None
    if FEED_PAGE in request.meta:
        return {
            "kind": "feed",
            "channel": channel.name,
            "page": request.meta[FEED_PAGE],
        }
    if FEED_DAY in request.meta:
        # A page of the feed's window of a day (backfill): a feed page too.
        return {
            "kind": "feed",
            "channel": channel.name,
            "day": request.meta[FEED_DAY],
            "page": request.cb_kwargs.get("page"),
        }
    entry = request.cb_kwargs.get("entry")
    return {
        "kind": "article",
        "channel": channel.name,
        "entry": None
        if entry is None
        else {
            "url": entry.url,
            "doc_id": entry.doc_id,
            "title": entry.title,
            "intime_raw": entry.intime_raw,
            "mtime": entry.mtime,
            "media_name": entry.media_name,
        },
    }


def filed_under(url: str, metadata: Mapping[str, Any] | None) -> tuple[str, ...]:
    """The doc ids the index may keep the versions of an article page under: the
    feed item's, and that of the URL the page came from (a redirect to another
    article is archived under its own id). The capture's revisit check looks the
    URL's last version up under them; a feed page has none."""
    if not metadata or metadata.get("kind") != "article":
        return ()
    entry = metadata.get("entry")
    listed = entry.get("doc_id") if isinstance(entry, dict) else None
    found = [listed] if isinstance(listed, str) else []
    landed = doc_id_from_url(url)
    if landed is not None:
        found.append(landed)
    return tuple(dict.fromkeys(found))


def fetched_of(request: Request, response: Response) -> Fetched:
    """The fetch as the server answered it (headers as received, body undecoded)."""
    return Fetched(
        url=response.url,
        status=response.status,
        headers=[
            (name.decode("latin-1"), value.decode("latin-1"))
            for name, values in response.headers.items()
            for value in values
        ],
        body=response.body,
        request_headers=[
            (name.decode("latin-1"), value.decode("latin-1"))
            for name, values in request.headers.items()
            for value in values
        ],
        method=request.method,
        protocol=response.protocol or "HTTP/1.1",
    )


class WarcCaptureMiddleware:
    """Writes each response (and its request) into the archive's WARC files."""

    def __init__(self, crawler: Crawler, archive: Archive) -> None:
        assert crawler.stats is not None
        self.crawler = crawler
        self.stats = crawler.stats
        self.archive = archive
        self.failure: str | None = None
        self._closing: list[Any] = []

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> WarcCaptureMiddleware:
        if not crawler.settings.getbool("ARCHIVE_WARC_ENABLED"):
            raise NotConfigured("ARCHIVE_WARC_ENABLED is off")
        return cls(crawler, archive_of(crawler))

    def process_response(self, request: Request, response: Response) -> Response:
        if "cached" in response.flags or self.failure is not None:
            if self.failure is not None:
                raise CaptureRefusedError(
                    f"not captured, the run is stopping: {request.url}"
                )
            return response
        metadata = fetch_metadata(request)
        try:
            capture = self.archive.capture(
                fetched_of(request, response),
                metadata,
                filed_under(response.url, metadata),
            )
        except OSError as exc:
            self.fail(exc, response.url)
            raise CaptureRefusedError(f"not captured: {response.url}") from exc
        request.meta[WARC_CAPTURE] = capture.to_dict()
        self.stats.inc_value("warc/revisits" if capture.revisit else "warc/responses")
        self.stats.inc_value("warc/bytes", capture.length)
        return response

    def fail(self, exc: OSError, url: str) -> None:
        """The disk refused a record: one line, a stat, and the run stops."""
        self.failure = errno.errorcode.get(exc.errno or 0, type(exc).__name__)
        self.stats.inc_value("archive/failed")
        self.stats.inc_value(f"archive/failed/{self.failure}")
        logger.error(
            "cannot write the capture of %s in %s (%s: %s); stopping the run",
            url,
            self.archive.warc_folder,
            self.failure,
            exc.strerror or exc,
        )
        engine = self.crawler.engine
        if engine is not None and not self._closing:
            self._closing.append(
                deferred_from_coro(engine.close_spider_async(reason="archive_failed"))
            )
