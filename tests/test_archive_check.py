"""verify (files and index agree) and rebuild_rows (the index from the files)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from newscrawl.archive import DEFAULT_PATH_TEMPLATE
from newscrawl.archive import check as check_module
from newscrawl.archive.check import rebuild_rows, temp_files, verify, walk
from newscrawl.archive.files import PathRules
from newscrawl.archive.index import ArchiveIndex, IndexRow, index_path
from newscrawl.archive.owner import Archive, sha256
from newscrawl.exporters import format_article
from tests.conftest import table_page_offset

RULES = PathRules(DEFAULT_PATH_TEMPLATE)

CATEGORIES = ("金融", "新浪财经", "新浪财经－国內")
FOLDER = "金融/新浪财经/新浪财经－国內"
START = datetime(2021, 4, 20, 11, 51, 38, tzinfo=UTC)
DOC_IDS = [f"i{letter * 7}000000{n}" for n, letter in enumerate("abcde", 1)]


def article(n: int) -> tuple[IndexRow, bytes]:
    """The n-th article of the test archive, as the pipeline hands it to the store."""
    published = START - timedelta(hours=7 * n)
    doc_id = DOC_IDS[n]
    title = f"第{n}条：{{央行}}发布'新规'"
    path = f"{FOLDER}/{published + timedelta(hours=8):%Y-%m-%d}-{doc_id}.md"
    data = format_article(
        title=title,
        categories=CATEGORIES,
        image="https://n.sinaimg.cn/x.png",
        author="新浪财经",
        published=published,
        body=f"<p>第{n}段。</p>",
    ).encode()
    row = IndexRow(
        doc_id=doc_id,
        url=f"https://finance.sina.com.cn/china/doc-{doc_id}.shtml",
        path=path,
        title=title.replace("{", "&#123;").replace("}", "&#125;"),
        published=published.isoformat(),
        feed_mtime=1618919498 + n,
    )
    return row, data


@pytest.fixture
def archive(tmp_path: Path) -> Path:
    store = Archive(tmp_path, DEFAULT_PATH_TEMPLATE)
    try:
        for n in range(len(DOC_IDS)):
            store.store(*article(n))
    finally:
        store.close()
    (tmp_path / "README.md").write_text("the archive's own readme\n")
    return tmp_path


def path_of(n: int) -> str:
    return article(n)[0].path


def rows(root: Path) -> list[IndexRow]:
    index = ArchiveIndex.for_archive(root, create=False)
    try:
        return list(index.rows())
    finally:
        index.close()


def test_a_sound_archive_passes(archive: Path) -> None:
    report = verify(archive)
    assert (report.problems, report.notes) == ([], [])
    assert (report.files, report.rows) == (5, 5)


def test_walk_skips_state_temp_files_and_the_readme(archive: Path) -> None:
    (archive / FOLDER / ".x.md.123.tmp").write_bytes(b"half")
    (archive / "sub").mkdir()
    (archive / "sub" / "README.md").write_text("counts: not at the root\n")
    # Folders and names in code point order: "sub" before "金融".
    assert [p.as_posix() for p in walk(archive)] == [
        "sub/README.md",
        *sorted(path_of(n) for n in range(5)),
    ]
    assert temp_files(archive) == [archive / FOLDER / ".x.md.123.tmp"]


def test_an_empty_archive_folder_passes(tmp_path: Path) -> None:
    # A first run killed before its first article leaves at most the lock.
    (tmp_path / ".newscrawl").mkdir()
    (tmp_path / ".newscrawl" / "lock").write_text("123\n")
    report = verify(tmp_path)
    assert report.problems == []
    assert not index_path(tmp_path).exists()


def test_files_without_an_index_fail(archive: Path) -> None:
    index_path(archive).unlink()
    report = verify(archive)
    assert len(report.problems) == 1
    assert "no index at" in report.problems[0]
    assert "scrapy reindex" in report.problems[0]
    assert not index_path(archive).exists()


def test_a_file_edited_by_hand(archive: Path) -> None:
    target = archive / path_of(1)
    target.write_bytes(target.read_bytes().replace("第1段".encode(), "改过".encode()))
    assert verify(archive).problems == [
        f"{path_of(1)}: bytes differ from the index's hash"
    ]


def test_a_deleted_file(archive: Path) -> None:
    (archive / path_of(2)).unlink()
    assert verify(archive).problems == [
        f"{path_of(2)}: index row {DOC_IDS[2]} without its file; the next run"
        " that sees it in the feed fetches it again"
        f" (or `scrapy forget {DOC_IDS[2]}`)"
    ]


def test_an_extra_file(archive: Path) -> None:
    extra = f"{FOLDER}/2021-04-20-izzzzzzz0000009.md"
    (archive / extra).write_bytes(article(0)[1])
    assert verify(archive).problems == [f"{extra}: file without an index row"]


def test_a_truncated_file(archive: Path) -> None:
    target = archive / path_of(3)
    data = target.read_bytes()
    target.write_bytes(data[: data.index(b"</div>")])
    assert verify(archive).problems == [
        f"{path_of(3)}: not the archive skeleton (opening or closing lines)",
        f"{path_of(3)}: bytes differ from the index's hash",
    ]


def test_a_temporary_file_is_a_note_not_a_problem(archive: Path) -> None:
    (archive / FOLDER / f".{DOC_IDS[0]}.md.4242.tmp").write_bytes(b"half an art")
    report = verify(archive)
    assert report.problems == []
    assert report.notes == [
        "1 temporary file(s) of writes in progress or interrupted (ignored;"
        " `reindex` removes them, the next crawl those in .newscrawl/staging)"
    ]


def test_a_pending_write_explains_its_file(archive: Path) -> None:
    # Killed between the file's rename and finish_write: the new bytes are on
    # disk, the row still has the old hash and the new one pending.
    row, data = article(4)
    new = data.replace("第4段".encode(), "第4段，修订".encode())
    index = ArchiveIndex.for_archive(archive)
    try:
        index.begin_write(row.doc_id, row.url, row.path, sha256(new))
    finally:
        index.close()
    (archive / row.path).write_bytes(new)
    assert verify(archive).problems == []
    (archive / row.path).write_bytes(new + b"x")
    assert verify(archive).problems == [
        f"{row.path}: not the archive skeleton (opening or closing lines)",
        f"{row.path}: bytes differ from the index's hash",
    ]


@pytest.mark.parametrize("where", ["header", "middle"])
def test_a_damaged_index_fails_and_stays_as_it_is(archive: Path, where: str) -> None:
    path = index_path(archive)
    data = bytearray(path.read_bytes())
    start = 0 if where == "header" else table_page_offset(path)
    data[start : start + 512] = b"\xa5" * 512
    path.write_bytes(bytes(data))
    report = verify(archive)
    assert len(report.problems) >= 1
    assert "scrapy reindex" in report.problems[-1]
    assert "damaged" in report.problems[-1] or "malformed" in report.problems[-1]
    # Never recreated or repaired behind the user's back.
    assert path.read_bytes() == bytes(data)


def test_rebuilt_rows_equal_the_index_but_for_what_files_lack(archive: Path) -> None:
    before = rows(archive)
    rebuilt, report = rebuild_rows(archive, RULES)
    assert (report.problems, report.files, report.rows) == ([], 5, 5)
    assert len(rebuilt) == 5
    for row in rebuilt:
        assert row.url == ""
        assert row.feed_mtime is None
        assert row.first_archived == row.last_updated
        assert row.first_archived is not None

    def comparable(row: IndexRow) -> IndexRow:
        return replace(
            row, url="", feed_mtime=None, first_archived=None, last_updated=None
        )

    assert sorted(map(comparable, rebuilt), key=lambda r: r.path) == [
        comparable(r) for r in before
    ]


def test_rebuild_reports_what_it_cannot_index(archive: Path) -> None:
    (archive / FOLDER / "notes.md").write_text("no doc id in this name\n")
    copy = f"{FOLDER}/2021-04-21-{DOC_IDS[0]}.md"
    (archive / copy).write_bytes(article(0)[1])
    broken = f"{FOLDER}/2021-04-20-ibroken00000001.md"
    (archive / broken).write_bytes(b"\n---\ntitle: [\n")
    rebuilt, report = rebuild_rows(archive, RULES)
    assert sorted(r.doc_id for r in rebuilt) == sorted(DOC_IDS)
    assert report.files == 8
    assert sorted(report.problems) == sorted(
        [
            f"{FOLDER}/notes.md: not a path ARCHIVE_PATH_TEMPLATE makes"
            f" ({DEFAULT_PATH_TEMPLATE})",
            f"{copy}: doc id {DOC_IDS[0]} also in {path_of(0)}",
            f"{broken}: not the archive skeleton (opening or closing lines)",
        ]
    )


def test_long_commands_report_progress(
    archive: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(check_module, "PROGRESS_EVERY", 2)
    seen: list[int] = []
    verify(archive, seen.append)
    rebuild_rows(archive, RULES, None, seen.append)
    assert seen == [2, 4, 2, 4]
