"""Re-deriving article files from the raw capture (``scrapy rebuild``, ``history``).

The captured response is the archive's source of truth; a file is what the current
code (``newscrawl.page.read_article`` and the exporter) makes of it. No network.
Rebuild never deletes: an article the current code would drop is reported and kept.
"""

from __future__ import annotations

import difflib
import multiprocessing
import os
import zlib
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from newscrawl.archive.files import UnsafePathError
from newscrawl.archive.index import ArticleMeta, Version
from newscrawl.archive.warc import DamagedRecordError, Record, read_capture, scan
from newscrawl.page import MAX_REPLACEMENT_RATIO, read_article
from newscrawl.pipelines import article_meta, article_row, export
from newscrawl.sina.boilerplate import SINA_RULES
from newscrawl.sina.dates import from_unix
from newscrawl.sina.feed import FeedEntry
from newscrawl.sina.ids import doc_id_from_url

if TYPE_CHECKING:
    from newscrawl.archive.index import ArchiveIndex, IndexRow
    from newscrawl.archive.owner import Archive
    from newscrawl.cleaning import Rules
    from newscrawl.items import Article
    from newscrawl.sina.channels import Channel

_HTML_TYPES = frozenset({"text/html", "application/xhtml+xml"})
#: Metadata of unchanged files recorded per transaction.
DESCRIBE_BATCH = 500
#: Changed files whose diff the report shows.
DIFFS_SHOWN = 3
#: Lines of each diff shown.
DIFF_LINES = 20


@dataclass(frozen=True, slots=True)
class Derived:
    """What the current code makes of one captured response."""

    article: Article | None
    data: bytes | None  # the file's bytes; None when dropped
    reason: str = ""  # why it would be dropped


def derive(
    record: Record,
    channels: Mapping[str, Channel],
    *,
    rules: Rules = SINA_RULES,
    max_replacement_ratio: float = MAX_REPLACEMENT_RATIO,
    extra_fields: Sequence[str] = (),
) -> Derived:
    """The article file the current code makes of a captured article page, with
    the feed item and channel it was fetched for (its metadata record);
    ``extra_fields``: the archive's ``ARCHIVE_EXTRA_FIELDS``."""
    meta = record.metadata or {}
    channel = channels.get(str(meta.get("channel", "")))
    if meta.get("kind") != "article" or channel is None:
        return Derived(None, None, "no feed item or channel recorded for the page")
    raw = meta.get("entry")
    entry = (
        None
        if raw is None
        else FeedEntry(
            url=raw["url"],
            doc_id=raw["doc_id"],
            title=raw["title"],
            intime_raw=raw["intime_raw"],
            intime=from_unix(raw["intime_raw"] or None),
            mtime=raw["mtime"],
            media_name=raw["media_name"],
        )
    )
    url = entry.url if entry else record.url
    landed = doc_id_from_url(record.url)
    if entry is not None and landed is not None and landed != entry.doc_id:
        # As the spider does: a page that redirected to another article is that one.
        entry, url = None, record.url
    content_type = record.header("content-type")
    if content_type.partition(";")[0].strip().lower() not in _HTML_TYPES:
        return Derived(None, None, f"not an HTML page ({content_type})")
    try:
        page = record.content()
    except (zlib.error, OSError, EOFError) as exc:  # a damaged encoded body
        return Derived(None, None, f"undecodable body ({exc})")
    result = read_article(
        page,
        {"Content-Type": content_type},
        url,
        channel,
        entry,
        rules=rules,
        max_replacement_ratio=max_replacement_ratio,
    )
    if result.article is None or result.refusal is not None:
        reason = result.refusal.reason if result.refusal else "no article"
        return Derived(result.article, None, reason)
    return Derived(result.article, export(result.article, extra_fields))


@dataclass
class RebuildReport:
    """What a rebuild did (or, with ``dry_run``, would do)."""

    same: int = 0
    changed: list[str] = field(default_factory=list)  # paths
    appeared: list[str] = field(default_factory=list)  # new or restored files
    dropped: list[str] = field(default_factory=list)  # "path: reason", kept
    unreadable: list[str] = field(default_factory=list)  # damaged records
    diffs: list[str] = field(default_factory=list)
    scanned: bool = False  # the sources came from scanning the WARC files


def _sources(
    archive: Archive, doc_ids: set[str] | None, since: str | None, report: Any
) -> Iterable[tuple[Version, Record | None]]:
    """The newest captured version of each article (and its record)."""
    index = archive.index
    versions = list(index.versions())
    if not versions:
        # No versions in the index (it was rebuilt from the files, or lost):
        # the WARC files themselves say what was captured.
        report.scanned = True
        found: dict[str, tuple[Version, Record]] = {}
        every: list[Version] = []
        for scanned in scan(archive.warc_folder):
            record, capture = scanned.record, scanned.capture
            meta = record.metadata or {}
            if meta.get("kind") != "article" or record.status != 200:
                continue
            entry = meta.get("entry") or {}
            doc_id = doc_id_from_url(record.url) or entry.get("doc_id")
            if not doc_id:
                continue
            version = Version(
                0,
                doc_id,
                record.url,
                capture.file,
                capture.offset,
                capture.length,
                capture.fetched,
                entry.get("mtime"),
                capture.payload_digest,
                None,
            )
            every.append(version)
            found[doc_id] = (version, record)
        if every:
            index.add_versions(every)
        for version, record in found.values():
            if _wanted(version, doc_ids, since):
                yield version, record
        return
    newest: dict[str, Version] = {}
    for version in versions:
        newest[version.doc_id] = version  # oldest first: the last one stays
    for version in newest.values():
        if _wanted(version, doc_ids, since):
            yield version, None


def _wanted(version: Version, doc_ids: set[str] | None, since: str | None) -> bool:
    if doc_ids is not None and version.doc_id not in doc_ids:
        return False
    return since is None or version.fetched >= since


def rebuild(
    archive: Archive,
    channels: Mapping[str, Channel],
    *,
    dry_run: bool = False,
    doc_ids: set[str] | None = None,
    since: str | None = None,
    rules: Rules = SINA_RULES,
    max_replacement_ratio: float = MAX_REPLACEMENT_RATIO,
    progress: Callable[[int], None] | None = None,
) -> RebuildReport:
    """Re-derive the files of the captured articles with the current code.

    ``since``: only versions fetched at or after this ISO 8601 UTC time;
    ``doc_ids``: only these articles. Changed and missing files are written
    through the archive owner (journalled), unless ``dry_run``.
    """
    report = RebuildReport()
    index = archive.index
    sources = list(_sources(archive, doc_ids, since, report))
    _rebuild(
        archive,
        index,
        sources,
        channels,
        dry_run,
        rules,
        max_replacement_ratio,
        progress,
        report,
    )
    archive.commit()
    return report


def _rebuild(
    archive: Archive,
    index: ArchiveIndex,
    sources: list[tuple[Version, Record | None]],
    channels: Mapping[str, Channel],
    dry_run: bool,
    rules: Rules,
    max_replacement_ratio: float,
    progress: Callable[[int], None] | None,
    report: RebuildReport,
) -> None:
    done = 0
    # What an unchanged file's rebuild learns (its version's file hash after a
    # WARC scan, what its page says), written in batches: a synced transaction
    # each would cost an fsync each.
    recorded: list[Version] = []
    described: list[ArticleMeta] = []
    for version, derived in _derived(
        archive, sources, channels, rules, max_replacement_ratio, report
    ):
        done += 1
        if progress and done % 1000 == 0:
            progress(done)
        old = index.get(version.doc_id)
        if derived.data is None or derived.article is None:
            where = old.path if old is not None else version.doc_id
            report.dropped.append(f"{where}: {derived.reason}")
            continue
        try:
            row = article_row(archive, derived.article)
        except UnsafePathError as exc:
            report.dropped.append(f"{version.doc_id}: unsafe path ({exc})")
            continue
        if old is not None and old.feed_mtime is not None:
            # The index may know a later mtime (a revisit): keep it.
            row = replace(row, feed_mtime=old.feed_mtime)
        meta = article_meta(derived.article)
        verdict = _compare(archive, old, row, derived.data, report)
        if verdict == "same":
            report.same += 1
            if not dry_run:
                sha = old.sha256 if old else None
                if version.sha256 is None:
                    recorded.append(replace(version, sha256=sha))
                if sha is not None:
                    described.append(replace(meta, sha256=sha))
                if len(recorded) + len(described) >= DESCRIBE_BATCH:
                    index.add_versions(recorded)
                    archive.describe(described)
                    recorded, described = [], []
            continue
        if not dry_run:
            archive.store(row, derived.data, version=version, meta=meta)
    if recorded:
        index.add_versions(recorded)
    archive.describe(described)


#: Below this many articles, deriving in one process is quicker than starting more.
PARALLEL_FROM = 64
# What the deriving processes need, set once by fork (not pickled per article).
_WORKER: dict[str, Any] = {}


def _derived(
    archive: Archive,
    sources: list[tuple[Version, Record | None]],
    channels: Mapping[str, Channel],
    rules: Rules,
    max_replacement_ratio: float,
    report: RebuildReport,
) -> Iterator[tuple[Version, Derived]]:
    """Each source's derived article, in order; in parallel on several CPUs (the
    page's parse and cleaning are most of a rebuild's time)."""
    _WORKER.update(
        folder=archive.warc_folder,
        channels=channels,
        rules=rules,
        ratio=max_replacement_ratio,
        extra_fields=archive.extra_fields,
    )
    cpus = os.cpu_count() or 1
    unread = [version for version, record in sources if record is None]
    if cpus > 1 and len(unread) >= PARALLEL_FROM and len(unread) == len(sources):
        context = multiprocessing.get_context("fork")
        with ProcessPoolExecutor(cpus, mp_context=context) as pool:
            for version, result in zip(
                unread, pool.map(_derive_version, unread, chunksize=16), strict=True
            ):
                if isinstance(result, str):
                    report.unreadable.append(f"{version.doc_id}: {result}")
                else:
                    yield version, result
        return
    for version, record in sources:
        found = record if record is not None else _derive_version(version)
        if isinstance(found, str):
            report.unreadable.append(f"{version.doc_id}: {found}")
        elif isinstance(found, Derived):
            yield version, found
        else:
            yield version, _derive_record(found)


def _derive_version(version: Version) -> Derived | str:
    """The derived article of a version's record, or why it cannot be read."""
    try:
        record = read_capture(
            _WORKER["folder"],
            version.warc_file,
            version.warc_offset,
            version.warc_length,
        )
    except DamagedRecordError as exc:
        return str(exc)
    derived = _derive_record(record)
    if derived.article is not None:
        # Sent back to the parent: the cleaned body is in ``data`` already, and
        # pickling it again costs more than deriving it.
        derived.article.body = ""
    return derived


def _derive_record(record: Record) -> Derived:
    return derive(
        record,
        _WORKER["channels"],
        rules=_WORKER["rules"],
        max_replacement_ratio=_WORKER["ratio"],
        extra_fields=_WORKER["extra_fields"],
    )


def _compare(
    archive: Archive,
    old: IndexRow | None,
    row: IndexRow,
    data: bytes,
    report: RebuildReport,
) -> str:
    from newscrawl.archive.owner import sha256

    current = old.path if old is not None and old.archived else row.path
    if not archive.has_file(current):
        report.appeared.append(row.path)
        return "appeared"
    before = (archive.root / current).read_bytes()
    if (
        before == data
        and current == row.path
        and old is not None
        and old.sha256 == sha256(data)
    ):
        return "same"
    if before == data and current == row.path:
        # The file is right; only the index does not know it yet.
        report.same += 1
        return "index"
    report.changed.append(row.path)
    if len(report.diffs) < DIFFS_SHOWN:
        report.diffs.append(text_diff(before, data, current, row.path))
    return "changed"


def text_diff(before: bytes, after: bytes, old_name: str, new_name: str) -> str:
    """A short unified diff of two article files."""
    lines = list(
        difflib.unified_diff(
            before.decode("utf-8", "replace").splitlines(),
            after.decode("utf-8", "replace").splitlines(),
            old_name,
            new_name,
            lineterm="",
        )
    )
    if len(lines) > DIFF_LINES:
        lines = [*lines[:DIFF_LINES], f"… ({len(lines) - DIFF_LINES} more lines)"]
    return "\n".join(lines)
