"""The archive as a table (newscrawl/archive/dataset.py): rows, tombstones and the
writers' bounded row groups."""

from __future__ import annotations

import io
import json
from dataclasses import replace
from datetime import UTC, datetime

import pyarrow.parquet as pq
import pytest

from newscrawl.archive.dataset import (
    Article,
    ParquetWriter,
    UnreadableError,
    columns,
    record,
    tombstone,
    writer,
)
from newscrawl.archive.fileformat import format_article
from newscrawl.archive.files import DEFAULT_PATH_TEMPLATE, PathRules
from newscrawl.archive.index import ArticleMeta, IndexRow
from newscrawl.archive.owner import sha256

RULES = PathRules(DEFAULT_PATH_TEMPLATE)
PATH = "金融/新浪财经/新浪财经－国內/2021-04-20-ikmvwzxq0000001.md"
BODY = "<p>　　第一段 &#123;x&#125;</p>\n<p>　　第二段</p>"


def file_bytes() -> bytes:
    return format_article(
        title="标题",
        categories=("金融", "新浪财经", "新浪财经－国內"),
        image="https://n.sinaimg.cn/x.png",
        author="新浪财经",
        published=datetime(2021, 4, 20, 11, 51, 38, tzinfo=UTC),
        body=BODY.replace("&#123;", "{").replace("&#125;", "}"),
    ).encode()


ROW = IndexRow(
    doc_id="ikmvwzxq0000001",
    url="https://finance.sina.com.cn/china/doc-ikmvwzxq0000001.shtml",
    path=PATH,
    title="标题",
    published="2021-04-20T11:51:38+00:00",
    sha256=sha256(file_bytes()),
    first_archived="2026-11-28T08:00:00.000001+00:00",
    last_updated="2026-11-29T08:00:00+00:00",
)


def test_a_row_from_a_file_the_index_knows_little_of() -> None:
    # An article archived before schema 5, not rebuilt: the page's fields unknown.
    got = record(Article(ROW, None, 0, file_bytes()), RULES)
    assert got["html"] == BODY
    assert got["text"] == "第一段 {x}\n第二段"
    assert got["length"] == 9
    assert got["categories"] == ["金融", "新浪财经", "新浪财经－国內"]  # from the path
    assert got["outlet"] is got["keywords"] is got["channel"] is None
    assert got["versions"] == 1
    assert got["published"] == datetime(2021, 4, 20, 11, 51, 38, tzinfo=UTC)
    assert got["first_archived"].tzinfo == UTC
    assert list(got) == list(columns(incremental=False))


def test_what_the_page_said_none_of_is_null() -> None:
    meta = ArticleMeta(
        doc_id=ROW.doc_id,
        sha256="a" * 64,
        origin="page",
        channel="china",
        categories=("a", "b", "c"),
        outlet="澎湃新闻",
        original_title="",
        editor="张三",
        editor_code="",
        keywords=(),
        stocks=("sh600519",),
        updated="2021-04-20T12:00:00+00:00",
    )
    got = record(Article(ROW, meta, 3, file_bytes()), RULES)
    assert (got["outlet"], got["original_title"], got["editor_code"]) == (
        "澎湃新闻",
        None,
        None,
    )
    assert (got["keywords"], got["stocks"], got["versions"]) == ([], ["sh600519"], 3)
    assert got["categories"] == ["a", "b", "c"]


def test_an_unreadable_file_is_no_row() -> None:
    with pytest.raises(UnreadableError, match="file missing"):
        record(Article(ROW, None, 1, None), RULES)
    broken = b"\n---\ntitle: x\n"
    with pytest.raises(UnreadableError, match="not in the archive format"):
        record(Article(replace(ROW, sha256=sha256(broken)), None, 1, broken), RULES)


def test_a_file_rewritten_after_the_index_was_read_is_no_row() -> None:
    # A crawl beside the export rewrote the file: its bytes and the row the export
    # read describe two versions; the next export has the new one.
    newer = file_bytes().replace("第二段".encode(), "第二段（更新）".encode())
    with pytest.raises(UnreadableError, match="changed while exporting"):
        record(Article(ROW, None, 1, newer), RULES)


def test_a_removed_article_is_a_tombstone() -> None:
    change = {
        "doc_id": ROW.doc_id,
        "path": PATH,
        "change": "removed",
        "run": "r1",
        "at": "2026-11-30T08:00:00.000001+00:00",
    }
    got = tombstone(change)
    assert list(got) == list(columns(incremental=True))
    assert (got["doc_id"], got["path"], got["change"], got["run"]) == (
        ROW.doc_id,
        PATH,
        "removed",
        "r1",
    )
    assert got["html"] is got["title"] is got["old_path"] is None
    assert got["changed_at"] == datetime(2026, 11, 30, 8, 0, 0, 1, tzinfo=UTC)


def test_row_groups_are_bounded_by_rows_and_by_bytes() -> None:
    row = record(Article(ROW, None, 1, file_bytes()), RULES)
    stream = io.BytesIO()
    table = ParquetWriter(stream, columns(False), rows=4, size=10**9)
    for _ in range(10):
        table.write(row)
    table.close()
    assert not stream.closed
    parquet = pq.ParquetFile(io.BytesIO(stream.getvalue()))
    assert [parquet.metadata.row_group(i).num_rows for i in range(3)] == [4, 4, 2]
    stream = io.BytesIO()
    size = len(row["html"]) + len(row["text"])
    table = ParquetWriter(stream, columns(False), rows=1000, size=3 * size)
    for _ in range(7):
        table.write(row)
    table.close()
    parquet = pq.ParquetFile(io.BytesIO(stream.getvalue()))
    assert parquet.metadata.num_row_groups == 3
    assert parquet.read().num_rows == 7


def test_an_empty_export_is_a_valid_table() -> None:
    for fmt in ("parquet", "jsonl", "csv"):
        stream = io.BytesIO()
        writer(fmt, stream, incremental=True).close()
        if fmt == "parquet":
            table = pq.read_table(io.BytesIO(stream.getvalue()))
            assert table.num_rows == 0 and "change" in table.schema.names
        elif fmt == "csv":
            assert stream.getvalue().decode().startswith("doc_id,url,")
        else:
            assert stream.getvalue() == b""


def test_jsonl_times_and_lists() -> None:
    row = record(Article(ROW, None, 1, file_bytes()), RULES)
    stream = io.BytesIO()
    table = writer("jsonl", stream, incremental=False)
    table.write(row)
    table.close()
    got = json.loads(stream.getvalue())
    assert got["published"] == "2021-04-20T11:51:38+00:00"
    assert got["categories"] == ["金融", "新浪财经", "新浪财经－国內"]
