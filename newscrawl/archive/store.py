"""Storing an article: its file and its index row, consistent at every instant."""

from __future__ import annotations

import contextlib
import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

from newscrawl.archive.files import atomic_write, fsync_dir, relative_path
from newscrawl.archive.index import ArchiveIndex, IndexRow

Change = Literal["created", "updated", "unchanged"]


@dataclass(frozen=True, slots=True)
class Stored:
    """What storing one article did."""

    change: Change
    path: str  # archive-relative, '/'-separated


def sha256(data: bytes) -> str:
    """The hash the index keeps of a file's bytes."""
    return hashlib.sha256(data).hexdigest()


def utc_now() -> str:
    """Now, as the index writes times."""
    return datetime.now(UTC).isoformat(timespec="seconds")


class ArticleStore:
    """Writes article files into the archive and keeps the index in step.

    The index is opened on the first write, so a run that archives nothing leaves
    no trace in the folder.
    """

    def __init__(self, root: Path, template: str) -> None:
        if "{doc_id}" not in template:
            raise ValueError(
                f"ARCHIVE_PATH_TEMPLATE {template!r} must contain {{doc_id}}:"
                " one article, one file"
            )
        self.root = root
        self.template = template
        self._index: ArchiveIndex | None = None

    @property
    def index(self) -> ArchiveIndex:
        """The archive's index, opened (and created) on first use."""
        if self._index is None:
            self._index = ArchiveIndex.for_archive(self.root)
        return self._index

    def close(self) -> None:
        """Close the index."""
        if self._index is not None:
            self._index.close()
            self._index = None

    def path_of(
        self, *, categories: tuple[str, str, str], day: str, doc_id: str
    ) -> Path:
        """The archive-relative path of an article; UnsafePathError if unsafe."""
        return relative_path(
            self.template, categories=categories, date=day, doc_id=doc_id
        )

    def store(self, row: IndexRow, data: bytes) -> Stored:
        """Write ``data`` as the file of ``row`` (path, title … set; hash ignored).

        Unchanged bytes are not rewritten: only the feed's mtime is noted.
        """
        digest = sha256(data)
        old = self.index.get(row.doc_id)
        if (
            old is not None
            and old.archived
            and old.sha256 == digest
            and old.path == row.path
            and (self.root / row.path).exists()
        ):
            self.index.saw(row.doc_id, row.url, row.feed_mtime)
            return Stored("unchanged", row.path)
        self.index.begin_write(row.doc_id, row.url, row.path, digest)
        target = self.root / row.path
        atomic_write(target, data)
        if old is not None and old.archived and old.path != row.path:
            # The article moved (its date changed): the old file goes before the
            # row says so; meanwhile the row's pending path names the new one.
            with contextlib.suppress(FileNotFoundError):
                (self.root / old.path).unlink()
                fsync_dir((self.root / old.path).parent)
        self.index.finish_write(
            IndexRow(
                doc_id=row.doc_id,
                url=row.url,
                path=row.path,
                title=row.title,
                published=row.published,
                feed_mtime=row.feed_mtime,
                sha256=digest,
            ),
            now=utc_now(),
        )
        return Stored(
            "updated" if old is not None and old.archived else "created", row.path
        )
