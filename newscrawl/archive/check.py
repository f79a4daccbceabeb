"""Checking an archive against its index (``verify``) and rebuilding the index."""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any

from newscrawl.archive.fileformat import FormatError, read_article
from newscrawl.archive.files import PathRules, is_temp_file
from newscrawl.archive.index import (
    ArchiveIndex,
    ArticleMeta,
    IndexRow,
    IndexUnusableError,
    index_path,
)
from newscrawl.archive.owner import sha256
from newscrawl.archive.warc import DamagedRecordError, read_capture, warc_dir
from newscrawl.text import plain_text, text_length

#: Every this many files, long commands say how far they are.
PROGRESS_EVERY = 100

Progress = Callable[[int], None]


@dataclass
class Report:
    """What a check found: problems fail it; notes do not."""

    files: int = 0
    rows: int = 0
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    #: The index could not be opened or read at all (damaged, full disk).
    index_unusable: bool = False
    #: What each file says of its article (``rebuild_rows``): the index's metadata
    #: where no page told more.
    metas: list[ArticleMeta] = field(default_factory=list)


def walk(root: Path, links: list[Path] | None = None) -> Iterator[Path]:
    """Every file of the archive that is not the crawler's own, relative to root.

    Hidden names (the ``.newscrawl`` folder, temporary files) are skipped, as
    Hexo skips them, and so is the archive's own README.md. Links (to files or
    folders) are not followed: they are put in ``links``, if given.
    """
    for folder, dirs, names in os.walk(root):
        base = Path(folder)
        if links is not None:
            links.extend(
                (base / name).relative_to(root)
                for name in [*dirs, *names]
                if not name.startswith(".") and (base / name).is_symlink()
            )
        dirs[:] = sorted(
            d for d in dirs if not d.startswith(".") and not (base / d).is_symlink()
        )
        for name in sorted(names):
            if name.startswith(".") or (base == root and name == "README.md"):
                continue
            if (base / name).is_symlink():
                continue
            yield (base / name).relative_to(root)


def temp_files(root: Path) -> list[Path]:
    """Temporary files left by writes that a crash interrupted."""
    return [
        Path(folder) / name
        for folder, _, names in os.walk(root)
        for name in names
        if is_temp_file(Path(name))
    ]


def verify(
    root: Path, progress: Progress | None = None, warc_folder: Path | None = None
) -> Report:
    """Every file parses; index and files agree (FORMAT.md, the index protocol);
    no link inside the archive; every archived article has its file; every
    indexed version's WARC record is readable and matches its payload digest."""
    report = Report()
    links: list[Path] = []
    empty = next(walk(root), None) is None
    if root.is_dir() and empty and not index_path(root).exists():
        # A first run stopped before its first article: nothing can disagree yet.
        report.notes.append("no article and no index yet")
        return report
    try:
        index = ArchiveIndex.for_archive(root, create=False)
    except IndexUnusableError as exc:
        report.problems.append(str(exc))
        report.index_unusable = True
        return report
    try:
        report.problems += [f"index: {p}" for p in index.integrity_problems()]
        rows = {row.doc_id: row for row in index.rows()}
        versions = list(index.versions())
    except sqlite3.DatabaseError as exc:
        # A damaged page inside the file: SQLite opens it, reading it fails.
        report.problems.append(
            f"index: {index.path} is damaged ({exc}); run `scrapy reindex`"
        )
        report.index_unusable = True
        return report
    finally:
        index.close()
    report.rows = len(rows)
    # Which rows may explain which path: the committed and the pending write.
    expected: dict[str, list[tuple[str, IndexRow]]] = {}
    for row in rows.values():
        if row.sha256 is not None:
            expected.setdefault(row.path, []).append((row.sha256, row))
        if row.pending_path is not None and row.pending_sha256 is not None:
            expected.setdefault(row.pending_path, []).append((row.pending_sha256, row))
    seen: set[str] = set()
    for relative in walk(root, links):
        report.files += 1
        if progress and report.files % PROGRESS_EVERY == 0:
            progress(report.files)
        key = relative.as_posix()
        data = (root / relative).read_bytes()
        try:
            read_article(data)
        except FormatError as exc:
            report.problems.append(f"{key}: {exc}")
        claims = expected.get(key)
        if not claims:
            report.problems.append(f"{key}: file without an index row")
            continue
        digest = sha256(data)
        if all(h != digest for h, _ in claims):
            report.problems.append(f"{key}: bytes differ from the index's hash")
        # Its file is there, right or wrong: one problem, not two.
        seen.update(row.doc_id for _, row in claims)
    for row in rows.values():
        if row.sha256 is not None and row.doc_id not in seen:
            since = f" (missing since {row.missing_since})" if row.missing_since else ""
            report.problems.append(
                f"{row.path}: index row {row.doc_id} without its file{since};"
                " the next run that sees it in the feed fetches it again"
                f" (or `scrapy forget {row.doc_id}`)"
            )
    for link in links:
        report.problems.append(
            f"{link.as_posix()}: a link inside the archive (refused; nothing is"
            " written through it)"
        )
    folder = warc_folder or warc_dir(root)
    for version in versions:
        try:
            read_capture(
                folder, version.warc_file, version.warc_offset, version.warc_length
            )
        except DamagedRecordError as exc:
            report.problems.append(
                f"WARC record of {version.doc_id} (fetched {version.fetched}): {exc}"
            )
    if versions:
        report.notes.append(f"{len(versions)} captured version(s) checked")
    leftovers = temp_files(root)
    if leftovers:
        report.notes.append(
            f"{len(leftovers)} temporary file(s) of writes in progress or"
            " interrupted (ignored; `reindex` removes them, the next crawl those"
            " in .newscrawl/staging)"
        )
    return report


def file_meta(
    doc_id: str, digest: str, header: dict[str, Any], body: str, row: IndexRow
) -> ArticleMeta:
    """What an article file says of its article: its header (and the extra
    fields, ``ARCHIVE_EXTRA_FIELDS``, if it has them) and its text's length; the
    rest is not known (None)."""
    tags = header.get("tags")
    return ArticleMeta(
        doc_id=doc_id,
        sha256=digest,
        origin="file",
        url=str(header.get("original_url") or "") or row.url or None,
        categories=tuple(str(c) for c in header.get("categories") or ()),
        title=row.title,
        published=row.published,
        outlet=None if "source" not in header else str(header["source"] or ""),
        keywords=None if tags is None else tuple(str(t) for t in tags),
        length=text_length(plain_text(body)),
    )


def rebuild_rows(
    root: Path,
    rules: PathRules,
    old: dict[str, IndexRow] | None = None,
    progress: Progress | None = None,
) -> tuple[list[IndexRow], Report]:
    """Index rows read from the files, merged with the ``old`` index's rows, and
    what could not be read.

    The doc id is in the file's path (``rules``); title and date are in the
    header. From the old rows come what the files do not hold (the URL, the
    feed's mtime, when it was first archived). An old row whose file is gone
    stays, marked missing: a loss is never turned into a clean ``verify``.
    """
    old = old or {}
    report = Report()
    rows: dict[str, IndexRow] = {}
    now = datetime.now(UTC).isoformat(timespec="seconds")
    links: list[Path] = []
    for relative in walk(root, links):
        report.files += 1
        if progress and report.files % PROGRESS_EVERY == 0:
            progress(report.files)
        key = relative.as_posix()
        fields = rules.parse(key)
        if fields is None:
            report.problems.append(
                f"{key}: not a path ARCHIVE_PATH_TEMPLATE makes ({rules.template})"
            )
            continue
        data = (root / relative).read_bytes()
        try:
            header, body = read_article(data)
            published = parsedate_to_datetime(str(header["date"])).astimezone(UTC)
        except (FormatError, TypeError, ValueError) as exc:
            report.problems.append(f"{key}: {exc}")
            continue
        doc_id = fields.doc_id
        if doc_id in rows:
            report.problems.append(
                f"{key}: doc id {doc_id} also in {rows[doc_id].path}"
            )
            continue
        modified = datetime.fromtimestamp((root / relative).stat().st_mtime, UTC)
        before = old.get(doc_id)
        digest = sha256(data)
        rows[doc_id] = IndexRow(
            doc_id=doc_id,
            url=before.url if before else "",
            path=key,
            title=str(header["title"]),
            published=published.isoformat(),
            # The feed's mtime says which version the file holds: only if it does.
            feed_mtime=before.feed_mtime
            if before and before.sha256 == digest
            else None,
            sha256=digest,
            first_archived=(before and before.first_archived)
            or modified.isoformat(timespec="seconds"),
            last_updated=modified.isoformat(timespec="seconds"),
            withdrawn_at=before.withdrawn_at if before else None,
            withdrawn_status=before.withdrawn_status if before else None,
        )
        report.metas.append(file_meta(doc_id, digest, header, body, rows[doc_id]))
    for link in links:
        report.problems.append(
            f"{link.as_posix()}: a link inside the archive; not followed, not indexed"
        )
    for doc_id, before in old.items():
        if doc_id not in rows and before.archived:
            rows[doc_id] = replace(
                before,
                pending_path=None,
                pending_sha256=None,
                missing_since=before.missing_since or now,
            )
            report.notes.append(
                f"{before.path}: file missing; its row is kept, marked missing"
                f" (`scrapy forget {doc_id}` drops it)"
            )
    report.rows = len(rows)
    return list(rows.values()), report
