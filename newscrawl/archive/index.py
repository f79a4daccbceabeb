"""The index of the archive: one SQLite row per article, next to the files.

A row tells what file an article has and what it holds (SHA-256 of the file's
bytes), where it came from (URL, the feed's ``mtime``) and when it was written.
Writing an article is a two-step protocol so that the index and the files agree at
every instant, whenever the process is killed:

1. ``begin_write`` records the path and hash about to be written (``pending_*``);
2. the file is written atomically and made durable;
3. ``finish_write`` moves the pending values into the row in one transaction.

Until step 3 the article does not count as archived. A reader (``verify``) accepts
a file that matches either the committed or the pending hash of its row.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import astuple, dataclass, fields
from pathlib import Path

#: The crawler's own folder inside the archive; hidden, so Hexo skips it.
STATE_DIR = ".newscrawl"
INDEX_NAME = "index.sqlite3"
SCHEMA_VERSION = 1

_SCHEMA = """
CREATE TABLE IF NOT EXISTS articles (
    doc_id TEXT PRIMARY KEY,
    url TEXT NOT NULL,
    path TEXT NOT NULL,           -- archive-relative, '/'-separated
    title TEXT NOT NULL DEFAULT '',
    published TEXT NOT NULL DEFAULT '',  -- ISO 8601, UTC
    feed_mtime INTEGER,           -- the feed's mtime when last fetched
    sha256 TEXT,                  -- of the file's bytes; NULL until first written
    first_archived TEXT,          -- ISO 8601, UTC
    last_updated TEXT,            -- ISO 8601, UTC
    pending_path TEXT,            -- a write in progress (see the module docstring)
    pending_sha256 TEXT
);
"""


class IndexUnusableError(RuntimeError):
    """The index cannot be used as it is (corrupt, or from another program)."""


@dataclass(frozen=True, slots=True)
class IndexRow:
    """One article of the index."""

    doc_id: str
    url: str
    path: str
    title: str = ""
    published: str = ""
    feed_mtime: int | None = None
    sha256: str | None = None
    first_archived: str | None = None
    last_updated: str | None = None
    pending_path: str | None = None
    pending_sha256: str | None = None

    @property
    def archived(self) -> bool:
        """Whether a write of this article was ever completed."""
        return self.sha256 is not None


_COLUMNS = ", ".join(f.name for f in fields(IndexRow))
_PLACEHOLDERS = ", ".join("?" for _ in fields(IndexRow))


def index_path(archive_root: Path) -> Path:
    """Where the index of the archive at ``archive_root`` lives."""
    return archive_root / STATE_DIR / INDEX_NAME


class ArchiveIndex:
    """The SQLite index of one archive folder."""

    def __init__(self, path: Path, *, create: bool = True) -> None:
        if not create and not path.exists():
            raise IndexUnusableError(
                f"no index at {path}: run `scrapy reindex` to build it"
            )
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        # Autocommit mode: transactions are explicit (see `transaction`).
        self.db = sqlite3.connect(path, isolation_level=None, timeout=30)
        try:
            self.db.execute("PRAGMA journal_mode=WAL")
            # FULL: a commit is on disk when it returns, like the article before it.
            self.db.execute("PRAGMA synchronous=FULL")
            self._synced = True
            version = self.db.execute("PRAGMA user_version").fetchone()[0]
            if version not in (0, SCHEMA_VERSION):
                raise IndexUnusableError(
                    f"{path} has schema {version}, expected {SCHEMA_VERSION}"
                )
            self.db.executescript(_SCHEMA)
            if version != SCHEMA_VERSION:
                # Only a new index: the pragma is a write, and a run that
                # archives nothing must leave the index's bytes as they were.
                self.db.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
        except sqlite3.DatabaseError as exc:
            self.db.close()
            # Never recreate a damaged index silently: it is the memory of what is
            # archived. `reindex` rebuilds it from the files, on purpose.
            raise IndexUnusableError(
                f"the index {path} is damaged ({exc});"
                " run `scrapy reindex` to rebuild it"
            ) from exc

    @classmethod
    def for_archive(cls, archive_root: Path, *, create: bool = True) -> ArchiveIndex:
        """The index of the archive at ``archive_root``."""
        return cls(index_path(archive_root), create=create)

    def close(self) -> None:
        """Close the database."""
        self.db.close()

    @contextmanager
    def transaction(self, *, synced: bool = True) -> Iterator[sqlite3.Connection]:
        """One write transaction: all of it is committed, or none.

        ``synced``: the commit is on disk when it returns (fsync of the WAL). An
        unsynced commit survives the process being killed, as it is in the OS's
        cache already, but maybe not a power cut.
        """
        if synced != self._synced:
            self.db.execute(f"PRAGMA synchronous={'FULL' if synced else 'NORMAL'}")
            self._synced = synced
        self.db.execute("BEGIN IMMEDIATE")
        try:
            yield self.db
        except BaseException:
            # SQLite rolls back by itself on some errors (SQLITE_FULL, SQLITE_IOERR):
            # a second ROLLBACK would fail and hide the error that matters.
            if self.db.in_transaction:
                self.db.execute("ROLLBACK")
            raise
        self.db.execute("COMMIT")

    # --- Reading ---------------------------------------------------------------------

    def get(self, doc_id: str) -> IndexRow | None:
        """The row of ``doc_id``, if any."""
        found = self.db.execute(
            f"SELECT {_COLUMNS} FROM articles WHERE doc_id = ?", (doc_id,)
        ).fetchone()
        return IndexRow(*found) if found else None

    def archived_mtime(self, doc_id: str) -> tuple[bool, int | None]:
        """``(archived, feed mtime)`` of ``doc_id``: what the crawl needs to skip it."""
        found = self.db.execute(
            "SELECT sha256 IS NOT NULL, feed_mtime FROM articles WHERE doc_id = ?",
            (doc_id,),
        ).fetchone()
        return (bool(found[0]), found[1]) if found else (False, None)

    def rows(self) -> Iterator[IndexRow]:
        """Every row, by path."""
        for found in self.db.execute(f"SELECT {_COLUMNS} FROM articles ORDER BY path"):
            yield IndexRow(*found)

    def count(self) -> int:
        """How many articles are archived."""
        return int(
            self.db.execute(
                "SELECT count(*) FROM articles WHERE sha256 IS NOT NULL"
            ).fetchone()[0]
        )

    def integrity_problems(self) -> list[str]:
        """What SQLite's own integrity check finds wrong; empty when all is well."""
        found = [r[0] for r in self.db.execute("PRAGMA integrity_check")]
        return [] if found == ["ok"] else found

    # --- Writing ---------------------------------------------------------------------

    def begin_write(self, doc_id: str, url: str, path: str, sha256: str) -> None:
        """Record that ``path`` is about to be written with bytes of ``sha256``.

        Not synced (saving one fsync per article): a killed process loses nothing;
        after a power cut the article may be on disk without this row, which
        ``verify`` reports and ``reindex`` or the next run repairs. The row that
        makes the article count as archived (``finish_write``) is synced.
        """
        with self.transaction(synced=False) as db:
            db.execute(
                "INSERT INTO articles (doc_id, url, path, pending_path, pending_sha256)"
                " VALUES (?, ?, ?, ?, ?)"
                " ON CONFLICT(doc_id) DO UPDATE SET"
                " pending_path = excluded.pending_path,"
                " pending_sha256 = excluded.pending_sha256",
                (doc_id, url, path, path, sha256),
            )

    def finish_write(
        self,
        row: IndexRow,
        *,
        now: str,
    ) -> None:
        """The file of ``row`` is durably on disk: make the row say so."""
        with self.transaction() as db:
            db.execute(
                "UPDATE articles SET url = ?, path = ?, title = ?, published = ?,"
                " feed_mtime = ?, sha256 = ?,"
                " first_archived = coalesce(first_archived, ?), last_updated = ?,"
                " pending_path = NULL, pending_sha256 = NULL"
                " WHERE doc_id = ?",
                (
                    row.url,
                    row.path,
                    row.title,
                    row.published,
                    row.feed_mtime,
                    row.sha256,
                    now,
                    now,
                    row.doc_id,
                ),
            )

    def saw(self, doc_id: str, url: str, feed_mtime: int | None) -> None:
        """The article was fetched again and its file is unchanged: note the mtime."""
        with self.transaction() as db:
            db.execute(
                "UPDATE articles SET url = ?, feed_mtime = ? WHERE doc_id = ?",
                (url, feed_mtime, doc_id),
            )

    def replace_all(self, rows: Iterable[IndexRow]) -> int:
        """Replace every row by ``rows`` in one transaction; return how many."""
        count = 0
        with self.transaction() as db:
            db.execute("DELETE FROM articles")
            for row in rows:
                db.execute(
                    f"INSERT INTO articles ({_COLUMNS}) VALUES ({_PLACEHOLDERS})",
                    astuple(row),
                )
                count += 1
        return count
