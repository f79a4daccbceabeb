"""Archive, the owner: a file and its index row, consistent whenever the process
dies; the journal, aliases, missing files, links and folders in the way."""

from __future__ import annotations

import os
import stat
import time
from collections.abc import Iterator
from itertools import islice
from pathlib import Path
from typing import Any

import pytest
from warcio.archiveiterator import ArchiveIterator

from newscrawl.archive import DEFAULT_PATH_TEMPLATE, UnsafePathError
from newscrawl.archive import owner as owner_module
from newscrawl.archive.check import verify
from newscrawl.archive.files import STATE_DIR, open_folder, remove_file
from newscrawl.archive.index import ArchiveIndex, IndexRow, Version
from newscrawl.archive.owner import Archive, Stored, sha256, version_of
from newscrawl.archive.warc import Fetched
from tests.conftest import needs_root, tmpfs

CATEGORIES = ("金融", "新浪财经", "新浪财经－国內")
DOC_ID = "ikmvwzxq0000001"
PATH = f"金融/新浪财经/新浪财经－国內/2021-04-20-{DOC_ID}.md"
MOVED = f"金融/新浪财经/新浪财经－国內/2021-04-21-{DOC_ID}.md"


def article(body: str = "第一段。") -> bytes:
    """Bytes of a valid archive file (FORMAT.md), so that ``verify`` can read it."""
    return (
        "\n---\ntitle: '工信部：将开展专项整治行动'\ncategories: \n - 金融\n"
        " - 新浪财经\n - 新浪财经－国內\nheadimg: 'https://n.sinaimg.cn/x.png'\n"
        "author: 新浪财经\ncomments: false\ndate: Tue, 20 Apr 2021 11:51:38 GMT\n"
        "thumbnail: 'https://n.sinaimg.cn/x.png'\n---\n\n<div>   \n"
        f"<p>{body}</p>  \n</div>\n            "
    ).encode()


def row(path: str = PATH, mtime: int | None = 100, **values: Any) -> IndexRow:
    """What the archive pipeline hands the store (its hash is ignored)."""
    return IndexRow(
        doc_id=DOC_ID,
        url=f"https://finance.sina.com.cn/china/gncj/2021-04-20/doc-{DOC_ID}.shtml",
        path=path,
        title="工信部：将开展专项整治行动",
        published="2021-04-20T11:51:38+00:00",
        feed_mtime=mtime,
        **values,
    )


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Archive]:
    opened = Archive(tmp_path, DEFAULT_PATH_TEMPLATE)
    yield opened
    opened.close()


def indexed(store: Archive) -> IndexRow:
    found = store.index.get(DOC_ID)
    assert found is not None
    return found


def everything(root: Path) -> list[str]:
    """Every file outside the crawler's state folder, hidden ones (temporary files)
    included, relative and sorted."""
    return sorted(
        p.relative_to(root).as_posix()
        for p in root.rglob("*")
        if p.is_file() and p.relative_to(root).parts[0] != ".newscrawl"
    )


def test_a_template_without_the_doc_id_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="must contain \\{doc_id\\}"):
        Archive(tmp_path, "{c1}/{date}.md")


def test_nothing_is_created_before_the_first_write(
    store: Archive, tmp_path: Path
) -> None:
    assert store.path_of(categories=CATEGORIES, day="2021-04-20", doc_id=DOC_ID) == (
        Path(PATH)
    )
    store.close()
    assert list(tmp_path.iterdir()) == []


def test_unsafe_paths_are_refused(store: Archive) -> None:
    with pytest.raises(UnsafePathError):
        store.path_of(categories=CATEGORIES, day="2021-04-20", doc_id="../x")


def test_a_new_article(store: Archive, tmp_path: Path) -> None:
    data = article()
    assert store.store(row(), data) == Stored("created", PATH)
    assert (tmp_path / PATH).read_bytes() == data
    found = indexed(store)
    assert (found.sha256, found.path, found.feed_mtime) == (sha256(data), PATH, 100)
    assert (found.pending_path, found.pending_sha256) == (None, None)
    assert found.first_archived == found.last_updated
    assert found.first_archived is not None
    assert (tmp_path / ".newscrawl" / "index.sqlite3").is_file()
    assert everything(tmp_path) == [PATH]


def test_the_same_bytes_are_not_rewritten(store: Archive, tmp_path: Path) -> None:
    data = article()
    store.store(row(), data)
    before = os.stat(tmp_path / PATH)
    assert store.store(row(mtime=200), data) == Stored("unchanged", PATH)
    after = os.stat(tmp_path / PATH)
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)
    # The new feed mtime is noted, so the next run skips the article.
    assert indexed(store).feed_mtime == 200


def test_new_bytes_replace_the_file(store: Archive, tmp_path: Path) -> None:
    store.store(row(), article("旧"))
    first = indexed(store).first_archived
    assert store.store(row(mtime=200), article("新")) == Stored("updated", PATH)
    assert (tmp_path / PATH).read_bytes() == article("新")
    found = indexed(store)
    assert (found.sha256, found.feed_mtime) == (sha256(article("新")), 200)
    assert found.first_archived == first
    assert everything(tmp_path) == [PATH]


def test_a_moved_article_leaves_no_old_file(store: Archive, tmp_path: Path) -> None:
    store.store(row(), article())
    assert store.store(row(MOVED), article()) == Stored("moved", MOVED, PATH)
    assert everything(tmp_path) == [MOVED]
    assert indexed(store).path == MOVED
    assert verify(tmp_path).problems == []


def test_a_file_deleted_by_hand_is_written_again(
    store: Archive, tmp_path: Path
) -> None:
    store.store(row(), article())
    (tmp_path / PATH).unlink()
    assert store.store(row(), article()) == Stored("updated", PATH)
    assert (tmp_path / PATH).read_bytes() == article()


class Killed(BaseException):
    """Stands for SIGKILL at one step of a write: nothing after it runs."""


#: The steps of one write (a batch of one), in order: the bytes staged, the
#: pending mark, the rename into place, the row that makes it archived.
STEPS = ["write_temp", "begin_writes", "replace", "finish_write"]


def kill_at(monkeypatch: pytest.MonkeyPatch, target: str) -> None:
    def die(*args: object, **kwargs: object) -> None:
        raise Killed

    if target == "write_temp":
        monkeypatch.setattr(owner_module, "write_temp", die)
    elif target == "replace":
        monkeypatch.setattr(os, "replace", die)
    else:
        monkeypatch.setattr(ArchiveIndex, target, die)


def reopen(tmp_path: Path, store: Archive) -> Archive:
    store.close()
    return Archive(tmp_path, DEFAULT_PATH_TEMPLATE)


def staged(root: Path) -> list[str]:
    """The temporary files waiting in the staging folder."""
    return sorted(p.name for p in (root / STATE_DIR / "staging").glob("*"))


@pytest.mark.parametrize("step", STEPS)
def test_a_first_write_killed_midway(
    store: Archive, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, step: str
) -> None:
    assert store.index.count() == 0  # made before (it is created by a rename too)
    with monkeypatch.context() as patch:
        kill_at(patch, step)
        with pytest.raises(Killed):
            store.store(row(), article())
    found = store.index.get(DOC_ID)
    marked = STEPS.index(step) > STEPS.index("begin_writes")
    if marked:
        assert found is not None
        assert (found.pending_path, found.pending_sha256) == (PATH, sha256(article()))
    assert found is None or not found.archived
    placed = STEPS.index(step) > STEPS.index("replace")
    assert (tmp_path / PATH).exists() == placed
    # Nothing is left where the articles are, whatever the step.
    assert everything(tmp_path) == ([PATH] if placed else [])
    assert verify(tmp_path).problems == []
    # The next run finds it not archived, fetches it and writes it.
    again = reopen(tmp_path, store)
    try:
        assert again.check(DOC_ID, "u", 100) == "new"
        assert again.store(row(), article()) == Stored("created", PATH)
        assert again.index.get(DOC_ID).pending_path is None  # type: ignore[union-attr]
    finally:
        again.close()
    assert verify(tmp_path).problems == []
    assert staged(tmp_path) == []


@pytest.mark.parametrize("step", STEPS)
def test_an_update_killed_midway(
    store: Archive, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, step: str
) -> None:
    store.store(row(), article("旧"))
    with monkeypatch.context() as patch:
        kill_at(patch, step)
        with pytest.raises(Killed):
            store.store(row(mtime=200), article("新"))
    on_disk = "新" if step == "finish_write" else "旧"
    assert (tmp_path / PATH).read_bytes() == article(on_disk)
    found = indexed(store)
    # The old mtime stays, so the next run fetches the article again.
    assert (found.sha256, found.feed_mtime) == (sha256(article("旧")), 100)
    assert verify(tmp_path).problems == []
    again = reopen(tmp_path, store)
    try:
        assert again.store(row(mtime=200), article("新")) == Stored("updated", PATH)
    finally:
        again.close()
    assert verify(tmp_path).problems == []


def test_what_a_killed_batch_staged_is_removed_by_the_next_session(
    tmp_path: Path,
) -> None:
    """A kill -9 leaves the open batch's files in the staging folder, never beside
    the articles; the next session that writes clears them."""
    killed = Archive(tmp_path, DEFAULT_PATH_TEMPLATE, commit_batch=10)
    killed.store(row(), article())
    killed.store(other(2), article("二"))
    # (No commit, no close: the process died here.)
    assert len(staged(tmp_path)) == 2
    assert everything(tmp_path) == []
    assert verify(tmp_path).problems == []
    later = Archive(tmp_path, DEFAULT_PATH_TEMPLATE)
    try:
        assert later.check(DOC_ID, "u", 100) == "new"
        later.store(row(), article())
        assert staged(tmp_path) == []
    finally:
        later.close()
    assert everything(tmp_path) == [PATH]


@needs_root
def test_a_folder_mounted_from_another_file_system_stages_beside_its_files(
    tmp_path: Path,
) -> None:
    """A rename cannot cross file systems: the files of a category folder that is
    a mount point wait for the commit in that folder, hidden, not in staging."""
    mountpoint = tmp_path / "金融"
    mountpoint.mkdir()
    with tmpfs(mountpoint):
        archive = Archive(tmp_path, DEFAULT_PATH_TEMPLATE, commit_batch=10)
        try:
            archive.store(row(), article())
            folder = (tmp_path / PATH).parent
            assert [p.suffix for p in folder.iterdir()] == [".tmp"]
            assert staged(tmp_path) == []
            archive.commit()
        finally:
            archive.close()
        assert [p.name for p in folder.iterdir()] == [Path(PATH).name]
        assert (tmp_path / PATH).read_bytes() == article()
        assert verify(tmp_path).problems == []


def test_a_batch_with_too_many_folders_open_is_committed_first(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(owner_module, "MAX_OPEN_FOLDERS", 2)
    archive = Archive(tmp_path, DEFAULT_PATH_TEMPLATE, commit_batch=10)
    done: list[Stored] = []
    try:
        paths = [other(n).path.replace("新浪财经－国內", f"c{n}") for n in range(3)]
        for n, path in enumerate(paths[:2]):
            archive.store(other(n, path), article(str(n)), committed=done.append)
        assert done == []
        # A third folder: the two open ones are committed (and closed) first.
        archive.store(other(2, paths[2]), article("2"), committed=done.append)
        assert [s.path for s in done] == paths[:2]
        assert list(archive._folders) == [str(Path(paths[2]).parent)]
        assert len(staged(tmp_path)) == 1
    finally:
        archive.close()
    assert [s.path for s in done] == paths
    assert everything(tmp_path) == sorted(paths)
    assert verify(tmp_path).problems == []


def test_a_batch_whose_claim_is_lost_puts_nothing_in_place(tmp_path: Path) -> None:
    """The distributed writer's fence runs again before the commit's renames."""
    archive = Archive(tmp_path, DEFAULT_PATH_TEMPLATE, commit_batch=10)
    done: list[Stored] = []
    lost = False

    def fence() -> None:
        if lost:
            raise RuntimeError("claim lost")

    archive.fence = fence
    try:
        archive.store(other(0), article(), committed=done.append)
        lost = True
        with pytest.raises(RuntimeError, match="claim lost"):
            archive.commit()
        assert done == [] and staged(tmp_path) == [] and everything(tmp_path) == []
        assert archived_rows(tmp_path) == {}
    finally:
        archive.close()


def test_a_moved_article_loses_its_old_file_once_the_new_name_is_durable(
    store: Archive, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store.store(row(), article())
    events: list[str] = []
    fsync = os.fsync

    def recorded_fsync(fd: int) -> None:
        if stat.S_ISDIR(os.fstat(fd).st_mode):
            events.append("folder fsync")
        fsync(fd)

    def recorded_remove(root: Path, relative: Path) -> bool:
        events.append(f"remove {relative.as_posix()}")
        return remove_file(root, relative)

    monkeypatch.setattr(os, "fsync", recorded_fsync)
    monkeypatch.setattr(owner_module, "remove_file", recorded_remove)
    assert store.store(row(MOVED), article()) == Stored("moved", MOVED, PATH)
    assert events[:2] == ["folder fsync", f"remove {PATH}"]
    assert everything(tmp_path) == [MOVED]


def test_a_move_killed_at_the_rename_keeps_the_old_file(
    store: Archive, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store.store(row(), article())
    with monkeypatch.context() as patch:
        kill_at(patch, "replace")
        with pytest.raises(Killed):
            store.store(row(MOVED), article())
    assert everything(tmp_path) == [PATH]
    found = indexed(store)
    assert (found.path, found.pending_path) == (PATH, MOVED)
    assert verify(tmp_path).problems == []
    again = reopen(tmp_path, store)
    try:
        assert again.store(row(MOVED), article()) == Stored("moved", MOVED, PATH)
    finally:
        again.close()
    assert everything(tmp_path) == [MOVED]
    assert verify(tmp_path).problems == []


def test_a_batch_writes_each_folder_through_one_descriptor(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The safe walk to a folder (one ``open`` per name) is made once per batch and
    folder, not once per file; the descriptors are closed by the commit."""
    walks: list[Path] = []
    walk = open_folder

    def counted(root: Path, relative: Path, *, create: bool) -> int:
        walks.append(relative)
        return walk(root, relative, create=create)

    monkeypatch.setattr(owner_module, "open_folder", counted)
    archive = Archive(tmp_path, DEFAULT_PATH_TEMPLATE, commit_batch=20)
    try:
        for n in range(30):
            archive.store(other(n), article(str(n)))
        archive.commit()
        assert archive._folders == {}
    finally:
        archive.close()
    folder = Path("金融/新浪财经/新浪财经－国內")
    # The staging folder once; the articles' folder once per batch (two batches).
    assert walks == [Path(STATE_DIR, "staging"), folder, folder]
    assert len(everything(tmp_path)) == 30
    assert verify(tmp_path).problems == []


def test_a_move_killed_after_the_new_file(
    store: Archive, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store.store(row(), article())
    with monkeypatch.context() as patch:
        kill_at(patch, "finish_write")
        with pytest.raises(Killed):
            store.store(row(MOVED), article())
    # The old file went first; the row's pending path names the new one.
    assert everything(tmp_path) == [MOVED]
    assert verify(tmp_path).problems == []


# --- The raw capture's revisits -----------------------------------------------------


def page_fetch(body: bytes) -> Fetched:
    return Fetched(row().url, 200, [("Content-Type", "text/html")], body, [])


def test_a_revisit_is_found_in_the_index_not_in_memory(tmp_path: Path) -> None:
    first = Archive(tmp_path, DEFAULT_PATH_TEMPLATE)
    capture = first.capture(page_fetch(b"<p>one</p>"), None, [DOC_ID])
    first.store(row(), article(), version=version_of(capture, DOC_ID, 100))
    # Many versions of other articles: none of them is read by the next run.
    first.index.add_versions(
        Version(
            0,
            f"iother{n:09d}",
            f"https://x/{n}",
            "other.warc.gz",
            n,
            1,
            capture.fetched,
            None,
            "sha1:X",
            None,
        )
        for n in range(5000)
    )
    first.close()
    later = Archive(tmp_path, DEFAULT_PATH_TEMPLATE)
    try:
        again = later.capture(
            page_fetch(b"<p>one</p>"), None, ["iunknown0000001", DOC_ID]
        )
        edited = later.capture(page_fetch(b"<p>two</p>"), None, [DOC_ID])
        assert (again.revisit, edited.revisit) == (True, False)
        # The writer holds the captures it wrote, no version of the index.
        assert later._warc is not None
        assert list(later._warc.recent) == [row().url]
        # The index answers from the versions of the page's articles alone.
        plan = later.index.db.execute(
            "EXPLAIN QUERY PLAN SELECT seq, payload_digest, fetched FROM versions"
            " WHERE doc_id = ? AND url = ? ORDER BY seq DESC LIMIT 1",
            (DOC_ID, row().url),
        ).fetchall()
        assert "versions_by_doc" in str(plan)
        assert later.index.last_capture(row().url, [DOC_ID]) == (
            capture.payload_digest,
            capture.fetched,
        )
    finally:
        later.close()
    # The revisit names the record it repeats (its date), for replay tools.
    with (tmp_path / STATE_DIR / "warc" / again.file).open("rb") as stream:
        stream.seek(again.offset)
        (record,) = list(islice(ArchiveIterator(stream), 1))
    assert record.rec_type == "revisit"
    assert record.rec_headers.get_header("WARC-Refers-To-Date").startswith(
        capture.fetched[:19]
    )


# --- Group commit ----------------------------------------------------------------


def other(n: int, path: str = "") -> IndexRow:
    doc_id = f"ikmvwzxq000010{n}"
    return IndexRow(
        doc_id=doc_id,
        url=f"https://finance.sina.com.cn/china/gncj/2021-04-20/doc-{doc_id}.shtml",
        path=path or f"金融/新浪财经/新浪财经－国內/2021-04-20-{doc_id}.md",
        title="工信部：将开展专项整治行动",
        published="2021-04-20T11:51:38+00:00",
        feed_mtime=100,
    )


def archived_rows(root: Path) -> dict[str, IndexRow]:
    """The rows another reader (``verify``, the next run) sees as archived."""
    index = ArchiveIndex.for_archive(root)
    try:
        return {r.doc_id: r for r in index.rows() if r.archived}
    finally:
        index.close()


def test_a_batch_counts_once_committed(tmp_path: Path) -> None:
    batched = Archive(tmp_path, DEFAULT_PATH_TEMPLATE, commit_batch=3)
    done: list[Stored] = []
    try:
        for n in range(2):
            batched.store(other(n), article(str(n)), committed=done.append)
        # Written (staged), not archived: no file in place, no callback, no row,
        # no journal.
        assert len(staged(tmp_path)) == 2 and everything(tmp_path) == []
        assert done == [] and archived_rows(tmp_path) == {}
        assert batched.changed["created"] == []
        assert verify(tmp_path).problems == []
        batched.store(other(2), article("2"), committed=done.append)
        # The third fills the batch: all three are durable, in order.
        assert [s.path for s in done] == [other(n).path for n in range(3)]
        assert set(archived_rows(tmp_path)) == {other(n).doc_id for n in range(3)}
        assert batched.changed["created"] == [other(n).path for n in range(3)]
        # A reader of the index through the owner sees the open batch committed.
        batched.store(other(3), article("3"), committed=done.append)
        assert batched.index.get(other(3).doc_id) is not None
        assert len(done) == 4
        batched.store(other(4), article("4"), committed=done.append)
    finally:
        batched.close()
    # Closing commits the last batch.
    assert len(done) == 5 and len(archived_rows(tmp_path)) == 5
    assert verify(tmp_path).problems == []


def test_a_batch_closes_on_its_time_limit(tmp_path: Path) -> None:
    batched = Archive(
        tmp_path, DEFAULT_PATH_TEMPLATE, commit_batch=100, commit_interval=0.05
    )
    try:
        done: list[Stored] = []
        batched.store(other(0), article(), committed=done.append)
        assert done == [] and batched.pending
        time.sleep(0.06)
        assert batched.due()
        batched.store(other(1), article(), committed=done.append)
        assert len(done) == 2 and not batched.pending
    finally:
        batched.close()


def test_a_batch_that_cannot_commit_stays_pending(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    batched = Archive(tmp_path, DEFAULT_PATH_TEMPLATE, commit_batch=10)
    done: list[Stored] = []
    batched.store(other(0), article(), committed=done.append)
    batched.commit()
    batched.store(other(1), article(), committed=done.append)

    fsync = os.fsync

    def folder_full(fd: int) -> None:
        if stat.S_ISDIR(os.fstat(fd).st_mode):
            raise OSError(28, "No space left on device")
        fsync(fd)

    monkeypatch.setattr(os, "fsync", folder_full)
    with pytest.raises(OSError, match="No space"):
        batched.commit()
    monkeypatch.undo()
    batched.close()
    # The first batch is archived; the second's file is on disk, pending: the
    # next run fetches it again, verify accepts it.
    assert [s.path for s in done] == [other(0).path]
    assert set(archived_rows(tmp_path)) == {other(0).doc_id}
    assert (tmp_path / other(1).path).is_file()
    assert verify(tmp_path).problems == []
    again = Archive(tmp_path, DEFAULT_PATH_TEMPLATE)
    try:
        assert again.check(other(1).doc_id, other(1).url, 100) == "new"
        assert again.check(other(0).doc_id, other(0).url, 100) == "current"
    finally:
        again.close()
