"""The one owner of an archive folder.

Every article write, index change, move, removal, alias and run record goes
through an ``Archive``: the single-machine pipeline, the distributed writer and the
commands all use it, so the archive's rules live in one place:

- a file and its index row agree at every instant (the index's two-phase write);
- every change is journalled in the index in the transaction that makes it, so
  ``scrapy changes`` sees the work of runs that were killed;
- durability comes per batch (group commit, ``commit``): the files of a batch are
  written under temporary names in the staging folder (``.newscrawl/staging``,
  as a maildir's ``tmp``) as they come; then, once per batch, the WARC file and
  the staged files are fsynced, the files are marked pending in the index (one
  transaction) and renamed into place, their folders are fsynced and the index
  commits every row, journal line and version of the batch in one transaction.
  Only then does an article count as archived (its ``committed`` callback runs:
  stats, log, hand-over). A process killed before that leaves the batch's files
  staged (cleared by the next session) or pending, which the next run takes as it
  takes any half-written article: it fetches them again;
- nothing is written outside the archive folder, nor through a link in it;
- an article whose file went missing is not "archived": the next run fetches it.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import logging
import os
import sqlite3
import stat
import time
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, TypeVar

from newscrawl.archive.fileformat import check_extra_fields
from newscrawl.archive.files import (
    STATE_DIR,
    NotAFileError,
    PathRules,
    fsync_file,
    is_temp_file,
    open_folder,
    regular_or_absent,
    remove_file,
    write_temp,
)
from newscrawl.archive.index import (
    ArchiveIndex,
    ArticleMeta,
    IndexRow,
    Version,
    index_path,
    state_dir,
)
from newscrawl.archive.runlog import append_run, end_crawl, start_crawl
from newscrawl.archive.warc import (
    DEFAULT_MAX_SIZE,
    Capture,
    Fetched,
    Record,
    WarcWriter,
    read_capture,
    warc_dir,
)

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator, Sequence

    from scrapy.crawler import Crawler
    from scrapy.settings import BaseSettings

logger = logging.getLogger(__name__)

Change = Literal["created", "updated", "moved", "unchanged"]
#: ARCHIVE_COMMIT_BATCH and ARCHIVE_COMMIT_INTERVAL's defaults (settings.py).
COMMIT_BATCH = 50
COMMIT_INTERVAL = 1.0
#: Files fsynced side by side: the file system (ext4's journal) commits fsyncs
#: that wait together in one go, where one after the other each costs a commit.
SYNC_THREADS = 8
#: Where a batch's files wait for its commit, inside the archive's state folder.
STAGING = "staging"
#: Folders a batch keeps open (their descriptors): one more commits the batch first.
MAX_OPEN_FOLDERS = 256
#: What the archive says of a feed item: fetch it ("new", "changed", "missing"),
#: or not ("current").
Freshness = Literal["new", "changed", "missing", "current"]


@dataclass(frozen=True, slots=True)
class Stored:
    """What storing one article did."""

    change: Change
    path: str  # archive-relative, '/'-separated
    old_path: str | None = None  # "moved": where it was


@dataclass(frozen=True, slots=True)
class Staged:
    """A file of the open batch, waiting under a temporary name for the commit to
    fsync it and rename it into place."""

    #: The folder holding the temporary file (a descriptor): the staging folder,
    #: or the file's own folder if that is on another file system.
    staged_in: int
    temp: str
    #: The file's folder (a descriptor) and its name there.
    folder: int
    name: str
    #: What the index marks pending before the rename: (doc id, URL, path, hash).
    pending: tuple[str, str, str, str]


@dataclass(slots=True)
class Batch:
    """What the next commit makes durable: index steps to run in one transaction,
    folders to fsync, and what to do once it is durable."""

    steps: list[Callable[[], None]] = field(default_factory=list)
    #: Its files, written under temporary names, in the order they were stored.
    files: list[Staged] = field(default_factory=list)
    #: The old files of moved articles: removed once the new ones are renamed.
    moved: list[str] = field(default_factory=list)
    folders: set[str] = field(default_factory=set)
    #: Doc ids and aliases in it: reading one of them commits first.
    doc_ids: set[str] = field(default_factory=set)
    changed: list[tuple[Change, str]] = field(default_factory=list)
    committed: list[Callable[[], None]] = field(default_factory=list)
    articles: int = 0


def sha256(data: bytes) -> str:
    """The hash the index keeps of a file's bytes."""
    return hashlib.sha256(data).hexdigest()


def utc_now() -> str:
    """Now, as the index writes times (microseconds: they order the journal)."""
    return datetime.now(UTC).isoformat(timespec="microseconds")


def new_run_id(started: datetime) -> str:
    """A run's id: sortable, and unique as one process holds the archive at a time."""
    return f"{started:%Y%m%dT%H%M%S%fZ}-{os.getpid()}"


def project_dir() -> Path:
    """The project's folder: that of the nearest scrapy.cfg, else of this package."""
    from scrapy.utils.conf import closest_scrapy_cfg

    found = closest_scrapy_cfg()
    return Path(found).parent if found else Path(__file__).resolve().parents[2]


def archive_root(settings: BaseSettings) -> Path:
    """``ARCHIVE_DIR``; a relative one is relative to the project's folder, so that
    cron, or a shell in any sub-folder, writes the one archive."""
    root = Path(settings.get("ARCHIVE_DIR") or "archive")
    return root if root.is_absolute() else project_dir() / root


def freshness(
    archived: bool, archived_mtime: int | None, feed_mtime: int | None
) -> tuple[Freshness, bool]:
    """Whether to fetch a feed item, and whether to adopt the feed's mtime.

    A row rebuilt by ``reindex`` has no feed mtime: its file is taken as current
    and the feed's mtime adopted (second value True), so later edits are noticed.
    """
    if not archived:
        return "new", False
    if archived_mtime is None and feed_mtime is not None:
        return "current", True
    if archived_mtime != feed_mtime:
        return "changed", False
    return "current", False


def archive_of(crawler: Crawler) -> Archive:
    """The crawl's archive owner: one per crawler, shared by its components (the
    archive pipeline, the skipping middleware, the run's outcome)."""
    archive = getattr(crawler, "newscrawl_archive", None)
    if archive is None:
        from scrapy.exceptions import NotConfigured

        try:
            archive = Archive.from_settings(crawler.settings)
        except ValueError as exc:
            raise NotConfigured(str(exc)) from exc
        crawler.newscrawl_archive = archive  # type: ignore[attr-defined]
    return archive


class Archive:
    """The archive at ``root``: its files, index, journal, aliases and runs log.

    The index is opened on first use, so a run that archives nothing leaves no
    trace in the folder.
    """

    def __init__(
        self,
        root: Path,
        template: str,
        *,
        run: str | None = None,
        warc_folder: Path | None = None,
        warc_max_size: int = DEFAULT_MAX_SIZE,
        extra_fields: Sequence[str] = (),
        commit_batch: int = 1,
        commit_interval: float = 0.0,
    ) -> None:
        self.root = root
        #: Header keys after ``thumbnail`` (``ARCHIVE_EXTRA_FIELDS``; checked).
        self.extra_fields = check_extra_fields(extra_fields)
        #: Group commit: a batch is committed once it holds this many articles,
        #: or this many seconds after its first change (``due``; 0: no time
        #: limit). 1: each article is durable when ``store`` returns.
        self.commit_batch = max(1, commit_batch)
        self.commit_interval = commit_interval
        self._batch = Batch()
        #: The folders the open batch writes in, by archive-relative path: their
        #: descriptor and that of the folder their files are staged in (closed
        #: by the commit). Each is reached once per batch, not once per file.
        self._folders: dict[str, tuple[int, int]] = {}
        #: The staging folder (a descriptor), once opened.
        self._staging: int | None = None
        #: Whether a file renames from the staging folder into each folder (by
        #: archive-relative path): not across mount points.
        self._renamable: dict[str, bool] = {}
        self._syncing: ThreadPoolExecutor | None = None
        #: When the oldest change not yet durable was made (monotonic), if any.
        self._dirty_since: float | None = None
        #: Called instead of raising when ``flush`` fails (the crawl's pipeline
        #: reports it once and stops the run).
        self.commit_failed: Callable[[OSError | sqlite3.Error], None] | None = None
        #: Where the raw capture goes (``ARCHIVE_WARC_DIR``).
        self.warc_folder = warc_folder or warc_dir(root)
        self.warc_max_size = warc_max_size
        self._warc: WarcWriter | None = None
        self.rules = PathRules(template)
        self.template = template
        self.started = datetime.now(UTC)
        #: Names this session's changes in the journal and its runs-log line.
        self.run = run or new_run_id(self.started)
        #: Paths this session created, updated and moved: its runs-log line.
        self.changed: dict[str, list[str]] = {"created": [], "updated": [], "moved": []}
        #: Called right before each article is written (raising stops the write):
        #: the distributed writer checks there that it still holds its claim.
        self.fence: Callable[[], None] = lambda: None
        self._index: ArchiveIndex | None = None

    @classmethod
    def from_settings(cls, settings: BaseSettings) -> Archive:
        """The archive of ``ARCHIVE_DIR`` and ``ARCHIVE_PATH_TEMPLATE``; touches no
        disk. ValueError naming the setting that cannot be used (the commands
        check it before anything else: ``check_settings``)."""
        from newscrawl.archive.files import DEFAULT_PATH_TEMPLATE

        root = archive_root(settings)
        return cls(
            root,
            settings.get("ARCHIVE_PATH_TEMPLATE") or DEFAULT_PATH_TEMPLATE,
            warc_folder=warc_dir(root, settings.get("ARCHIVE_WARC_DIR") or ""),
            warc_max_size=_number(settings, "ARCHIVE_WARC_MAX_SIZE", DEFAULT_MAX_SIZE),
            extra_fields=settings.getlist("ARCHIVE_EXTRA_FIELDS"),
            commit_batch=_number(settings, "ARCHIVE_COMMIT_BATCH", COMMIT_BATCH),
            commit_interval=_number(
                settings, "ARCHIVE_COMMIT_INTERVAL", COMMIT_INTERVAL
            ),
        )

    @classmethod
    def check_settings(cls, settings: BaseSettings) -> None:
        """ValueError if a setting of the archive cannot be used: said before a
        command starts, rather than an archive quietly switched off or a
        traceback half-way."""
        cls.from_settings(settings)

    # --- The index -------------------------------------------------------------------

    @property
    def index(self) -> ArchiveIndex:
        """The archive's index, opened (and created) on first use; the open batch
        is committed first, so that a reader sees every article stored."""
        if self._batch.steps:
            self.commit()
        return self._opened()

    def _opened(self) -> ArchiveIndex:
        if self._index is None:
            self._index = ArchiveIndex.for_archive(self.root)
        return self._index

    def has_index(self) -> bool:
        """Whether the archive has an index yet (a new archive has none)."""
        return self._index is not None or index_path(self.root).exists()

    def close(self) -> None:
        """Commit the open batch, close the WARC file being written and the index.

        Called on the way out, after an error too: a batch that cannot be
        committed then is said in one line (its articles stay pending: the next
        run fetches them again), not raised over the error that matters.
        """
        try:
            self.flush()
        except (OSError, sqlite3.Error) as exc:
            logger.error(
                "The last articles written into %s were not committed (%s): the"
                " next run fetches them again",
                self.root,
                exc,
            )
        finally:
            if self._syncing is not None:
                self._syncing.shutdown()
                self._syncing = None
            if self._staging is not None:
                os.close(self._staging)
                self._staging = None
            warc, self._warc = self._warc, None
            index, self._index = self._index, None
            try:
                if warc is not None:
                    warc.close()
            finally:
                # Closed even when the WARC file's last fsync failed.
                if index is not None:
                    index.close()

    # --- Group commit ----------------------------------------------------------------

    def due(self) -> bool:
        """Whether a change has waited ``commit_interval`` to be made durable."""
        return (
            self._dirty_since is not None
            and self.commit_interval > 0
            and time.monotonic() - self._dirty_since >= self.commit_interval
        )

    def commit(self) -> None:
        """Make the open batch durable, then run its ``committed`` callbacks.

        In this order: the distributed writer's claim (``fence``); the WARC
        records its articles derive from; the staged files (fsynced side by
        side); their pending marks in the index, in one synced transaction; their
        renames into place; the folders they were renamed in; the old files of
        moved articles; then the index in one synced transaction (rows, journal,
        versions, aliases). A batch that fails is not retried (OSError or
        sqlite3.Error raised): its files are pending or never placed, as a
        killed run leaves them.
        """
        batch, self._batch = self._batch, Batch()
        folders, self._folders = self._folders, {}
        self._dirty_since = None
        try:
            try:
                if batch.files:
                    # The distributed writer's claim: nothing goes into place
                    # without it.
                    self.fence()
                if self._warc is not None:
                    self._warc.sync()
            except BaseException:
                _discard(batch.files)
                raise
            self._place(batch.files)
            for folder in sorted(batch.folders):
                os.fsync(folders[folder][0])
            # Only once the new files' names are durable do the old ones go.
            for path in batch.moved:
                remove_file(self.root, Path(path))
        finally:
            for fd, _ in folders.values():
                os.close(fd)
        if batch.steps:
            # The index's writes of each step join this one transaction.
            with self._opened().transaction():
                for step in batch.steps:
                    step()
        for change, path in batch.changed:
            self.changed[change].append(path)
        for committed in batch.committed:
            committed()

    @property
    def pending(self) -> bool:
        """Whether something waits to be made durable (``commit``)."""
        return self._dirty_since is not None

    def when_committed(self, callback: Callable[[], None]) -> None:
        """Call ``callback`` once what was stored so far is durable: at the open
        batch's commit, or now if nothing stored or captured waits."""
        if self._batch.steps or self.pending:
            self._batch.committed.append(callback)
        else:
            callback()

    def flush(self) -> None:
        """``commit``, a failure going to ``commit_failed`` when it is set."""
        try:
            self.commit()
        except (OSError, sqlite3.Error) as exc:
            if self.commit_failed is None:
                raise
            self.commit_failed(exc)

    def _changed(self) -> None:
        if self._dirty_since is None:
            self._dirty_since = time.monotonic()

    def _place(self, files: list[Staged]) -> None:
        """Put a batch's staged files in place: fsynced (side by side), marked
        pending, renamed. A file not renamed (an error on the way) is removed."""
        placed = 0
        try:
            if not files:
                return
            if len(files) == 1:
                fsync_file(files[0].staged_in, files[0].temp)
            else:
                if self._syncing is None:
                    self._syncing = ThreadPoolExecutor(SYNC_THREADS, "newscrawl-fsync")
                syncs = [
                    self._syncing.submit(fsync_file, f.staged_in, f.temp) for f in files
                ]
                # All of them end before an error is raised: the folders they
                # use are closed after.
                wait(syncs)
                for sync in syncs:
                    sync.result()
            self._opened().begin_writes(f.pending for f in files)
            for staged in files:
                try:
                    os.replace(
                        staged.temp,
                        staged.name,
                        src_dir_fd=staged.staged_in,
                        dst_dir_fd=staged.folder,
                    )
                except OSError as exc:
                    # Named by the article's path, not the temporary file's name.
                    raise OSError(exc.errno, exc.strerror, staged.pending[2]) from exc
                placed += 1
        finally:
            _discard(files[placed:])

    def _folder(self, relative: str) -> tuple[int, int]:
        """The folder ``relative`` of the archive (created, reached without
        following a link) and the folder to stage its files in, as descriptors
        kept open for the batch. NotAFileError if a link or a file is in the way."""
        found = self._folders.get(relative)
        if found is not None:
            return found
        if len(self._folders) >= MAX_OPEN_FOLDERS:
            self.commit()
        staging = self._staging_folder()
        folder = open_folder(self.root, Path(relative), create=True)
        try:
            renamable = self._renamable.get(relative)
            if renamable is None:
                renamable = self._renamable[relative] = _renames(staging, folder)
        except BaseException:
            os.close(folder)
            raise
        # A folder a rename cannot reach (a mount point, even of the same file
        # system) stages its files beside them, hidden.
        found = self._folders[relative] = (folder, staging if renamable else folder)
        return found

    def _staging_folder(self) -> int:
        """The staging folder, opened once per session; what a killed session
        left there is removed first (only the holder of the archive's lock
        writes)."""
        if self._staging is None:
            self.root.mkdir(parents=True, exist_ok=True)
            fd = open_folder(self.root, Path(STATE_DIR, STAGING), create=True)
            try:
                for name in os.listdir(fd):
                    if is_temp_file(Path(name)):
                        with contextlib.suppress(FileNotFoundError):
                            os.unlink(name, dir_fd=fd)
            except BaseException:
                os.close(fd)
                raise
            self._staging = fd
        return self._staging

    def _commit_if_in_batch(self, *doc_ids: str) -> None:
        if not self._batch.doc_ids.isdisjoint(doc_ids):
            self.commit()

    # --- Reading ---------------------------------------------------------------------

    def path_of(
        self, *, categories: tuple[str, str, str], day: str, doc_id: str
    ) -> Path:
        """The archive-relative path of an article; UnsafePathError if unsafe."""
        return self.rules.path(categories=categories, date=day, doc_id=doc_id)

    def has_file(self, path: str) -> bool:
        """Whether the article file at ``path`` is there (a regular file, no link)."""
        try:
            return stat.S_ISREG((self.root / path).lstat().st_mode)
        except OSError:
            return False

    def check(self, doc_id: str, url: str, feed_mtime: int | None) -> Freshness:
        """Whether the feed item ``doc_id`` needs fetching (the archive's rule).

        An archived article whose file went missing is fetched again.
        """
        if not self.has_index():
            return "new"
        if doc_id in self._batch.doc_ids:
            self.flush()
        row, archived_mtime = self._opened().lookup(doc_id)
        if row is None or not row.archived:
            return "new"
        verdict, adopt = freshness(True, archived_mtime, feed_mtime)
        if not self.has_file(row.path):
            return "missing"
        if adopt:
            self.adopt(doc_id, url, feed_mtime)
        return verdict

    def has_missing(self) -> bool:
        """Whether an archived article's file is known to be missing (``reindex``
        marks them): the crawl then reads every feed page, to find it again."""
        return self.has_index() and self._opened().missing_count() > 0

    def archived_ids(self) -> Iterator[tuple[str, int | None]]:
        """(doc id, feed mtime) of every article a crawl may skip: archived, with
        its file, and the aliases that lead to one."""
        if not self.has_index():
            return
        present: set[str] = set()
        for row in self.index.rows():
            if row.archived and self.has_file(row.path):
                present.add(row.doc_id)
                yield row.doc_id, row.feed_mtime
        for alias, doc_id, mtime in self.index.aliases():
            if doc_id in present:
                yield alias, mtime

    def read_file(self, path: str) -> bytes | None:
        """The bytes of the article file at ``path``; None if it is not there (or
        not a regular file: links are not followed)."""
        if not self.has_file(path):
            return None
        try:
            return (self.root / path).read_bytes()
        except OSError:
            return None

    def dataset(
        self, doc_ids: Sequence[str] | None = None
    ) -> Iterator[tuple[IndexRow, ArticleMeta | None, int, bytes | None]]:
        """Every archived article (of ``doc_ids``), by path: its index row, the
        metadata of its file, its number of captured versions and the file's bytes
        (None if missing). One at a time: ``scrapy export`` streams them."""
        if not self.has_index():
            return
        for row, meta, versions in self.index.described(doc_ids):
            yield row, meta, versions, self.read_file(row.path)

    # --- Writing ---------------------------------------------------------------------

    def store(
        self,
        row: IndexRow,
        data: bytes,
        *,
        alias: str | None = None,
        alias_mtime: int | None = None,
        version: Version | None = None,
        meta: ArticleMeta | None = None,
        committed: Callable[[Stored], None] | None = None,
    ) -> Stored:
        """Write ``data`` as the file of ``row`` (path, title … set; hash ignored),
        in the open batch: durable, and ``committed`` called, once the batch is
        committed (at the latest when ``store`` returns if the batch is full).

        Unchanged bytes are not rewritten: only the feed's mtime is noted. An
        article whose path changed (its day, its channel) moves: the new file is
        written, then the old one removed, and the journal says "moved".
        ``alias``: the doc id the feed listed, whose page redirected to this one.
        ``version``: the capture the bytes were derived from, recorded with the
        file's hash (its record is made durable before the batch's index commit).
        ``meta``: what the page said of the article, kept with the file's hash in
        the index (never in the file), in the same transaction.

        Raises NotAFileError when a folder or a link stands in the way (that
        article cannot be written; the next can), OSError or sqlite3.Error when
        the disk refuses (the batch's commit included: nothing of it counts).
        """
        # The same article twice in a batch: the first is made durable first.
        self._commit_if_in_batch(row.doc_id, *([alias] if alias else []))
        digest = sha256(data)
        index = self._opened()
        old = index.get(row.doc_id)
        self.fence()
        hashed = _hashed(version, digest)
        if (
            old is not None
            and old.archived
            and old.sha256 == digest
            and old.path == row.path
            and self.has_file(row.path)
        ):
            doc_id, url, mtime = row.doc_id, row.url, row.feed_mtime
            described = _described(meta, digest)
            self._batch.steps.append(
                lambda: index.saw(doc_id, url, mtime, hashed, described)
            )
            stored = Stored("unchanged", row.path)
        else:
            stored = self._write(
                old, row, data, digest, hashed, _described(meta, digest)
            )
        batch = self._batch
        batch.doc_ids.add(row.doc_id)
        if alias is not None and alias != row.doc_id:
            batch.doc_ids.add(alias)
            target = row.doc_id
            batch.steps.append(lambda: index.alias(alias, target, alias_mtime))
        if committed is not None:
            batch.committed.append(lambda: committed(stored))
        batch.articles += 1
        self._changed()
        if batch.articles >= self.commit_batch or self.due():
            self.commit()
        return stored

    def _write(
        self,
        old: IndexRow | None,
        row: IndexRow,
        data: bytes,
        digest: str,
        version: Version | None,
        meta: ArticleMeta | None,
    ) -> Stored:
        index = self._opened()
        # Written now (a disk that refuses the bytes fails this article); fsynced,
        # marked pending and renamed into place with the batch (``commit``).
        relative, _, name = row.path.rpartition("/")
        folder, staged_in = self._folder(relative)
        regular_or_absent(folder, name)
        temp = write_temp(staged_in, name, data)
        self._batch.files.append(
            Staged(
                staged_in, temp, folder, name, (row.doc_id, row.url, row.path, digest)
            )
        )
        self._batch.folders.add(relative)
        moved_from = None
        if old is not None and old.archived and old.path != row.path:
            # The article moved (its date or channel changed): the old file goes
            # once the new one is renamed, before the row says so; meanwhile the
            # row's pending path names the new one.
            self._batch.moved.append(old.path)
            moved_from = old.path
        change: Change = (
            "created"
            if old is None or not old.archived
            else "moved"
            if moved_from
            else "updated"
        )
        finished = IndexRow(
            doc_id=row.doc_id,
            url=row.url,
            path=row.path,
            title=row.title,
            published=row.published,
            feed_mtime=row.feed_mtime,
            sha256=digest,
        )
        now, run = utc_now(), self.run
        self._batch.steps.append(
            lambda: index.finish_write(
                finished,
                now=now,
                run=run,
                change=change,
                old_path=moved_from,
                version=version,
                meta=meta,
            )
        )
        self._batch.changed.append((change, row.path))
        return Stored(change, row.path, moved_from)

    def adopt(self, doc_id: str, url: str, feed_mtime: int | None) -> None:
        """Note the feed's mtime of an archived article that has none (reindexed)."""
        row, _ = self._opened().lookup(doc_id)
        if row is not None and row.doc_id == doc_id:
            self._opened().saw(doc_id, url, feed_mtime)

    def forget(self, doc_id: str) -> IndexRow | None:
        """Drop an article on purpose: its row, its aliases and its file; journalled
        as "removed". The old row, or None if the archive has no such article."""
        row = self.index.get(doc_id)
        if row is None:
            return None
        if row.archived:
            remove_file(self.root, Path(row.path))
        return self.index.remove(doc_id, now=utc_now(), run=self.run)

    # --- The raw capture ----------------------------------------------------------

    def capture(
        self,
        fetched: Fetched,
        metadata: dict[str, Any] | None = None,
        doc_ids: Sequence[str] = (),
    ) -> Capture:
        """Write one fetch into the WARC files, durably, before anything derived
        from it is stored. A payload equal to the URL's last capture is a revisit:
        the writer remembers its recent captures, the index the older ones of the
        articles ``doc_ids`` (looked up one URL at a time, never loaded whole).
        OSError when the disk refuses. Durable with the batch (``commit``)."""
        self._changed()
        if self._warc is None:
            self._warc = WarcWriter(
                self.warc_folder,
                max_size=self.warc_max_size,
                previous=self._last_capture,
            )
        return self._warc.write(fetched, metadata, doc_ids)

    def _last_capture(self, url: str, doc_ids: Sequence[str]) -> tuple[str, str] | None:
        if not doc_ids or not self.has_index():
            return None
        # Not ``self.index``: that would commit the open batch at every capture.
        # The open batch's own captures are the writer's recent ones.
        found = self._opened().last_capture(url, doc_ids)
        return None if found is None else (found[0], _warc_date(found[1]))

    def describe(self, metas: list[ArticleMeta]) -> None:
        """Record what pages said of article versions whose files are written
        already (a rebuild that found the file right)."""
        if metas:
            self.index.add_meta(metas)

    def versions(self, doc_id: str) -> list[Version]:
        """The captured versions of an article, oldest first."""
        if not self.has_index():
            return []
        return list(self.index.versions(doc_id))

    def read(self, version: Version) -> Record:
        """The response record of a version (DamagedRecordError if unreadable)."""
        return read_capture(
            self.warc_folder,
            version.warc_file,
            version.warc_offset,
            version.warc_length,
        )

    def withdraw(self, doc_id: str, status: int) -> bool:
        """The page of an archived article answered ``status`` (404, 410): it is
        kept, marked withdrawn, and journalled; whether it was newly marked."""
        # The answer was just captured: its record is made durable before the
        # journal says "withdrawn" (the index's own commit does not wait for
        # a batch that holds only captures).
        if self.pending:
            self.commit()
        if not self.has_index():
            return False
        return (
            self.index.withdraw(doc_id, status, now=utc_now(), run=self.run) is not None
        )

    # --- Days of the feed (backfill) ------------------------------------------------

    def record_window(
        self, channel: str, day: str, total: int, doc_ids: list[str]
    ) -> None:
        """Note a page of the feed's window of ``day``: its total and its items."""
        self._opened().record_window(channel, day, total, doc_ids, utc_now())

    def note_outcome(self, doc_id: str, outcome: str | None) -> None:
        """A listed item failed ('failed'), was refused ('dropped'), or neither."""
        if self.has_index():
            self._opened().note_outcome(doc_id, outcome)

    def complete_days(self, channel: str) -> set[str]:
        """The days of ``channel`` whose every item is archived."""
        return self.index.complete_days(channel) if self.has_index() else set()

    def settle_day(self, channel: str, day: str) -> bool:
        """Mark ``day`` complete if all it listed is archived; whether it is."""
        return self.has_index() and self.index.settle_day(channel, day)

    # --- Runs ------------------------------------------------------------------------

    def start_crawl(self) -> bool:
        """Note that a crawl is under way; return whether an earlier one never ended.
        What a killed run left in the staging folder goes now."""
        state_dir(self.root, create=True)
        self._staging_folder()
        return start_crawl(self.root)

    def end_crawl(self) -> None:
        """The crawl ended normally: the next one need not make up for it."""
        end_crawl(self.root)

    def record_run(
        self,
        *,
        exit_status: int,
        finish_reason: str,
        counts: dict[str, int],
        **extra: Any,
    ) -> None:
        """Append this session's line to the runs log: its id (as in the journal),
        start, end, exit status, counts and the paths it created, updated and moved;
        then start a new session (a writer records one per batch). The open batch
        is committed first: the line names only what is durable."""
        self.commit()
        state_dir(self.root, create=True)
        append_run(
            self.root,
            {
                "run": self.run,
                "start": self.started.isoformat(),
                "end": datetime.now(UTC).isoformat(),
                "exit_status": exit_status,
                "finish_reason": finish_reason,
                "counts": counts,
                **self.changed,
                **extra,
            },
        )
        self.started = datetime.now(UTC)
        self.run = new_run_id(self.started)
        self.changed = {"created": [], "updated": [], "moved": []}


def version_of(capture: Capture, doc_id: str, feed_mtime: int | None) -> Version:
    """The index's version of an article for a capture (its hash comes on store)."""
    return Version(
        seq=0,
        doc_id=doc_id,
        url=capture.url,
        warc_file=capture.file,
        warc_offset=capture.offset,
        warc_length=capture.length,
        fetched=capture.fetched,
        feed_mtime=feed_mtime,
        payload_digest=capture.payload_digest,
        sha256=None,
    )


def _hashed(version: Version | None, digest: str) -> Version | None:
    if version is None:
        return None
    return replace(version, sha256=digest)


_N = TypeVar("_N", int, float)


def _number(settings: BaseSettings, name: str, default: _N) -> _N:
    """The setting ``name`` as a number of ``default``'s kind, not below 0."""
    raw = settings.get(name, default)
    try:
        value = type(default)(raw)
    except (TypeError, ValueError):
        value = None
    if value is None or value < 0:
        kind = "a whole number" if isinstance(default, int) else "a number"
        raise ValueError(f"{name} must be {kind}, 0 or more, not {raw!r}")
    return value


def _discard(files: Sequence[Staged]) -> None:
    """Remove staged files that will not be put in place."""
    for staged in files:
        with contextlib.suppress(OSError):
            os.unlink(staged.temp, dir_fd=staged.staged_in)


def _renames(staging: int, folder: int) -> bool:
    """Whether a file renames from the folder ``staging`` into ``folder`` (both
    descriptors): tried with an empty file. Not across mount points (EXDEV), even
    of one file system; any other error is the folder's (it refuses files: EPERM,
    EROFS …) and is raised."""
    probe = write_temp(staging, "probe", b"")
    try:
        os.rename(probe, probe, src_dir_fd=staging, dst_dir_fd=folder)
    except OSError as exc:
        with contextlib.suppress(OSError):
            os.unlink(probe, dir_fd=staging)
        if exc.errno == errno.EXDEV:
            return False
        raise
    os.unlink(probe, dir_fd=folder)
    return True


def _described(meta: ArticleMeta | None, digest: str) -> ArticleMeta | None:
    if meta is None:
        return None
    return replace(meta, sha256=digest)


def _warc_date(fetched: str) -> str:
    moment = datetime.fromisoformat(fetched)
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


__all__ = [
    "Archive",
    "Freshness",
    "NotAFileError",
    "Stored",
    "archive_root",
    "freshness",
    "sha256",
]
