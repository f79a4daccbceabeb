"""Item pipelines, one job each: clean the body, validate, archive."""

from __future__ import annotations

import io
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

from itemadapter import ItemAdapter
from scrapy.exceptions import DropItem, NotConfigured

from newscrawl.archive import (
    DEFAULT_PATH_TEMPLATE,
    UnsafePathError,
    atomic_write,
    relative_path,
)
from newscrawl.cleaning import clean_body
from newscrawl.exporters import FrontMatterItemExporter
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
    """Writes each article to its file in the archive, atomically.

    The path comes from ``ARCHIVE_PATH_TEMPLATE``; the bytes from the exporter. An
    article whose file already holds the same bytes is not rewritten.
    """

    def __init__(self, stats: StatsCollector, root: Path, template: str) -> None:
        self.stats = stats
        self.root = root
        self.template = template

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> ArchivePipeline:
        settings = crawler.settings
        root = settings.get("ARCHIVE_DIR")
        if not root:
            raise NotConfigured("set ARCHIVE_DIR to the folder of the archive")
        assert crawler.stats is not None
        return cls(
            crawler.stats,
            Path(root),
            settings.get("ARCHIVE_PATH_TEMPLATE", DEFAULT_PATH_TEMPLATE),
        )

    def process_item(self, item: Any) -> Any:
        adapter = ItemAdapter(item)
        try:
            relative = relative_path(
                self.template,
                categories=adapter["categories"],
                date=beijing_day(adapter["published"]),
                doc_id=adapter["doc_id"],
            )
        except UnsafePathError as exc:
            self.stats.inc_value("archive/dropped/unsafe_path")
            raise DropItem(f"unsafe archive path for {adapter['url']}: {exc}") from exc
        path = self.root / relative
        data = _export(item)
        if _holds(path, data):
            self.stats.inc_value("archive/skipped/unchanged")
            return item
        existed = path.exists()
        atomic_write(path, data)
        self.stats.inc_value("archive/updated" if existed else "archive/written")
        logger.info(
            "%s %s (%s)", "Updated" if existed else "Archived", relative, adapter["url"]
        )
        return item


def _holds(path: Path, data: bytes) -> bool:
    try:
        return path.read_bytes() == data
    except FileNotFoundError:
        return False


def _export(item: Any) -> bytes:
    # The exporter formats into a buffer; only the archive touches files.
    buffer = io.BytesIO()
    exporter = FrontMatterItemExporter(buffer)
    exporter.start_exporting()
    exporter.export_item(item)
    exporter.finish_exporting()
    return buffer.getvalue()
