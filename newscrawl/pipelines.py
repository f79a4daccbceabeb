"""Item pipelines, one job each: clean the body, validate, archive."""

from __future__ import annotations

import io
import logging
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from itemadapter import ItemAdapter
from scrapy.exceptions import DropItem, NotConfigured

from newscrawl.archive import DEFAULT_PATH_TEMPLATE, UnsafePathError
from newscrawl.archive.index import IndexRow
from newscrawl.archive.store import ArticleStore
from newscrawl.cleaning import clean_body
from newscrawl.exporters import FrontMatterItemExporter, header_value
from newscrawl.signals import article_archived
from newscrawl.sina.dates import beijing_day

if TYPE_CHECKING:
    from scrapy.crawler import Crawler
    from scrapy.statscollectors import StatsCollector

logger = logging.getLogger(__name__)


class CleanBodyPipeline:
    """Cleans ``body_raw`` into ``body`` by FORMAT.md's policy; picks ``image``."""

    def __init__(self, stats: StatsCollector) -> None:
        self.stats = stats

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> CleanBodyPipeline:
        assert crawler.stats is not None
        return cls(crawler.stats)

    def process_item(self, item: Any) -> Any:
        adapter = ItemAdapter(item)
        cleaned = clean_body(adapter["body_raw"], adapter["url"])
        adapter["body"] = cleaned.html
        adapter["image"] = cleaned.image or adapter["default_image"]
        for kind, count in cleaned.removed.items():
            self.stats.inc_value(f"clean/removed/{kind}", count)
        return item


class ValidatePipeline:
    """Drops an article without a title, a publication time or a body after cleaning."""

    def __init__(self, stats: StatsCollector) -> None:
        self.stats = stats

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> ValidatePipeline:
        assert crawler.stats is not None
        return cls(crawler.stats)

    def process_item(self, item: Any) -> Any:
        adapter = ItemAdapter(item)
        for field, reason in (
            ("title", "no_title"),
            ("published", "no_date"),
            ("body", "empty_body"),
        ):
            if not adapter.get(field):
                self.stats.inc_value(f"validate/dropped/{reason}")
                raise DropItem(f"{reason.replace('_', ' ')}: {adapter['url']}")
        return item


class ArchivePipeline:
    """Writes each article to its file in the archive and records it in the index.

    The path comes from ``ARCHIVE_PATH_TEMPLATE``; the bytes from the exporter. An
    article whose file already holds the same bytes is not rewritten.
    """

    def __init__(self, crawler: Crawler, store: ArticleStore) -> None:
        assert crawler.stats is not None
        self.crawler = crawler
        self.stats = crawler.stats
        self.store = store

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
        stored = self.store.store(row, _export(item))
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


def _export(item: Any) -> bytes:
    # The exporter formats into a buffer; only the archive touches files.
    buffer = io.BytesIO()
    exporter = FrontMatterItemExporter(buffer)
    exporter.start_exporting()
    exporter.export_item(item)
    exporter.finish_exporting()
    return buffer.getvalue()
