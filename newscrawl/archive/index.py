"""The index of the archive: one SQLite row per article, next to the files.

A row tells what file an article has and what it holds (SHA-256 of the file's
bytes), where it came from (URL, the feed's ``mtime``) and when it was written.
Writing an article is a two-step protocol so that the index and the files agree at
every instant, whenever the process is killed:

1. ``begin_write`` records the path and hash about to be written (``pending_*``);
2. the file is renamed into place from a durable temporary file;
3. ``finish_write`` moves the pending values into the row in one transaction.

Until step 3 the article does not count as archived. A reader (``verify``) accepts
a file that matches either the committed or the pending hash of its row. The
archive owner runs each step for a whole batch of articles at once (group commit,
owner.py): the pending marks of the batch in one transaction (``begin_writes``),
the renames, then, once their folders are fsynced, step 3 of every article in
one transaction.
"""

from __future__ import annotations

import json
import logging
import os
import sqlite3
import stat
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from newscrawl.archive.files import STATE_DIR, fsync_dir
from newscrawl.archive.runlog import read_runs

logger = logging.getLogger(__name__)

INDEX_NAME = "index.sqlite3"
#: The schema this code writes; older indexes are migrated (MIGRATIONS).
SCHEMA_VERSION = 5
#: Below this much free space an I/O error opening the index is a full disk.
LOW_SPACE = 1024 * 1024

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
    pending_sha256 TEXT,
    missing_since TEXT,
    withdrawn_at TEXT,
    withdrawn_status INTEGER
    -- missing_since: its file found missing (reindex), till restored;
    -- withdrawn_*: since when (ISO 8601, UTC) its page answers 404 or 410, which.
);
"""
# Version 2: the change journal (`scrapy changes`), written in the transaction of
# each change, and the doc ids that redirect to another article.
_SCHEMA_2 = """
CREATE TABLE IF NOT EXISTS changes (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    at TEXT NOT NULL,             -- ISO 8601, UTC, microseconds
    run TEXT NOT NULL,            -- the run (or writer session) that made it
    doc_id TEXT NOT NULL,
    change TEXT NOT NULL
        CHECK (change IN ('created', 'updated', 'moved', 'removed', 'withdrawn')),
    path TEXT NOT NULL,
    old_path TEXT                 -- 'moved': where it was
);
CREATE INDEX IF NOT EXISTS changes_by_run ON changes (run);
CREATE TABLE IF NOT EXISTS aliases (
    alias TEXT PRIMARY KEY,       -- a doc id the feed lists ...
    doc_id TEXT NOT NULL,         -- ... whose page redirects to this article
    feed_mtime INTEGER
);
"""
# Version 3: backfill by date. Per channel and Beijing day, what the feed's window
# said (its total, when it was read, whether every item is archived), and each item
# the window listed with what became of it: coverage counts come from these.
_SCHEMA_3 = """
CREATE TABLE IF NOT EXISTS feed_days (
    channel TEXT NOT NULL,        -- the channel's name (SINA_CHANNELS)
    day TEXT NOT NULL,            -- YYYY-MM-DD, Beijing
    total INTEGER,                -- the window's total when last read
    read_at TEXT,                 -- ISO 8601, UTC: when its pages were last read
    complete INTEGER NOT NULL DEFAULT 0,  -- 1: every item archived, not read again
    PRIMARY KEY (channel, day)
);
CREATE TABLE IF NOT EXISTS feed_day_items (
    channel TEXT NOT NULL,
    day TEXT NOT NULL,
    doc_id TEXT NOT NULL,         -- as the window listed it (maybe an alias)
    outcome TEXT,                 -- NULL, 'failed' or 'dropped': its last attempt
    PRIMARY KEY (channel, day, doc_id)
);
CREATE INDEX IF NOT EXISTS feed_day_items_by_doc ON feed_day_items (doc_id);
"""
# Version 4: every captured version of every article (its WARC response record),
# and withdrawn articles (articles.withdrawn_*; 'withdrawn' in the journal).
_SCHEMA_4 = """
CREATE TABLE IF NOT EXISTS versions (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    doc_id TEXT NOT NULL,
    url TEXT NOT NULL,
    warc_file TEXT NOT NULL,      -- in the WARC folder
    warc_offset INTEGER NOT NULL, -- of the response record's gzip member
    warc_length INTEGER NOT NULL,
    fetched TEXT NOT NULL,        -- ISO 8601, UTC: the record's WARC-Date
    feed_mtime INTEGER,
    payload_digest TEXT NOT NULL, -- WARC-Payload-Digest
    sha256 TEXT,                  -- of the article file derived from it
    UNIQUE (warc_file, warc_offset)
);
CREATE INDEX IF NOT EXISTS versions_by_doc ON versions (doc_id, seq);
"""
# Version 5: what the page and the feed said of each version of each article (its
# file's hash), which the file's format has no place for (`scrapy export`). NULL is
# "not known" (a row filled from a file or an older index); '' and [] are "the page
# says none". Lists are JSON arrays.
_SCHEMA_5 = """
CREATE TABLE IF NOT EXISTS meta (
    doc_id TEXT NOT NULL,
    sha256 TEXT NOT NULL,         -- of the article file this describes
    origin TEXT NOT NULL CHECK (origin IN ('page', 'file', 'index')),
    -- 'page': read from the page and its feed item (crawl, rebuild), 'file': from
    -- the file (reindex), 'index': from a schema 4 index (migration)
    recorded TEXT NOT NULL,       -- ISO 8601, UTC
    url TEXT,
    channel TEXT,                 -- its name in SINA_CHANNELS
    categories TEXT,              -- JSON list
    title TEXT,
    published TEXT,               -- ISO 8601, UTC
    updated TEXT,                 -- ISO 8601, UTC: the page's own update time
    outlet TEXT,                  -- 来源: the original media outlet
    original_title TEXT,          -- 原标题
    editor TEXT,                  -- 责任编辑
    editor_code TEXT,             -- Sina's code of the editor: SF014
    keywords TEXT,                -- JSON list
    stocks TEXT,                  -- JSON list: sh600519, sz000001, hk00700, usAAPL
    length INTEGER,               -- non-whitespace characters of the plain text
    PRIMARY KEY (doc_id, sha256)
);
"""
#: How each origin ranks: a better one replaces a worse one's row, never the reverse.
_ORIGIN_RANK = "CASE origin WHEN 'page' THEN 3 WHEN 'file' THEN 2 ELSE 1 END"


class IndexUnusableError(RuntimeError):
    """The index cannot be used as it is (damaged, full disk, another program's)."""


class IndexDamagedError(IndexUnusableError):
    """The index is proven damaged (SQLite says so): `scrapy reindex` rebuilds it."""


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
    missing_since: str | None = None
    withdrawn_at: str | None = None
    withdrawn_status: int | None = None

    @property
    def archived(self) -> bool:
        """Whether a write of this article was ever completed."""
        return self.sha256 is not None


@dataclass(frozen=True, slots=True)
class Change:
    """One line of the change journal."""

    seq: int
    at: str
    run: str
    doc_id: str
    change: str
    path: str
    old_path: str | None = None


@dataclass(frozen=True, slots=True)
class Version:
    """One captured version of an article: its response record and derived file."""

    seq: int
    doc_id: str
    url: str
    warc_file: str
    warc_offset: int
    warc_length: int
    fetched: str
    feed_mtime: int | None
    payload_digest: str
    sha256: str | None


@dataclass(frozen=True, slots=True)
class ArticleMeta:
    """What the page and the feed said of one version of an article (``meta``).

    None: not known (the row was recovered from a file or an older index); an
    empty string or list: the page says none.
    """

    doc_id: str
    sha256: str  # of the file it describes; "" until the file is written
    origin: str  # "page", "file" or "index"
    recorded: str = ""
    url: str | None = None
    channel: str | None = None
    categories: tuple[str, ...] | None = None
    title: str | None = None
    published: str | None = None
    updated: str | None = None
    outlet: str | None = None
    original_title: str | None = None
    editor: str | None = None
    editor_code: str | None = None
    keywords: tuple[str, ...] | None = None
    stocks: tuple[str, ...] | None = None
    length: int | None = None

    def to_db(self) -> tuple[Any, ...]:
        """The row's values, lists as JSON, in the columns' order."""
        return tuple(
            _json_list(value) if name in _LIST_FIELDS else value
            for name, value in zip(_META_FIELDS, _values(self), strict=True)
        )

    @classmethod
    def from_db(cls, values: Sequence[Any]) -> ArticleMeta:
        """A row read back (``SELECT`` of the columns in their order)."""
        found: dict[str, Any] = {
            name: _from_json_list(value) if name in _LIST_FIELDS else value
            for name, value in zip(_META_FIELDS, values, strict=True)
        }
        return cls(**found)


def _json_list(value: Sequence[str] | None) -> str | None:
    return None if value is None else json.dumps(list(value), ensure_ascii=False)


def _from_json_list(value: str | None) -> tuple[str, ...] | None:
    return None if value is None else tuple(json.loads(value))


@dataclass(slots=True)
class DayCoverage:
    """What the archive holds of one channel's day (``scrapy coverage``)."""

    channel: str
    day: str
    total: int | None  # the feed's window total, when last read
    read_at: str | None
    complete: bool
    listed: int = 0  # items the window listed (recorded)
    archived: int = 0
    failed: int = 0  # not archived: the page could not be fetched
    dropped: int = 0  # not archived: refused as not an article
    gaps: list[str] = field(default_factory=list)  # listed, not archived

    @property
    def missing(self) -> int:
        """Articles of the day the archive lacks, by the feed's total."""
        return max((self.total or 0) - self.archived, len(self.gaps))


_COLUMNS = ", ".join(f.name for f in fields(IndexRow))
_PLACEHOLDERS = ", ".join("?" for _ in fields(IndexRow))
_CHANGE_COLUMNS = ", ".join(f.name for f in fields(Change))
_VERSION_COLUMNS = ", ".join(f.name for f in fields(Version))
_META_FIELDS = tuple(f.name for f in fields(ArticleMeta))
_META_COLUMNS = ", ".join(_META_FIELDS)
_LIST_FIELDS = frozenset({"categories", "keywords", "stocks"})
_META_UPDATES = ", ".join(f"{name} = excluded.{name}" for name in _META_FIELDS[2:])


def index_path(archive_root: Path) -> Path:
    """Where the index of the archive at ``archive_root`` lives."""
    return archive_root / STATE_DIR / INDEX_NAME


def state_dir(archive_root: Path, *, create: bool) -> Path:
    """The crawler's folder in the archive, checked to be a real folder.

    IndexUnusableError (one line) if it is a file or a link: the archive's state
    never lives outside the archive.
    """
    folder = archive_root / STATE_DIR
    try:
        found = folder.lstat()
    except FileNotFoundError:
        if not create:
            return folder
        folder.mkdir(parents=True, exist_ok=True)
        found = folder.lstat()
    except NotADirectoryError as exc:
        raise IndexUnusableError(f"{archive_root} is not a folder") from exc
    if stat.S_ISLNK(found.st_mode):
        raise IndexUnusableError(f"{folder} is a link; the archive refuses it")
    if not stat.S_ISDIR(found.st_mode):
        raise IndexUnusableError(f"{folder} is not a folder (move the file away)")
    return folder


def free_space(folder: Path) -> int:
    """Bytes free for us on the disk of ``folder``."""
    found = os.statvfs(folder)
    return found.f_bavail * found.f_frsize


def _unusable(path: Path, exc: sqlite3.Error) -> IndexUnusableError:
    """The error to report for ``exc`` met while opening the index at ``path``.

    Damage is only what SQLite proves (not a database, corrupt): a full disk or an
    I/O error says so, and `reindex` would only make things worse.
    """
    name = getattr(exc, "sqlite_errorname", "") or ""
    if name == "SQLITE_NOTADB" or name.startswith("SQLITE_CORRUPT"):
        return IndexDamagedError(
            f"the index {path} is damaged ({exc}); run `scrapy reindex` to rebuild it"
        )
    free = free_space(path.parent)
    if name == "SQLITE_FULL" or (name.startswith("SQLITE_IOERR") and free < LOW_SPACE):
        return IndexUnusableError(
            f"the disk of {path.parent} is full ({free // 1024} KiB free):"
            " free some space, then run again (the index is intact)"
        )
    return IndexUnusableError(f"cannot open the index {path} ({name or exc}): {exc}")


class ArchiveIndex:
    """The SQLite index of one archive folder."""

    def __init__(self, path: Path, *, create: bool = True) -> None:
        self.path = path
        state_dir(path.parent.parent, create=create)
        try:
            found = path.lstat()
        except FileNotFoundError:
            if not create:
                raise IndexUnusableError(
                    f"no index at {path}: run `scrapy reindex` to build it"
                ) from None
            self._create(path)
            found = path.lstat()
        if stat.S_ISLNK(found.st_mode) or not stat.S_ISREG(found.st_mode):
            raise IndexUnusableError(f"{path} is not a regular file; refused")
        if found.st_size == 0:
            # A new index is made whole under another name (`_create`): an empty
            # file here is not ours, and SQLite would take it for a new database.
            raise IndexDamagedError(
                f"the index {path} is empty (0 bytes); run `scrapy reindex`"
            )
        # Autocommit mode: transactions are explicit (see `transaction`).
        try:
            self.db = sqlite3.connect(path, isolation_level=None, timeout=30)
        except sqlite3.Error as exc:
            raise _unusable(path, exc) from exc
        try:
            self.db.execute("PRAGMA journal_mode=WAL")
            # FULL: a commit is on disk when it returns, like the article before it.
            self.db.execute("PRAGMA synchronous=FULL")
            self._synced = True
            version = self.db.execute("PRAGMA user_version").fetchone()[0]
            if version > SCHEMA_VERSION:
                raise IndexUnusableError(
                    f"{path} has schema {version}, newer than this newscrawl knows"
                    f" ({SCHEMA_VERSION}): use the newscrawl that wrote it"
                )
            if version < 1:
                raise IndexDamagedError(
                    f"{path} has no newscrawl schema; run `scrapy reindex`"
                )
            if version < SCHEMA_VERSION:
                self._migrate(version)
        except sqlite3.Error as exc:
            self.db.close()
            # Never recreate an index silently: it is the memory of what is
            # archived. `reindex` rebuilds it from the files, on purpose.
            raise _unusable(path, exc) from exc
        except IndexUnusableError:
            self.db.close()
            raise

    @staticmethod
    def _create(path: Path) -> None:
        """Make a new, empty index at ``path``, whole or not at all."""
        temp = path.with_name(f".{path.name}.{os.getpid()}.new")
        for suffix in ("", "-wal", "-shm", "-journal"):
            temp.with_name(temp.name + suffix).unlink(missing_ok=True)
        try:
            db = sqlite3.connect(temp, isolation_level=None)
            try:
                db.execute("PRAGMA journal_mode=WAL")
                db.executescript(
                    _SCHEMA + _SCHEMA_2 + _SCHEMA_3 + _SCHEMA_4 + _SCHEMA_5
                )
                db.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
            finally:
                db.close()
            os.replace(temp, path)
            fsync_dir(path.parent)
        except sqlite3.Error as exc:
            raise _unusable(path, exc) from exc
        finally:
            for suffix in ("", "-wal", "-shm", "-journal"):
                temp.with_name(temp.name + suffix).unlink(missing_ok=True)

    def _migrate(self, version: int) -> None:
        """Upgrade an index of an older schema in place, after a backup beside it."""
        backup = self.path.with_name(f"{self.path.name}.v{version}.backup")
        target = sqlite3.connect(backup)
        try:
            self.db.backup(target)
        finally:
            target.close()
        fsync_dir(self.path.parent)
        with self.transaction() as db:
            for step in range(version, SCHEMA_VERSION):
                MIGRATIONS[step](db, self.path.parent.parent)
            db.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
        logger.warning(
            "Upgraded the index %s from schema %d to %d (a copy of the old one is %s)",
            self.path,
            version,
            SCHEMA_VERSION,
            backup,
        )

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

        Inside another transaction (a batch of the archive owner's group commit),
        this one is part of it: committed, or rolled back, with it.
        """
        if self.db.in_transaction:
            yield self.db
            return
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

    def lookup(self, doc_id: str) -> tuple[IndexRow | None, int | None]:
        """The row an article the feed lists as ``doc_id`` is archived under, and
        the feed mtime last seen for that doc id (an alias has its own)."""
        row = self.get(doc_id)
        if row is not None:
            return row, row.feed_mtime
        found = self.db.execute(
            "SELECT doc_id, feed_mtime FROM aliases WHERE alias = ?", (doc_id,)
        ).fetchone()
        if found is None:
            return None, None
        return self.get(found[0]), found[1]

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

    def missing_count(self) -> int:
        """How many archived articles are marked missing (their file is gone)."""
        return int(
            self.db.execute(
                "SELECT count(*) FROM articles WHERE missing_since IS NOT NULL"
            ).fetchone()[0]
        )

    def integrity_problems(self) -> list[str]:
        """What SQLite's own integrity check finds wrong; empty when all is well."""
        found = [r[0] for r in self.db.execute("PRAGMA integrity_check")]
        return [] if found == ["ok"] else found

    def changes(self, *, after_seq: int = 0, after_time: str = "") -> Iterator[Change]:
        """The journal's lines after a sequence number and a time, oldest first."""
        for found in self.db.execute(
            f"SELECT {_CHANGE_COLUMNS} FROM changes WHERE seq > ? AND at > ?"
            " ORDER BY seq",
            (after_seq, after_time),
        ):
            yield Change(*found)

    def last_change_of_run(self, run: str) -> int | None:
        """The journal's last sequence number written by ``run``, if it wrote any."""
        found = self.db.execute(
            "SELECT max(seq) FROM changes WHERE run = ?", (run,)
        ).fetchone()
        return None if found[0] is None else int(found[0])

    def aliases(self) -> Iterator[tuple[str, str, int | None]]:
        """Every alias: (alias, doc id, feed mtime)."""
        yield from self.db.execute("SELECT alias, doc_id, feed_mtime FROM aliases")

    # --- Writing ---------------------------------------------------------------------

    def begin_write(self, doc_id: str, url: str, path: str, sha256: str) -> None:
        """Record that ``path`` is about to be written with bytes of ``sha256``."""
        self.begin_writes([(doc_id, url, path, sha256)])

    def begin_writes(self, writes: Iterable[tuple[str, str, str, str]]) -> None:
        """Record that each ``(doc id, url, path, sha256)`` is about to be written:
        a batch's files, in one synced transaction (once per batch, so that no
        file is ever in place without its mark, even after a power cut)."""
        with self.transaction() as db:
            db.executemany(
                "INSERT INTO articles (doc_id, url, path, pending_path, pending_sha256)"
                " VALUES (?1, ?2, ?3, ?3, ?4)"
                " ON CONFLICT(doc_id) DO UPDATE SET"
                " pending_path = excluded.pending_path,"
                " pending_sha256 = excluded.pending_sha256",
                writes,
            )

    def finish_write(
        self,
        row: IndexRow,
        *,
        now: str,
        run: str,
        change: str,
        old_path: str | None,
        version: Version | None = None,
        meta: ArticleMeta | None = None,
    ) -> None:
        """The file of ``row`` is durably on disk: make the row say so, and journal
        the ``change`` in the same transaction (with what the page said of it)."""
        with self.transaction() as db:
            db.execute(
                "UPDATE articles SET url = ?, path = ?, title = ?, published = ?,"
                " feed_mtime = ?, sha256 = ?,"
                " first_archived = coalesce(first_archived, ?), last_updated = ?,"
                " pending_path = NULL, pending_sha256 = NULL, missing_since = NULL,"
                " withdrawn_at = NULL, withdrawn_status = NULL"
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
            _journal(db, now, run, row.doc_id, change, row.path, old_path)
            if version is not None:
                _version(db, version)
            if meta is not None:
                _meta(db, meta, now)

    def saw(
        self,
        doc_id: str,
        url: str,
        feed_mtime: int | None,
        version: Version | None = None,
        meta: ArticleMeta | None = None,
    ) -> None:
        """The article was fetched again and its file is unchanged: note the mtime
        (and the new capture, if its payload differs from the last one, and what
        the page says now: its keywords may have changed, not its file)."""
        with self.transaction() as db:
            db.execute(
                "UPDATE articles SET url = ?, feed_mtime = ?,"
                " withdrawn_at = NULL, withdrawn_status = NULL WHERE doc_id = ?",
                (url, feed_mtime, doc_id),
            )
            if version is not None:
                _version(db, version)
            if meta is not None:
                _meta(db, meta, _now())

    def meta(self, doc_id: str | None = None) -> Iterator[ArticleMeta]:
        """The metadata of every version of ``doc_id`` (of every article if None)."""
        where, args = ("WHERE doc_id = ?", (doc_id,)) if doc_id else ("", ())
        for found in self.db.execute(
            f"SELECT {_META_COLUMNS} FROM meta {where} ORDER BY doc_id, recorded",
            args,
        ):
            yield ArticleMeta.from_db(found)

    def described(
        self, doc_ids: Sequence[str] | None = None
    ) -> Iterator[tuple[IndexRow, ArticleMeta | None, int]]:
        """Each archived article (of ``doc_ids``, else all, by path) with the
        metadata of its current file and how many versions were captured.

        A cursor, not a list: the export reads 100,000 articles in flat memory.
        """
        query = (
            f"SELECT {', '.join('a.' + c for c in _COLUMNS.split(', '))},"
            f" {', '.join('m.' + c for c in _META_FIELDS)},"
            " (SELECT count(*) FROM versions v WHERE v.doc_id = a.doc_id)"
            " FROM articles a LEFT JOIN meta m"
            " ON m.doc_id = a.doc_id AND m.sha256 = a.sha256"
            " WHERE a.sha256 IS NOT NULL"
        )
        width = len(fields(IndexRow))
        if doc_ids is None:
            batches: Iterable[Sequence[str] | None] = [None]
        else:
            # SQLite takes at most 32,766 variables a statement.
            batches = [doc_ids[i : i + 500] for i in range(0, len(doc_ids), 500)]
        for batch in batches:
            where = (
                ""
                if batch is None
                else f" AND a.doc_id IN ({', '.join('?' for _ in batch)})"
            )
            for found in self.db.execute(
                f"{query}{where} ORDER BY a.path", tuple(batch or ())
            ):
                meta = found[width:-1]
                yield (
                    IndexRow(*found[:width]),
                    None if meta[0] is None else ArticleMeta.from_db(meta),
                    int(found[-1]),
                )

    def add_meta(self, metas: Iterable[ArticleMeta]) -> None:
        """Record metadata found otherwise (a rebuild from the raw capture)."""
        with self.transaction() as db:
            now = _now()
            for meta in metas:
                _meta(db, meta, now)

    def versions(self, doc_id: str | None = None) -> Iterator[Version]:
        """The captured versions of ``doc_id`` (of every article if None), oldest
        first."""
        where, args = ("WHERE doc_id = ?", (doc_id,)) if doc_id else ("", ())
        for found in self.db.execute(
            f"SELECT {_VERSION_COLUMNS} FROM versions {where} ORDER BY doc_id, seq",
            args,
        ):
            yield Version(*found)

    def last_capture(self, url: str, doc_ids: Sequence[str]) -> tuple[str, str] | None:
        """(payload digest, fetch time) of the last version captured from ``url``
        of the articles ``doc_ids``: a few rows of versions_by_doc per doc id,
        never a scan of every version."""
        best: tuple[int, str, str] | None = None
        for doc_id in dict.fromkeys(doc_ids):
            found = self.db.execute(
                "SELECT seq, payload_digest, fetched FROM versions"
                " WHERE doc_id = ? AND url = ?"
                " ORDER BY seq DESC LIMIT 1",
                (doc_id, url),
            ).fetchone()
            if found is not None and (best is None or found[0] > best[0]):
                best = (found[0], found[1], found[2])
        return None if best is None else (best[1], best[2])

    def add_versions(self, versions: Iterable[Version]) -> None:
        """Record captured versions found otherwise (a scan of the WARC files)."""
        with self.transaction() as db:
            for version in versions:
                _version(db, version)

    def withdraw(
        self, doc_id: str, status: int, *, now: str, run: str
    ) -> IndexRow | None:
        """The archived article's page answered ``status`` (404, 410): keep it,
        mark it withdrawn and journal it (once); the row, if newly marked."""
        row = self.get(doc_id)
        if row is None or not row.archived or row.withdrawn_at is not None:
            return None
        with self.transaction() as db:
            db.execute(
                "UPDATE articles SET withdrawn_at = ?, withdrawn_status = ?"
                " WHERE doc_id = ?",
                (now, status, doc_id),
            )
            _journal(db, now, run, doc_id, "withdrawn", row.path, None)
        return row

    def alias(self, alias: str, doc_id: str, feed_mtime: int | None) -> None:
        """The feed's ``alias`` redirects to the article ``doc_id``."""
        with self.transaction() as db:
            db.execute(
                "INSERT INTO aliases (alias, doc_id, feed_mtime) VALUES (?, ?, ?)"
                " ON CONFLICT(alias) DO UPDATE SET"
                " doc_id = excluded.doc_id, feed_mtime = excluded.feed_mtime",
                (alias, doc_id, feed_mtime),
            )

    def remove(self, doc_id: str, *, now: str, run: str) -> IndexRow | None:
        """Drop the row of ``doc_id`` and its aliases, journalled; the old row."""
        row = self.get(doc_id)
        if row is None:
            return None
        with self.transaction() as db:
            db.execute("DELETE FROM articles WHERE doc_id = ?", (doc_id,))
            db.execute("DELETE FROM aliases WHERE doc_id = ?", (doc_id,))
            # What its pages said goes with the article; its captured versions
            # stay, as the WARC records they name do.
            db.execute("DELETE FROM meta WHERE doc_id = ?", (doc_id,))
            if row.archived:
                _journal(db, now, run, doc_id, "removed", row.path, None)
        return row

    def mark_missing(self, doc_ids: Iterable[str], now: str) -> None:
        """These archived articles' files are gone: say so until they are restored."""
        with self.transaction() as db:
            db.executemany(
                "UPDATE articles SET missing_since = coalesce(missing_since, ?)"
                " WHERE doc_id = ?",
                ((now, d) for d in doc_ids),
            )

    # --- Days of the feed (backfill, coverage) --------------------------------------

    def record_window(
        self, channel: str, day: str, total: int, doc_ids: Iterable[str], now: str
    ) -> None:
        """A page of the feed's window of ``day`` was read: its total and items."""
        with self.transaction(synced=False) as db:
            db.execute(
                "INSERT INTO feed_days (channel, day, total, read_at)"
                " VALUES (?, ?, ?, ?) ON CONFLICT(channel, day) DO UPDATE SET"
                " total = excluded.total, read_at = excluded.read_at",
                (channel, day, total, now),
            )
            db.executemany(
                "INSERT OR IGNORE INTO feed_day_items (channel, day, doc_id)"
                " VALUES (?, ?, ?)",
                ((channel, day, d) for d in doc_ids),
            )

    def note_outcome(self, doc_id: str, outcome: str | None) -> None:
        """What became of a listed item: 'failed', 'dropped', or None (archived)."""
        with self.transaction(synced=False) as db:
            db.execute(
                "UPDATE feed_day_items SET outcome = ? WHERE doc_id = ?",
                (outcome, doc_id),
            )

    def complete_days(self, channel: str) -> set[str]:
        """The days of ``channel`` marked complete: backfill reads them no more."""
        return {
            day
            for (day,) in self.db.execute(
                "SELECT day FROM feed_days WHERE channel = ? AND complete = 1",
                (channel,),
            )
        }

    def settle_day(self, channel: str, day: str) -> bool:
        """Mark ``day`` complete if its window was read to its total and every item
        it listed is archived; return whether it is complete."""
        found = self.coverage(channel=channel, since=day, until=day)
        if not found:
            return False
        cover = found[0]
        if cover.complete:
            return True
        if cover.total is None or cover.listed < cover.total or cover.gaps:
            return False
        with self.transaction(synced=False) as db:
            db.execute(
                "UPDATE feed_days SET complete = 1 WHERE channel = ? AND day = ?",
                (channel, day),
            )
        return True

    def coverage(
        self, *, channel: str | None = None, since: str = "", until: str = "9999"
    ) -> list[DayCoverage]:
        """Per channel and day read by backfill: the feed's total, what was
        archived, failed and dropped, and the doc ids not archived (the gaps)."""
        days: dict[tuple[str, str], DayCoverage] = {}

        # Spelt out rather than "(? IS NULL OR channel = ?)", which keeps SQLite
        # from using the primary key: a year's backfill settles 365 days by it.
        def where(table: str) -> str:
            found = f"{table}.day >= ? AND {table}.day <= ?"
            return found if channel is None else f"{table}.channel = ? AND {found}"

        values = (since, until) if channel is None else (channel, since, until)
        for name, day, total, read_at, complete in self.db.execute(
            "SELECT channel, day, total, read_at, complete FROM feed_days d"
            f" WHERE {where('d')} ORDER BY channel, day",
            values,
        ):
            days[name, day] = DayCoverage(name, day, total, read_at, bool(complete))
        for name, day, doc_id, outcome, archived in self.db.execute(
            "SELECT i.channel, i.day, i.doc_id, i.outcome,"
            " (a.sha256 IS NOT NULL OR b.sha256 IS NOT NULL)"
            " FROM feed_day_items i"
            " LEFT JOIN articles a ON a.doc_id = i.doc_id"
            " LEFT JOIN aliases al ON al.alias = i.doc_id"
            " LEFT JOIN articles b ON b.doc_id = al.doc_id"
            f" WHERE {where('i')}"
            " ORDER BY i.doc_id",
            values,
        ):
            cover = days.get((name, day))
            if cover is None:
                continue
            cover.listed += 1
            if archived:
                cover.archived += 1
                continue
            if outcome == "failed":
                cover.failed += 1
            elif outcome == "dropped":
                cover.dropped += 1
            cover.gaps.append(doc_id)
        return list(days.values())


def _journal(
    db: sqlite3.Connection,
    at: str,
    run: str,
    doc_id: str,
    change: str,
    path: str,
    old_path: str | None,
) -> None:
    db.execute(
        "INSERT INTO changes (at, run, doc_id, change, path, old_path)"
        " VALUES (?, ?, ?, ?, ?, ?)",
        (at, run, doc_id, change, path, old_path),
    )


def _values(row: Any) -> tuple[Any, ...]:
    """A dataclass's fields in order, as they are: ``astuple`` deep-copies each
    (every value here is immutable), which the profile of a crawl showed."""
    kind = type(row)
    names = _FIELD_NAMES.get(kind)
    if names is None:
        names = _FIELD_NAMES[kind] = tuple(f.name for f in fields(row))
    return tuple(getattr(row, name) for name in names)


_FIELD_NAMES: dict[type, tuple[str, ...]] = {}


def _version(db: sqlite3.Connection, version: Version) -> None:
    """Add a version; the same record again (a rebuild) only updates its hash."""
    db.execute(
        "INSERT INTO versions (doc_id, url, warc_file, warc_offset, warc_length,"
        " fetched, feed_mtime, payload_digest, sha256)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
        " ON CONFLICT(warc_file, warc_offset) DO UPDATE SET sha256 = excluded.sha256",
        _values(version)[1:],
    )


def _meta(db: sqlite3.Connection, meta: ArticleMeta, now: str) -> None:
    """Add the metadata of a version; it replaces what is known of that version
    unless that came from a better origin (the page beats the file)."""
    values = meta.to_db()
    if not meta.recorded:
        values = (*values[:3], now, *values[4:])
    db.execute(
        f"INSERT INTO meta ({_META_COLUMNS})"
        f" VALUES ({', '.join('?' for _ in _META_FIELDS)})"
        f" ON CONFLICT(doc_id, sha256) DO UPDATE SET {_META_UPDATES}"
        f" WHERE {_ORIGIN_RANK.replace('origin', 'excluded.origin')}"
        f" >= {_ORIGIN_RANK.replace('origin', 'meta.origin')}",
        values,
    )


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds")


def write_index(
    path: Path,
    rows: Iterable[IndexRow],
    changes: Iterable[Change],
    aliases: Iterable[tuple[str, str, int | None]],
    versions: Iterable[Version] = (),
    metas: Iterable[ArticleMeta] = (),
) -> int:
    """Write a whole new index at ``path`` (which must not exist); return its rows.

    ``reindex`` builds its index this way, beside the old one, and swaps them
    only once this returned.
    """
    ArchiveIndex._create(path)
    index = ArchiveIndex(path)
    try:
        count = 0
        with index.transaction() as db:
            for row in rows:
                db.execute(
                    f"INSERT INTO articles ({_COLUMNS}) VALUES ({_PLACEHOLDERS})",
                    _values(row),
                )
                count += 1
            db.executemany(
                f"INSERT INTO changes ({_CHANGE_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (_values(c) for c in changes),
            )
            db.executemany(
                "INSERT INTO aliases (alias, doc_id, feed_mtime) VALUES (?, ?, ?)",
                aliases,
            )
            for version in versions:
                _version(db, version)
            now = _now()
            for meta in metas:
                _meta(db, meta, now)
        return count
    finally:
        index.close()


def copy_days(source: Path, target: Path) -> None:
    """Copy what backfill knew of the feed's days (``feed_days`` and their items)
    from the index at ``source`` into the new one at ``target`` (``reindex``): the
    files cannot tell it again."""
    _copy_from(
        source,
        target,
        "INSERT OR IGNORE INTO feed_days SELECT * FROM old.feed_days",
        "INSERT OR IGNORE INTO feed_day_items SELECT * FROM old.feed_day_items",
    )


def copy_meta(source: Path, target: Path) -> None:
    """Copy the metadata of the index at ``source`` into the new one at ``target``
    (``reindex``) where it is better than what the files gave (a page's beats a
    file's) or of a version the files no longer hold; in SQLite, not in memory."""
    _copy_from(
        source,
        target,
        # "WHERE true": SQLite's upsert after a SELECT needs a WHERE.
        f"INSERT INTO meta ({_META_COLUMNS}) SELECT {_META_COLUMNS}"
        " FROM old.meta WHERE true"
        f" ON CONFLICT(doc_id, sha256) DO UPDATE SET {_META_UPDATES}"
        f" WHERE {_ORIGIN_RANK.replace('origin', 'excluded.origin')}"
        f" > {_ORIGIN_RANK.replace('origin', 'meta.origin')}",
    )


def _copy_from(source: Path, target: Path, *statements: str) -> None:
    """Run ``statements`` in one transaction of the index at ``target``, with the
    index at ``source`` attached as ``old``: rows go from file to file in SQLite."""
    index = ArchiveIndex(target)
    try:
        index.db.execute("ATTACH DATABASE ? AS old", (str(source),))
        try:
            with index.transaction() as db:
                for statement in statements:
                    db.execute(statement)
        finally:
            index.db.execute("DETACH DATABASE old")
    finally:
        index.close()


# --- Migrations ----------------------------------------------------------------------


def _to_version_2(db: sqlite3.Connection, archive_root: Path) -> None:
    """The change journal and aliases; the journal starts from the runs log."""
    db.execute("ALTER TABLE articles ADD COLUMN missing_since TEXT")
    for statement in _SCHEMA_2.split(";"):
        if statement.strip():
            db.execute(statement)
    by_path = dict(db.execute("SELECT path, doc_id FROM articles"))
    for record in read_runs(archive_root):
        for change in ("created", "updated"):
            for path in record.get(change, []):
                if path in by_path:
                    end = _utc_text(str(record.get("end", "")))
                    run = str(record.get("run", ""))
                    _journal(db, end, run, by_path[path], change, path, None)


def _utc_text(value: str) -> str:
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return value
    return moment.astimezone(UTC).isoformat(timespec="microseconds")


def _to_version_3(db: sqlite3.Connection, archive_root: Path) -> None:
    """The days backfill read (``feed_days``) and their items: empty at first."""
    for statement in _SCHEMA_3.split(";"):
        if statement.strip():
            db.execute(statement)


def _to_version_4(db: sqlite3.Connection, archive_root: Path) -> None:
    """Versions and withdrawn articles; the journal's CHECK admits 'withdrawn'
    (SQLite cannot alter a CHECK: the table is copied)."""
    db.execute("ALTER TABLE articles ADD COLUMN withdrawn_at TEXT")
    db.execute("ALTER TABLE articles ADD COLUMN withdrawn_status INTEGER")
    db.execute("ALTER TABLE changes RENAME TO changes_v2")
    db.execute("DROP INDEX IF EXISTS changes_by_run")
    for statement in (_SCHEMA_2 + _SCHEMA_4).split(";"):
        if statement.strip():
            db.execute(statement)
    db.execute(
        f"INSERT INTO changes ({_CHANGE_COLUMNS}) SELECT {_CHANGE_COLUMNS}"
        " FROM changes_v2 ORDER BY seq"
    )
    db.execute("DROP TABLE changes_v2")


def _to_version_5(db: sqlite3.Connection, archive_root: Path) -> None:
    """The metadata of article versions (``meta``): from the old index, what it
    knew (URL, title, publication time) of each archived article's current file;
    the rest (outlet, editor, keywords, stocks …) only a page can tell: `scrapy
    rebuild` reads it again from the raw capture."""
    for statement in _SCHEMA_5.split(";"):
        if statement.strip():
            db.execute(statement)
    db.execute(
        "INSERT OR IGNORE INTO meta (doc_id, sha256, origin, recorded, url, title,"
        " published)"
        " SELECT doc_id, sha256, 'index', ?, nullif(url, ''), title, published"
        " FROM articles WHERE sha256 IS NOT NULL",
        (_now(),),
    )
    count = db.execute("SELECT count(*) FROM meta").fetchone()[0]
    if count:
        logger.warning(
            "The index now keeps what each article's page says (outlet, editor,"
            " keywords, stocks …); for the %d articles archived before, only their"
            " URL, title and date are known: run `scrapy rebuild` to read the rest"
            " from the raw capture (`scrapy reindex` recovers what the files hold)",
            count,
        )


#: MIGRATIONS[v] upgrades an index of schema v to v + 1, inside one transaction.
MIGRATIONS: dict[int, Callable[[sqlite3.Connection, Path], None]] = {
    1: _to_version_2,
    2: _to_version_3,
    3: _to_version_4,
    4: _to_version_5,
}
