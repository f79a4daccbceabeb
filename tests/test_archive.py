"""Archive paths are validated; writes are atomic and leave no temporary file."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from newscrawl.archive import (
    DEFAULT_PATH_TEMPLATE,
    UnsafePathError,
    atomic_write,
    is_temp_file,
    relative_path,
)

CATEGORIES = ("金融", "新浪财经", "新浪财经－国內")


def test_format_md_path() -> None:
    path = relative_path(
        DEFAULT_PATH_TEMPLATE,
        categories=CATEGORIES,
        date="2021-04-20",
        doc_id="ikmvwzxq0000001",
    )
    assert path == Path("金融/新浪财经/新浪财经－国內/2021-04-20-ikmvwzxq0000001.md")


@pytest.mark.parametrize(
    "doc_id", ["..", ".", "", "a/b", "a\\b", "a\x00b", "x" * 201, " x", "\u6587" * 67]
)
def test_unsafe_components_are_refused(doc_id: str) -> None:
    with pytest.raises(UnsafePathError):
        relative_path(
            "{doc_id}.md", categories=CATEGORIES, date="2021-04-20", doc_id=doc_id
        )


def test_template_cannot_climb_out() -> None:
    with pytest.raises(UnsafePathError):
        relative_path("../{doc_id}.md", categories=CATEGORIES, date="d", doc_id="abc")
    with pytest.raises(UnsafePathError):
        relative_path("{nope}.md", categories=CATEGORIES, date="d", doc_id="abc")


@given(st.text(max_size=300))
def test_no_component_escapes(doc_id: str) -> None:
    try:
        path = relative_path(
            DEFAULT_PATH_TEMPLATE,
            categories=CATEGORIES,
            date="2021-04-20",
            doc_id=doc_id,
        )
    except UnsafePathError:
        return
    assert not path.is_absolute()
    assert ".." not in path.parts
    assert len(path.parts) == 4
    assert all(len(p.encode()) <= 200 for p in path.parts)


def test_atomic_write_replaces_and_cleans_up(tmp_path: Path) -> None:
    target = tmp_path / "a" / "b.md"
    atomic_write(target, b"one")
    atomic_write(target, b"two")
    assert target.read_bytes() == b"two"
    assert sorted(os.listdir(target.parent)) == ["b.md"]


def test_failed_write_leaves_the_old_file(tmp_path: Path) -> None:
    target = tmp_path / "b.md"
    atomic_write(target, b"old")

    with pytest.raises(TypeError):
        atomic_write(target, "not bytes")  # type: ignore[arg-type]
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["b.md"]


def test_temp_files_are_recognisable() -> None:
    assert is_temp_file(Path(".2021-04-20-iabc.md.123.tmp"))
    assert not is_temp_file(Path("2021-04-20-iabc.md"))
