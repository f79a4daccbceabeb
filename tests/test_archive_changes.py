"""What changed since a point: the net change of each article, from the journal."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from newscrawl.archive import DEFAULT_PATH_TEMPLATE
from newscrawl.archive.changes import UnknownPointError, changes_since, net_changes
from newscrawl.archive.index import Change, IndexRow
from newscrawl.archive.owner import Archive
from tests.test_archive_owner import article

FOLDER = "金融/新浪财经/新浪财经－国內"


def row(doc_id: str, day: str = "2021-04-20", folder: str = FOLDER) -> IndexRow:
    return IndexRow(
        doc_id=doc_id,
        url=f"https://finance.sina.com.cn/doc-{doc_id}.shtml",
        path=f"{folder}/{day}-{doc_id}.md",
        title="t",
        published="2021-04-20T11:51:38+00:00",
        feed_mtime=1,
    )


@pytest.fixture
def archive(tmp_path: Path) -> Iterator[Archive]:
    opened = Archive(tmp_path, DEFAULT_PATH_TEMPLATE)
    yield opened
    opened.close()


def end_run(archive: Archive) -> str:
    """Close this session with its runs-log line; return its id."""
    run = archive.run
    archive.record_run(exit_status=0, finish_reason="finished", counts={})
    return run


def summary(lines: list[dict[str, Any]]) -> list[tuple[str, ...]]:
    return [
        (
            line["change"],
            line["path"],
            *([line["old_path"]] if "old_path" in line else []),
        )
        for line in lines
    ]


def test_net_change_of_each_article(archive: Archive, tmp_path: Path) -> None:
    archive.store(row("iaaaaaaa0000001"), article("a"))
    archive.store(row("ibbbbbbb0000001"), article("b"))
    archive.store(row("iccccccc0000001"), article("c"))
    first = end_run(archive)
    # Created then updated: "created". Created then removed: nothing.
    archive.store(row("iddddddd0000001"), article("d"))
    archive.store(row("iddddddd0000001"), article("d2"))
    archive.store(row("ieeeeeee0000001"), article("e"))
    archive.forget("ieeeeeee0000001")
    # Moved (its day changed), then updated: "moved" with the old path.
    archive.store(row("iaaaaaaa0000001", "2021-04-21"), article("a"))
    archive.store(row("iaaaaaaa0000001", "2021-04-21"), article("a2"))
    # Updated; removed.
    archive.store(row("ibbbbbbb0000001"), article("b2"))
    archive.forget("iccccccc0000001")
    # Read through another channel: moved to that channel's folder.
    archive.store(row("iffffff00000001"), article("f"))
    second = end_run(archive)
    assert summary(changes_since(tmp_path, archive.index, first)) == [
        ("created", f"{FOLDER}/2021-04-20-iddddddd0000001.md"),
        (
            "moved",
            f"{FOLDER}/2021-04-21-iaaaaaaa0000001.md",
            f"{FOLDER}/2021-04-20-iaaaaaaa0000001.md",
        ),
        ("updated", f"{FOLDER}/2021-04-20-ibbbbbbb0000001.md"),
        ("removed", f"{FOLDER}/2021-04-20-iccccccc0000001.md"),
        ("created", f"{FOLDER}/2021-04-20-iffffff00000001.md"),
    ]
    # A run that changed nothing: what came after it.
    archive.store(row("iffffff00000001", folder="a/b/c"), article("f"))
    idle = end_run(archive)
    assert changes_since(tmp_path, archive.index, idle) == []
    assert summary(changes_since(tmp_path, archive.index, second)) == [
        (
            "moved",
            "a/b/c/2021-04-20-iffffff00000001.md",
            f"{FOLDER}/2021-04-20-iffffff00000001.md",
        ),
    ]
    assert [
        line["path"] for line in changes_since(tmp_path, archive.index, "2000-01-01")
    ] == [line["path"] for line in net_changes(archive.index.changes())]


def test_a_killed_run_is_in_the_journal(archive: Archive, tmp_path: Path) -> None:
    archive.store(row("iaaaaaaa0000001"), article("a"))
    first = end_run(archive)
    # A run killed before its end writes no runs-log line; its changes count.
    archive.store(row("ibbbbbbb0000001"), article("b"))
    killed = archive.run
    archive.close()
    again = Archive(tmp_path, DEFAULT_PATH_TEMPLATE)
    try:
        lines = changes_since(tmp_path, again.index, first)
        assert [(line["change"], line["run"]) for line in lines] == [
            ("created", killed)
        ]
        assert changes_since(tmp_path, again.index, killed) == []
    finally:
        again.close()


def test_since_a_time(archive: Archive, tmp_path: Path) -> None:
    archive.store(row("iaaaaaaa0000001"), article("a"))
    first = archive.index.get("iaaaaaaa0000001")
    assert first is not None and first.last_updated is not None
    at = first.last_updated
    archive.store(row("ibbbbbbb0000001"), article("b"))
    assert [line["doc_id"] for line in changes_since(tmp_path, archive.index, at)] == [
        "ibbbbbbb0000001"
    ]
    with pytest.raises(UnknownPointError, match="neither a run id nor a time"):
        changes_since(tmp_path, archive.index, "yesterday")


def test_net_changes_alone() -> None:
    def c(seq: int, doc: str, kind: str, path: str, old: str | None = None) -> Change:
        return Change(seq, f"t{seq}", "r", doc, kind, path, old)

    assert net_changes([c(1, "a", "created", "x"), c(2, "a", "removed", "x")]) == []
    assert summary(
        net_changes([c(1, "a", "moved", "y", "x"), c(2, "a", "moved", "x", "y")])
    ) == [("updated", "x")]
