"""The SQLite index: the two-phase write, reading, replacing, refusing damage."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from newscrawl.archive.index import (
    SCHEMA_VERSION,
    ArchiveIndex,
    ArticleMeta,
    Change,
    IndexRow,
    IndexUnusableError,
    index_path,
    write_index,
)

NOW = "2026-11-28T08:00:00+00:00"
LATER = "2026-11-29T08:00:00+00:00"


def committed(doc_id: str = "ikmvwzxq0000001", **values: object) -> IndexRow:
    """A row as the archive pipeline hands it to ``finish_write``."""
    fields: dict[str, object] = {
        "doc_id": doc_id,
        "url": f"https://finance.sina.com.cn/china/doc-{doc_id}.shtml",
        "path": f"a/b/c/2021-04-20-{doc_id}.md",
        "title": "工信部：将开展专项整治行动",
        "published": "2021-04-20T11:51:38+00:00",
        "feed_mtime": 1618919498,
        "sha256": "1" * 64,
    }
    fields.update(values)
    return IndexRow(**fields)  # type: ignore[arg-type]


def write(index: ArchiveIndex, row: IndexRow, now: str = NOW) -> None:
    """Both phases of a write, as ArticleStore does them around the file."""
    assert row.sha256 is not None
    index.begin_write(row.doc_id, row.url, row.path, row.sha256)
    index.finish_write(row, now=now, run="run-1", change="created", old_path=None)


def archived_mtime(index: ArchiveIndex, doc_id: str) -> tuple[bool, int | None]:
    """(archived, feed mtime) of a feed doc id, as the crawl asks the index."""
    row, mtime = index.lookup(doc_id)
    return (row is not None and row.archived, mtime)


@pytest.fixture
def index(tmp_path: Path) -> Iterator[ArchiveIndex]:
    opened = ArchiveIndex.for_archive(tmp_path)
    yield opened
    opened.close()


def test_lives_in_the_hidden_state_folder(tmp_path: Path) -> None:
    assert index_path(tmp_path) == tmp_path / ".newscrawl" / "index.sqlite3"
    ArchiveIndex.for_archive(tmp_path).close()
    assert index_path(tmp_path).is_file()


def test_begin_write_alone_does_not_archive(index: ArchiveIndex) -> None:
    index.begin_write(
        "iabcdefg0000001", "u", "x/2021-04-20-iabcdefg0000001.md", "f" * 64
    )
    row = index.get("iabcdefg0000001")
    assert row == IndexRow(
        doc_id="iabcdefg0000001",
        url="u",
        path="x/2021-04-20-iabcdefg0000001.md",
        pending_path="x/2021-04-20-iabcdefg0000001.md",
        pending_sha256="f" * 64,
    )
    assert not row.archived
    assert index.count() == 0
    assert archived_mtime(index, "iabcdefg0000001") == (False, None)


def test_finish_write_commits_the_pending_values(index: ArchiveIndex) -> None:
    row = committed()
    write(index, row)
    assert index.get(row.doc_id) == IndexRow(
        doc_id=row.doc_id,
        url=row.url,
        path=row.path,
        title=row.title,
        published=row.published,
        feed_mtime=row.feed_mtime,
        sha256=row.sha256,
        first_archived=NOW,
        last_updated=NOW,
        pending_path=None,
        pending_sha256=None,
    )
    assert index.count() == 1
    assert archived_mtime(index, row.doc_id) == (True, 1618919498)


def test_a_rewrite_keeps_the_committed_row_until_it_finishes(
    index: ArchiveIndex,
) -> None:
    old = committed()
    write(index, old)
    new = committed(path="a/b/c/2021-04-21-ikmvwzxq0000001.md", sha256="2" * 64)
    index.begin_write(new.doc_id, new.url, new.path, "2" * 64)
    during = index.get(old.doc_id)
    assert during is not None
    # A kill now leaves the old file described by the row, the new one pending.
    assert (during.path, during.sha256) == (old.path, old.sha256)
    assert (during.pending_path, during.pending_sha256) == (new.path, "2" * 64)
    assert during.archived
    index.finish_write(new, now=LATER, run="run-2", change="moved", old_path=old.path)
    after = index.get(old.doc_id)
    assert after is not None
    assert (after.path, after.sha256) == (new.path, "2" * 64)
    assert (after.first_archived, after.last_updated) == (NOW, LATER)
    assert (after.pending_path, after.pending_sha256) == (None, None)


def test_saw_notes_url_and_mtime_only(index: ArchiveIndex) -> None:
    row = committed()
    write(index, row)
    index.saw(row.doc_id, "https://elsewhere/x.shtml", 1700000000)
    seen = index.get(row.doc_id)
    assert seen is not None
    assert seen.url == "https://elsewhere/x.shtml"
    assert seen.feed_mtime == 1700000000
    assert (seen.sha256, seen.path, seen.last_updated) == (row.sha256, row.path, NOW)
    assert archived_mtime(index, row.doc_id) == (True, 1700000000)


def test_unknown_doc_id(index: ArchiveIndex) -> None:
    assert index.get("inope000000001") is None
    assert archived_mtime(index, "inope000000001") == (False, None)


def test_rows_come_by_path_and_count_archived_only(index: ArchiveIndex) -> None:
    write(index, committed("izzzzzzz0000001", path="b/z.md"))
    write(index, committed("iaaaaaaa0000001", path="c/a.md"))
    index.begin_write("immmmmmm0000001", "u", "a/m.md", "3" * 64)
    assert [r.path for r in index.rows()] == ["a/m.md", "b/z.md", "c/a.md"]
    assert index.count() == 2


def test_write_index_makes_a_whole_new_index(tmp_path: Path) -> None:
    rows = [
        committed("inew0000000002", path="b.md", first_archived=NOW, last_updated=NOW),
        committed("inew0000000001", path="a.md", first_archived=NOW, last_updated=NOW),
    ]
    journal = [Change(7, NOW, "run-1", "inew0000000001", "created", "a.md")]
    path = tmp_path / ".newscrawl" / "building"
    path.parent.mkdir()
    assert (
        write_index(path, rows, journal, [("ialias00000001", "inew0000000001", 5)]) == 2
    )
    built = ArchiveIndex(path, create=False)
    try:
        assert list(built.rows()) == sorted(rows, key=lambda r: r.path)
        assert list(built.changes()) == journal
        assert list(built.aliases()) == [("ialias00000001", "inew0000000001", 5)]
    finally:
        built.close()


def test_a_failed_write_index_leaves_nothing(tmp_path: Path) -> None:
    path = tmp_path / ".newscrawl" / "building"
    path.parent.mkdir()
    with pytest.raises(sqlite3.IntegrityError):
        # The same doc id twice: the second insert fails, the whole index with it.
        write_index(path, [committed("inew0000000001")] * 2, [], [])
    built = ArchiveIndex(path, create=False)
    try:
        assert list(built.rows()) == []
    finally:
        built.close()


def test_rows_survive_reopening(tmp_path: Path) -> None:
    first = ArchiveIndex.for_archive(tmp_path)
    write(first, committed())
    first.close()
    again = ArchiveIndex.for_archive(tmp_path, create=False)
    try:
        assert again.get(committed().doc_id) is not None
        assert again.integrity_problems() == []
    finally:
        again.close()


def test_reopening_writes_nothing(tmp_path: Path) -> None:
    first = ArchiveIndex.for_archive(tmp_path)
    write(first, committed())
    first.close()
    before = index_path(tmp_path).read_bytes()
    for _ in range(2):
        ArchiveIndex.for_archive(tmp_path, create=False).close()
    # A run that archives nothing opens the index: its bytes must not change.
    assert index_path(tmp_path).read_bytes() == before


def test_a_missing_index_is_not_created_on_request(tmp_path: Path) -> None:
    with pytest.raises(IndexUnusableError, match="scrapy reindex"):
        ArchiveIndex.for_archive(tmp_path, create=False)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    "damage",
    [
        pytest.param(b"this is not a database at all" * 200, id="garbage"),
        pytest.param(b"SQLite format 3\x00" + b"\xff" * 4080, id="bad-header"),
    ],
)
def test_a_damaged_index_is_refused_not_recreated(
    tmp_path: Path, damage: bytes
) -> None:
    path = index_path(tmp_path)
    path.parent.mkdir()
    path.write_bytes(damage)
    for create in (True, False):
        with pytest.raises(IndexUnusableError, match=r"damaged.*scrapy reindex"):
            ArchiveIndex(path, create=create)
    assert path.read_bytes() == damage


def test_an_index_of_another_schema_is_refused(tmp_path: Path) -> None:
    path = index_path(tmp_path)
    path.parent.mkdir()
    db = sqlite3.connect(path)
    db.execute(f"PRAGMA user_version={SCHEMA_VERSION + 1}")
    db.close()
    with pytest.raises(IndexUnusableError, match=f"schema {SCHEMA_VERSION + 1}"):
        ArchiveIndex(path)


_TEXT = st.text(st.characters(exclude_categories=["Cs"]), max_size=40)


@settings(max_examples=50, deadline=None)
@given(
    title=_TEXT,
    url=_TEXT,
    mtime=st.none() | st.integers(min_value=0, max_value=2**62),
)
def test_values_come_back_as_written(
    tmp_path_factory: pytest.TempPathFactory, title: str, url: str, mtime: int | None
) -> None:
    index = ArchiveIndex.for_archive(tmp_path_factory.mktemp("index"))
    try:
        row = committed(title=title, url=url, feed_mtime=mtime)
        write(index, row)
        assert index.get(row.doc_id) == replace(
            row, first_archived=NOW, last_updated=NOW
        )
    finally:
        index.close()


_SCHEMA_2_CHANGES = """
CREATE TABLE changes (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    at TEXT NOT NULL,
    run TEXT NOT NULL,
    doc_id TEXT NOT NULL,
    change TEXT NOT NULL CHECK (change IN ('created', 'updated', 'moved', 'removed')),
    path TEXT NOT NULL,
    old_path TEXT
);
CREATE INDEX changes_by_run ON changes (run);
"""


def test_an_index_of_schema_2_gains_versions_and_withdrawn_marks(
    tmp_path: Path,
) -> None:
    index = ArchiveIndex.for_archive(tmp_path)
    row = committed()
    write(index, row)
    index.close()
    db = sqlite3.connect(index_path(tmp_path))
    # Back to schema 2: no versions, no withdrawn columns, the journal's old CHECK.
    db.executescript(
        "DROP TABLE versions;"
        " ALTER TABLE articles DROP COLUMN withdrawn_status;"
        " ALTER TABLE articles DROP COLUMN withdrawn_at;"
        " ALTER TABLE changes RENAME TO old; DROP INDEX changes_by_run;"
        + _SCHEMA_2_CHANGES
        + "INSERT INTO changes SELECT * FROM old; DROP TABLE old;"
        " PRAGMA user_version=2;"
    )
    db.close()
    index = ArchiveIndex.for_archive(tmp_path)
    try:
        assert [c.change for c in index.changes()] == ["created"]
        assert index.withdraw(row.doc_id, 410, now=LATER, run="r2") is not None
        assert [c.change for c in index.changes()] == ["created", "withdrawn"]
        found = index.get(row.doc_id)
        assert found is not None
        assert (found.withdrawn_at, found.withdrawn_status) == (LATER, 410)
        assert list(index.versions()) == []
    finally:
        index.close()
    assert index_path(tmp_path).with_name("index.sqlite3.v2.backup").exists()


def test_feed_days_count_archived_failed_dropped_and_gaps(index: ArchiveIndex) -> None:
    ids = [f"ia{n:013d}" for n in range(5)]
    index.record_window("china", "2026-11-20", 5, ids[:3], NOW)
    index.record_window("china", "2026-11-20", 5, ids[3:], NOW)
    index.record_window("stock", "2026-11-20", 1, ["ib0000000000001"], NOW)
    for doc_id in ids[:2]:
        write(index, committed(doc_id))
    # Archived through an alias: the listed id redirects to an archived article.
    index.alias(ids[2], ids[0], 1)
    index.note_outcome(ids[3], "failed")
    index.note_outcome(ids[4], "dropped")
    [day] = index.coverage(channel="china")
    assert (day.total, day.listed, day.archived, day.failed, day.dropped) == (
        5,
        5,
        3,
        1,
        1,
    )
    assert day.gaps == ids[3:] and day.missing == 2 and not day.complete
    assert not index.settle_day("china", "2026-11-20")
    for doc_id in ids[3:]:
        write(index, committed(doc_id))
    assert index.settle_day("china", "2026-11-20")
    assert index.complete_days("china") == {"2026-11-20"}
    assert index.complete_days("stock") == set()
    assert [d.channel for d in index.coverage(since="2026-11-20")] == [
        "china",
        "stock",
    ]
    assert index.coverage(until="2026-11-19") == []


def test_a_day_read_short_of_its_total_is_not_complete(index: ArchiveIndex) -> None:
    index.record_window("china", "2026-11-20", 3, ["ia0000000000001"], NOW)
    write(index, committed("ia0000000000001"))
    assert not index.settle_day("china", "2026-11-20")


def test_a_schema_2_index_gains_the_feed_days(tmp_path: Path) -> None:
    opened = ArchiveIndex.for_archive(tmp_path)
    write(opened, committed())
    # Back to schema 2: no feed days, nor schema 4's versions and withdrawn columns.
    opened.db.executescript(
        "DROP TABLE feed_days; DROP TABLE feed_day_items; DROP TABLE versions;"
        " ALTER TABLE articles DROP COLUMN withdrawn_status;"
        " ALTER TABLE articles DROP COLUMN withdrawn_at; PRAGMA user_version=2;"
    )
    opened.close()
    again = ArchiveIndex.for_archive(tmp_path)
    try:
        assert again.db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        assert again.get(committed().doc_id) == again.get("ikmvwzxq0000001")
        assert again.coverage() == []
        again.record_window("china", "2026-11-20", 1, ["ikmvwzxq0000001"], NOW)
        assert again.settle_day("china", "2026-11-20")
    finally:
        again.close()
    assert (tmp_path / ".newscrawl" / "index.sqlite3.v2.backup").exists()


# --- Schema 5: the metadata of each article version ---------------------------------


def page_meta(doc_id: str = "ikmvwzxq0000001", **values: object) -> ArticleMeta:
    fields: dict[str, object] = {
        "doc_id": doc_id,
        "sha256": "1" * 64,
        "origin": "page",
        "url": f"https://finance.sina.com.cn/china/doc-{doc_id}.shtml",
        "channel": "china",
        "categories": ("金融", "新浪财经", "新浪财经－国內"),
        "title": "工信部：将开展专项整治行动",
        "published": "2021-04-20T11:51:38+00:00",
        "updated": None,
        "outlet": "澎湃新闻",
        "original_title": "",
        "editor": "张三",
        "editor_code": "SF014",
        "keywords": ("互联网", "竞争"),
        "stocks": ("sh600519", "usAAPL"),
        "length": 812,
    }
    fields.update(values)
    return ArticleMeta(**fields)  # type: ignore[arg-type]


def test_the_metadata_of_a_write_is_kept_with_its_file_hash(
    index: ArchiveIndex,
) -> None:
    row = committed()
    meta = page_meta()
    index.begin_write(row.doc_id, row.url, row.path, "1" * 64)
    index.finish_write(
        row, now=NOW, run="r", change="created", old_path=None, meta=meta
    )
    [found] = index.meta(row.doc_id)
    assert found == replace(meta, recorded=found.recorded)
    # A new version of the file: both versions' metadata are kept.
    index.finish_write(
        replace(row, sha256="2" * 64),
        now=LATER,
        run="r",
        change="updated",
        old_path=None,
        meta=replace(meta, sha256="2" * 64, keywords=("新",)),
    )
    assert [(m.sha256[0], m.keywords) for m in index.meta(row.doc_id)] == [
        ("1", ("互联网", "竞争")),
        ("2", ("新",)),
    ]


def test_what_a_file_says_never_replaces_what_the_page_said(
    index: ArchiveIndex,
) -> None:
    index.add_meta([page_meta()])
    from_file = page_meta(origin="file", outlet=None, stocks=None, title="x")
    index.add_meta([from_file])
    [found] = index.meta()
    assert (found.origin, found.outlet, found.title) == (
        "page",
        "澎湃新闻",
        "工信部：将开展专项整治行动",
    )
    index.add_meta([page_meta(outlet="新京报")])
    assert [m.outlet for m in index.meta()] == ["新京报"]


def test_a_schema_4_index_gains_metadata_from_what_it_knew(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    opened = ArchiveIndex.for_archive(tmp_path)
    write(opened, committed())
    opened.begin_write("ipending0000001", "u", "p.md", "3" * 64)  # never written
    opened.db.executescript("DROP TABLE meta; PRAGMA user_version=4;")
    opened.close()
    again = ArchiveIndex.for_archive(tmp_path)
    try:
        [found] = again.meta()
        row = committed()
        assert found == ArticleMeta(
            doc_id=row.doc_id,
            sha256="1" * 64,
            origin="index",
            recorded=found.recorded,
            url=row.url,
            title=row.title,
            published=row.published,
        )
    finally:
        again.close()
    assert (tmp_path / ".newscrawl" / "index.sqlite3.v4.backup").exists()
    assert "run `scrapy rebuild`" in caplog.text
