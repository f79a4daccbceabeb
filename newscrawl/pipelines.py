"""Item pipelines, one job each: drop what the page path refused, archive."""

from __future__ import annotations

import errno
import io
import json
import logging
import sqlite3
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Protocol

from itemadapter import ItemAdapter
from scrapy.exceptions import DropItem
from scrapy.utils.defer import deferred_from_coro
from twisted.internet import task

from newscrawl.archive.files import NotAFileError, UnsafePathError
from newscrawl.archive.index import ArticleMeta, IndexRow, free_space
from newscrawl.archive.owner import Archive, Stored, archive_of, version_of
from newscrawl.archive.warc import Capture
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


class Stats(Protocol):
    """What the archive pipeline counts with: Scrapy's stats, or the writer's."""

    def inc_value(self, key: str, count: int = 1, start: int = 0) -> None: ...

    def get_value(self, key: str, default: Any = None) -> Any: ...


class ArchivePipeline:
    """Writes each article into the archive through its owner (archive/owner.py).

    The path comes from ``ARCHIVE_PATH_TEMPLATE``; the bytes from the exporter. An
    article whose file already holds the same bytes is not rewritten. Articles are
    made durable in batches (the owner's group commit: ``ARCHIVE_COMMIT_BATCH``
    articles or ``ARCHIVE_COMMIT_INTERVAL`` seconds, and at the end of the run);
    each is counted, logged and signalled only once its batch is.

    A write the disk refuses (full, read-only, …) stops the run: the next write
    would meet the same disk. The write leaves no partial file and the index keeps
    the article as not archived; the error is one ERROR line, a stat
    ``archive/failed/<errno name>`` and a failed run. A folder or a link where an
    article's file goes fails that article only (``archive/refused/not_a_file``).

    With ``ARCHIVE_LOG_ARTICLES``, one INFO line per article written
    (``Archived <path> (<url>)``, ``Updated …``, ``Moved <old> -> <new> …``);
    without it (the default: a cron run's log is its summary) the counts are in
    the stats and the run summary only.
    """

    def __init__(
        self, stats: Stats, archive: Archive, *, log_articles: bool = False
    ) -> None:
        self.stats = stats
        self.archive = archive
        self.log_articles = log_articles
        archive.commit_failed = self.commit_failed
        #: Why the archive cannot be written, once a write failed.
        self.failure: str | None = None
        #: Called once when a write failed: stops the run (Scrapy's engine).
        self.on_failure: Callable[[], None] = lambda: None
        #: Called after each durable change: (path, change, old path).
        self.on_archived: Callable[[Stored], None] = lambda stored: None
        #: Commits a batch that waited ARCHIVE_COMMIT_INTERVAL (``open_spider``).
        self._ticks: task.LoopingCall | None = None

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> ArchivePipeline:
        assert crawler.stats is not None
        pipeline = cls(
            crawler.stats,
            archive_of(crawler),
            log_articles=crawler.settings.getbool("ARCHIVE_LOG_ARTICLES"),
        )
        closing: list[Any] = []

        def stop_run() -> None:
            # As Scrapy's CloseSpider extension does; kept so it is not collected.
            if crawler.engine is not None and not closing:
                closing.append(
                    deferred_from_coro(
                        crawler.engine.close_spider_async(reason="archive_failed")
                    )
                )

        def archived(stored: Stored) -> None:
            crawler.signals.send_catch_log(
                signal=article_archived,
                path=stored.path,
                change=stored.change,
                old_path=stored.old_path,
            )

        pipeline.on_failure = stop_run
        pipeline.on_archived = archived
        return pipeline

    def open_spider(self) -> None:
        # A batch that fills slowly is committed after ARCHIVE_COMMIT_INTERVAL
        # (0: no time limit, nothing to tick for).
        if self.archive.commit_batch > 1 and self.archive.commit_interval > 0:
            self._ticks = task.LoopingCall(self.commit_due)
            ticking = self._ticks.start(
                max(self.archive.commit_interval / 2, 0.05), now=False
            )
            ticking.addErrback(self.ticks_failed)

    def ticks_failed(self, failure: Any) -> None:
        """A commit by the timer raised what ``flush`` does not handle (a fault of
        ours, not of the disk): said once, and the run stops rather than go on
        with batches that nothing commits before the end."""
        logger.error(
            "The archive's commit timer failed: %s; stopping the run",
            failure.getErrorMessage(),
            exc_info=(failure.type, failure.value, failure.getTracebackObject()),
        )
        self.stats.inc_value("archive/failed")
        self.stats.inc_value("archive/failed/commit_timer")
        self.failure = "commit_timer"
        self.on_failure()

    def commit_due(self) -> None:
        """Commit the open batch if it waited ``ARCHIVE_COMMIT_INTERVAL``."""
        if self.archive.due():
            self.archive.flush()

    def close_spider(self) -> None:
        if self._ticks is not None and self._ticks.running:
            self._ticks.stop()
        self.archive.flush()
        self.archive.close()

    def process_item(self, item: Any) -> Any:
        adapter = ItemAdapter(item)
        if self.failure is not None:
            self.stats.inc_value("archive/dropped/stopping")
            raise DropItem(
                f"not archived, the run is stopping ({self.failure}): {adapter['url']}"
            )
        try:
            row = article_row(self.archive, item)
        except UnsafePathError as exc:
            self.stats.inc_value("archive/dropped/unsafe_path")
            raise DropItem(f"unsafe archive path for {adapter['url']}: {exc}") from exc
        path, url = row.path, adapter["url"]
        capture = adapter.get("capture")
        found = Capture.from_dict(json.loads(capture)) if capture else None
        try:
            self.archive.store(
                row,
                export(item, self.archive.extra_fields),
                alias=adapter.get("listed_doc_id"),
                alias_mtime=adapter.get("listed_feed_mtime"),
                meta=article_meta(item),
                committed=lambda stored: self.archived(stored, url),
                # A revisit holds no payload: the version is the record it repeats.
                version=None
                if found is None or found.revisit
                else version_of(found, row.doc_id, row.feed_mtime),
            )
        except NotAFileError as exc:
            self.stats.inc_value("archive/refused/not_a_file")
            raise DropItem(
                f"cannot write {path} in the archive: {exc.strerror}"
                f" ({adapter['url']})",
                log_level="ERROR",
            ) from exc
        except (OSError, sqlite3.Error) as exc:
            self.fail(exc)
            raise DropItem(
                f"cannot write {path} in the archive {self.archive.root}"
                f" ({self.failure}: {_reason(exc)}{self.free_space()});"
                " stopping the run",
                log_level="ERROR",
            ) from exc
        return item

    def fail(self, exc: OSError | sqlite3.Error) -> None:
        """The disk refused a write or a batch's commit: the run stops."""
        self.failure = _disk_error(exc)
        self.stats.inc_value("archive/failed")
        self.stats.inc_value(f"archive/failed/{self.failure}")
        self.on_failure()

    def commit_failed(self, exc: OSError | sqlite3.Error) -> None:
        """A batch's commit failed outside ``process_item`` (its time limit, the
        end of the run): one ERROR line; none of its articles counts."""
        self.fail(exc)
        where = getattr(exc, "filename", None)
        logger.error(
            "cannot commit the last articles into the archive %s (%s: %s%s%s);"
            " stopping the run (the next run fetches them again)",
            self.archive.root,
            self.failure,
            _reason(exc),
            f", at {where}" if where else "",
            self.free_space(),
        )

    def archived(self, stored: Stored, url: str) -> None:
        """``stored`` is durable (its batch committed): count, log, signal it."""
        if stored.change == "unchanged":
            self.stats.inc_value("archive/skipped/unchanged")
            return
        self.stats.inc_value(
            "archive/written" if stored.change == "created" else "archive/updated"
        )
        if stored.change == "moved":
            self.stats.inc_value("archive/moved")
        if self.log_articles:
            logger.info(
                "%s %s (%s)",
                _VERBS[stored.change],
                stored.path
                if stored.old_path is None
                else f"{stored.old_path} -> {stored.path}",
                url,
            )
        self.on_archived(stored)

    def free_space(self) -> str:
        """ ", N KiB free" after a full disk: the operator's next step; else ""."""
        if self.failure not in ("ENOSPC", "EDQUOT", "SQLITE_FULL"):
            return ""
        try:
            return f", {free_space(self.archive.root) // 1024} KiB free"
        except OSError:
            return ""


_VERBS = {"created": "Archived", "updated": "Updated", "moved": "Moved"}


def _disk_error(exc: OSError | sqlite3.Error) -> str:
    """A short name for a failed write: ENOSPC, EROFS, EACCES, SQLITE_FULL …"""
    if isinstance(exc, OSError):
        return errno.errorcode.get(exc.errno or 0, type(exc).__name__)
    return getattr(exc, "sqlite_errorname", None) or type(exc).__name__


def _reason(exc: OSError | sqlite3.Error) -> str:
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return str(exc)


def article_row(archive: Archive, item: Any) -> IndexRow:
    """The index row of an article (path by the archive's rules; no hash yet).
    UnsafePathError if its path would be unsafe."""
    adapter = ItemAdapter(item)
    published: datetime = adapter["published"]
    path = archive.path_of(
        categories=adapter["categories"],
        day=beijing_day(published),
        doc_id=adapter["doc_id"],
    )
    return IndexRow(
        doc_id=adapter["doc_id"],
        url=adapter["url"],
        path=path.as_posix(),
        title=header_value(adapter["title"]),
        published=published.astimezone(UTC).isoformat(),
        feed_mtime=adapter.get("feed_mtime"),
    )


def article_meta(item: Any) -> ArticleMeta:
    """What the page and the feed said of an article, for the index (its file's
    hash is set when it is stored)."""
    adapter = ItemAdapter(item)
    published: datetime = adapter["published"]
    updated: datetime | None = adapter.get("updated")
    return ArticleMeta(
        doc_id=adapter["doc_id"],
        sha256="",
        origin="page",
        url=adapter["url"],
        channel=adapter.get("channel") or "",
        categories=tuple(adapter["categories"]),
        title=adapter["title"],
        published=published.astimezone(UTC).isoformat(),
        updated=None if updated is None else updated.astimezone(UTC).isoformat(),
        outlet=adapter.get("outlet") or "",
        original_title=adapter.get("original_title") or "",
        editor=adapter.get("editor") or "",
        editor_code=adapter.get("editor_code") or "",
        keywords=tuple(adapter.get("keywords") or ()),
        stocks=tuple(adapter.get("stocks") or ()),
        length=adapter.get("length"),
    )


def export(item: Any, extra_fields: Sequence[str] = ()) -> bytes:
    """The bytes of an article's file (the exporter's), with ``extra_fields``
    (``ARCHIVE_EXTRA_FIELDS``) in its header."""
    # The exporter formats into a buffer; only the archive touches files.
    buffer = io.BytesIO()
    exporter = FrontMatterItemExporter(buffer, extra_fields=extra_fields)
    exporter.start_exporting()
    exporter.export_item(item)
    exporter.finish_exporting()
    return buffer.getvalue()
