"""Item pipelines, one job each: drop what the page path refused, archive."""

from __future__ import annotations

import errno
import io
import logging
import sqlite3
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from itemadapter import ItemAdapter
from scrapy.exceptions import DropItem, NotConfigured
from scrapy.utils.defer import deferred_from_coro

from newscrawl.archive import DEFAULT_PATH_TEMPLATE, UnsafePathError
from newscrawl.archive.index import IndexRow
from newscrawl.archive.store import ArticleStore
from newscrawl.exporters import FrontMatterItemExporter, header_value
from newscrawl.page import refusal
from newscrawl.signals import article_archived
from newscrawl.sina.dates import beijing_day

if TYPE_CHECKING:
    from scrapy.crawler import Crawler
    from scrapy.statscollectors import StatsCollector

logger = logging.getLogger(__name__)


class ValidatePipeline:
    """Drops an article that ``newscrawl.page.read_article`` refused (no title, no
    date, no article text, a video or gallery page, damaged text…): one
    ``Dropped: <reason>: <url>`` line and a ``validate/dropped/<key>`` stat."""

    def __init__(self, stats: StatsCollector) -> None:
        self.stats = stats

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> ValidatePipeline:
        assert crawler.stats is not None
        return cls(crawler.stats)

    def process_item(self, item: Any) -> Any:
        adapter = ItemAdapter(item)
        reason = adapter.get("refused")
        if reason:
            self.stats.inc_value(f"validate/dropped/{refusal(reason).key}")
            raise DropItem(f"{reason}: {adapter['url']}")
        return item


class ArchivePipeline:
    """Writes each article to its file in the archive and records it in the index.

    The path comes from ``ARCHIVE_PATH_TEMPLATE``; the bytes from the exporter. An
    article whose file already holds the same bytes is not rewritten.

    A write the disk refuses (full, read-only, …) stops the run: the next write
    would meet the same disk. The write leaves no partial file and the index keeps
    the article as not archived (newscrawl/archive/store.py); the error is one
    ERROR line, a stat ``archive/failed/<errno name>`` and a failed run.
    """

    def __init__(self, crawler: Crawler, store: ArticleStore) -> None:
        assert crawler.stats is not None
        self.crawler = crawler
        self.stats = crawler.stats
        self.store = store
        #: Why the archive cannot be written, once a write failed.
        self.failure: str | None = None
        self._closing: Any = None

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> ArchivePipeline:
        settings = crawler.settings
        root = settings.get("ARCHIVE_DIR")
        if not root:
            raise NotConfigured("set ARCHIVE_DIR to the folder of the archive")
        try:
            store = ArticleStore(
                Path(root), settings.get("ARCHIVE_PATH_TEMPLATE", DEFAULT_PATH_TEMPLATE)
            )
        except ValueError as exc:
            raise NotConfigured(str(exc)) from exc
        return cls(crawler, store)

    def close_spider(self) -> None:
        self.store.close()

    def process_item(self, item: Any) -> Any:
        adapter = ItemAdapter(item)
        if self.failure is not None:
            self.stats.inc_value("archive/dropped/stopping")
            raise DropItem(
                f"not archived, the run is stopping ({self.failure}): {adapter['url']}"
            )
        published: datetime = adapter["published"]
        try:
            path = self.store.path_of(
                categories=adapter["categories"],
                day=beijing_day(published),
                doc_id=adapter["doc_id"],
            )
        except UnsafePathError as exc:
            self.stats.inc_value("archive/dropped/unsafe_path")
            raise DropItem(f"unsafe archive path for {adapter['url']}: {exc}") from exc
        row = IndexRow(
            doc_id=adapter["doc_id"],
            url=adapter["url"],
            path=path.as_posix(),
            title=header_value(adapter["title"]),
            published=published.astimezone(UTC).isoformat(),
            feed_mtime=adapter.get("feed_mtime"),
        )
        try:
            stored = self.store.store(row, _export(item))
        except (OSError, sqlite3.Error) as exc:
            self.failure = _disk_error(exc)
            self.stats.inc_value("archive/failed")
            self.stats.inc_value(f"archive/failed/{self.failure}")
            self.stop_run()
            raise DropItem(
                f"cannot write {path.as_posix()} in the archive {self.store.root}"
                f" ({self.failure}: {_reason(exc)}); stopping the run",
                log_level="ERROR",
            ) from exc
        if stored.change == "unchanged":
            self.stats.inc_value("archive/skipped/unchanged")
            return item
        self.stats.inc_value(
            "archive/written" if stored.change == "created" else "archive/updated"
        )
        logger.info(
            "%s %s (%s)",
            "Archived" if stored.change == "created" else "Updated",
            stored.path,
            adapter["url"],
        )
        self.crawler.signals.send_catch_log(
            signal=article_archived, path=stored.path, change=stored.change
        )
        return item

    def stop_run(self) -> None:
        """Close the spider: requests in flight are dropped, the run ends."""
        engine = self.crawler.engine
        if engine is not None and self._closing is None:
            # As Scrapy's CloseSpider extension does; kept so it is not collected.
            self._closing = deferred_from_coro(
                engine.close_spider_async(reason="archive_failed")
            )


def _disk_error(exc: OSError | sqlite3.Error) -> str:
    """A short name for a failed write: ENOSPC, EROFS, EACCES, SQLITE_FULL …"""
    if isinstance(exc, OSError):
        return errno.errorcode.get(exc.errno or 0, type(exc).__name__)
    return getattr(exc, "sqlite_errorname", None) or type(exc).__name__


def _reason(exc: OSError | sqlite3.Error) -> str:
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return str(exc)


def _export(item: Any) -> bytes:
    # The exporter formats into a buffer; only the archive touches files.
    buffer = io.BytesIO()
    exporter = FrontMatterItemExporter(buffer)
    exporter.start_exporting()
    exporter.export_item(item)
    exporter.finish_exporting()
    return buffer.getvalue()
