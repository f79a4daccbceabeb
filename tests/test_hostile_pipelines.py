"""The pipelines against hostile input and a hostile disk, in process.

A write the disk refuses (ENOSPC at the write call, EROFS at the open, a full
SQLite index) becomes one DropItem logged at ERROR, the stat
``archive/failed/<name>``, and a request to close the spider; it leaves no partial
file and no archived index row; later items are not written at all. A text too
damaged to be the article (U+FFFD) is refused by newscrawl/page.py and dropped by
the validate pipeline.
"""

from __future__ import annotations

import asyncio
import errno
import os
import re
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from scrapy.exceptions import DropItem, UsageError
from scrapy.utils.project import get_project_settings
from scrapy.utils.test import get_crawler

from newscrawl.archive.index import ArchiveIndex
from newscrawl.cleaning import clean_body
from newscrawl.items import Article
from newscrawl.page import MAX_REPLACEMENT_RATIO, damaged_text
from newscrawl.pipelines import ArchivePipeline, ValidatePipeline
from newscrawl.sina.boilerplate import SINA_RULES
from newscrawl.spiders.sina_finance import SinaFinanceSpider

CATEGORIES = ("金融", "新浪财经", "新浪财经－国內")
FOLDER = Path(*CATEGORIES)
PUBLISHED = datetime(2021, 4, 20, 11, 51, 38, tzinfo=UTC)


def article(
    doc_id: str, body: str = "<p>　　正文。</p>", title: str = "标题"
) -> Article:
    return Article(
        url=f"https://finance.sina.com.cn/roll/2021-04-20/doc-{doc_id}.shtml",
        doc_id=doc_id,
        channel="china",
        categories=CATEGORIES,
        author="新浪财经",
        default_image="https://n.sinaimg.cn/finance/cece9e13/20200514/343233024.png",
        title_raw=title,
        title=title,
        published_raw="1618919498",
        published_source="feed",
        published=PUBLISHED,
        body=body,
    )


class Engine:
    """What the pipeline needs of Scrapy's engine: a way to close the spider."""

    def __init__(self) -> None:
        self.closed: list[str] = []

    async def close_spider_async(self, *, reason: str = "cancelled") -> None:
        self.closed.append(reason)


@pytest.fixture
def archive(tmp_path: Path) -> Iterator[tuple[ArchivePipeline, Engine, Path]]:
    crawler = get_crawler(settings_dict={"ARCHIVE_DIR": str(tmp_path)})
    engine = Engine()
    crawler.engine = engine  # type: ignore[assignment]
    pipeline = ArchivePipeline.from_crawler(crawler)
    yield pipeline, engine, tmp_path
    pipeline.close_spider()


def process(pipeline: ArchivePipeline, item: Article) -> Any:
    """``process_item`` inside an event loop, as in a crawl, which closing the
    spider needs; the loop runs what the pipeline scheduled before returning."""
    return in_loop(lambda: pipeline.process_item(item))


def in_loop(call: Callable[[], Any]) -> Any:
    async def run() -> Any:
        try:
            return call()
        finally:
            await asyncio.sleep(0)

    return asyncio.run(run())


def stat(pipeline: ArchivePipeline | ValidatePipeline | Validate, key: str) -> Any:
    return pipeline.stats.get_value(key)


def everything(root: Path) -> list[Path]:
    return sorted(p.relative_to(root) for p in root.rglob("*") if p.is_file())


def assert_refused(
    pipeline: ArchivePipeline,
    engine: Engine,
    root: Path,
    doc_id: str,
    name: str,
    reason: str,
) -> None:
    with pytest.raises(DropItem) as dropped:
        process(pipeline, article(doc_id))
    assert dropped.value.log_level == "ERROR"
    free = r", \d+ KiB free" if name == "ENOSPC" else ""
    assert re.fullmatch(
        re.escape(
            f"cannot write {FOLDER.as_posix()}/2021-04-20-{doc_id}.md in the archive"
            f" {root} ({name}: {reason}"
        )
        + free
        + re.escape("); stopping the run"),
        str(dropped.value),
    )
    assert stat(pipeline, "archive/failed") == 1
    assert stat(pipeline, f"archive/failed/{name}") == 1
    assert engine.closed == ["archive_failed"]
    # No partial or temporary file: only what was there, and the index.
    assert [p for p in everything(root) if doc_id in p.name] == []
    index = ArchiveIndex.for_archive(root, create=False)
    try:
        found, _ = index.lookup(doc_id)
        assert found is None or not found.archived
        assert index.get("iwritten000001") is not None
    finally:
        index.close()


def write_one(pipeline: ArchivePipeline, root: Path) -> bytes:
    process(pipeline, article("iwritten000001"))
    pipeline.archive.commit()
    return (root / FOLDER / "2021-04-20-iwritten000001.md").read_bytes()


def test_enospc_at_the_write_call(
    archive: tuple[ArchivePipeline, Engine, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    pipeline, engine, root = archive
    before = write_one(pipeline, root)
    real_write = os.write

    def half_written(fd: int, data: Any) -> int:
        """A disk that fills up halfway through the file's bytes."""
        real_write(fd, bytes(data[: len(data) // 2]))
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    with monkeypatch.context() as patched:
        patched.setattr(os, "write", half_written)
        assert_refused(
            pipeline, engine, root, "ifull00000001", "ENOSPC", "No space left on device"
        )
    # The article written before is whole.
    assert (root / FOLDER / "2021-04-20-iwritten000001.md").read_bytes() == before
    # The run is stopping: the next article is not even tried, and says why.
    with pytest.raises(DropItem, match="not archived, the run is stopping"):
        process(pipeline, article("inext00000001"))
    assert stat(pipeline, "archive/dropped/stopping") == 1
    assert stat(pipeline, "archive/failed") == 1
    assert engine.closed == ["archive_failed"]


def test_erofs_at_the_open(
    archive: tuple[ArchivePipeline, Engine, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    pipeline, engine, root = archive
    write_one(pipeline, root)
    real_open = os.open

    def read_only_open(path: Any, flags: int, *args: Any, **kwargs: Any) -> int:
        if flags & (os.O_WRONLY | os.O_RDWR) and str(path).endswith(".tmp"):
            raise OSError(errno.EROFS, os.strerror(errno.EROFS), str(path))
        return real_open(path, flags, *args, **kwargs)

    with monkeypatch.context() as patched:
        patched.setattr(os, "open", read_only_open)
        assert_refused(
            pipeline, engine, root, "iro0000000001", "EROFS", "Read-only file system"
        )


def test_a_full_index(archive: tuple[ArchivePipeline, Engine, Path]) -> None:
    pipeline, engine, root = archive
    write_one(pipeline, root)
    # SQLite's own "disk full": the index may not grow by a single page.
    db = pipeline.archive.index.db
    pages = db.execute("PRAGMA page_count").fetchone()[0]
    db.execute(f"PRAGMA max_page_count = {pages}")
    # The row about to be written does not fit: found by the batch's commit,
    # before the file is put in place.
    item = article("ifullindex0001")
    item.url += "?" + "x" * 50_000
    process(pipeline, item)
    assert stat(pipeline, "archive/failed") is None
    in_loop(pipeline.archive.flush)
    assert stat(pipeline, "archive/failed") == 1
    assert stat(pipeline, "archive/failed/SQLITE_FULL") == 1
    assert engine.closed == ["archive_failed"]
    assert [p for p in everything(root) if "ifullindex0001" in p.name] == []
    assert [p for p in everything(root) if p.suffix == ".tmp"] == []


def test_a_file_the_commit_cannot_put_in_place_is_named(
    archive: tuple[ArchivePipeline, Engine, Path],
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    pipeline, engine, root = archive
    write_one(pipeline, root)
    process(pipeline, article("irefused00001"))

    def refused(*args: object, **kwargs: object) -> None:
        raise OSError(errno.EPERM, os.strerror(errno.EPERM))

    # The folder took its first file, then refuses this one at the batch's rename.
    with monkeypatch.context() as patched:
        patched.setattr(os, "replace", refused)
        in_loop(pipeline.archive.flush)
    assert stat(pipeline, "archive/failed/EPERM") == 1
    assert engine.closed == ["archive_failed"]
    (line,) = [r.getMessage() for r in caplog.records if r.levelname == "ERROR"]
    assert line == (
        f"cannot commit the last articles into the archive {root} (EPERM: Operation"
        f" not permitted, at {FOLDER.as_posix()}/2021-04-20-irefused00001.md);"
        " stopping the run (the next run fetches them again)"
    )
    assert [p for p in everything(root) if "irefused00001" in p.name] == []


def test_unsafe_path_is_dropped_before_any_write(
    archive: tuple[ArchivePipeline, Engine, Path],
) -> None:
    pipeline, engine, root = archive
    item = article("iunsafe000001")
    item.categories = ("..", "..", "etc")
    with pytest.raises(DropItem, match=r"unsafe archive path for .*: unsafe path"):
        process(pipeline, item)
    assert stat(pipeline, "archive/dropped/unsafe_path") == 1
    assert engine.closed == []
    assert everything(root) == []
    assert not (root.parent / "etc").exists()


# --- Damaged text ------------------------------------------------------------------


class Validate:
    """The page path's damaged-text check, then the pipeline that drops."""

    def __init__(self, ratio: float) -> None:
        self.ratio = ratio
        self.pipeline = ValidatePipeline.from_crawler(get_crawler())
        self.stats = self.pipeline.stats

    def process_item(self, item: Article) -> Any:
        refused = damaged_text(item, self.ratio)
        if refused is not None:
            item.refused = refused.reason
        return self.pipeline.process_item(item)


def validate(ratio: float = MAX_REPLACEMENT_RATIO) -> Validate:
    return Validate(ratio)


@pytest.mark.parametrize(
    ("body", "title", "kept"),
    [
        ("<p>" + "正" * 199 + "\ufffd</p>", "标题", True),  # 1 in 202: 0.5 %
        ("<p>" + "正" * 50 + "\ufffd</p>", "标题", False),  # 1 in 53: 1.9 %
        ("<p>" + "\ufffd" * 80 + "</p>", "标题", False),
        ("<p>" + "正" * 1500 + "</p>", "\ufffd" * 10, True),  # 10 in 1510
        ("<p>" + "正" * 50 + "</p>", "\ufffd" * 10, False),
        # Markup and entities are not text: &amp; is one character.
        ('<p><a href="https://x/">' + "&amp;" * 99 + "\ufffd</a></p>", "", True),
    ],
)
def test_damaged_text_is_refused_beyond_the_ratio(
    body: str, title: str, kept: bool
) -> None:
    pipeline = validate()
    item = article("idamaged00001", body=body, title=title or "标题")
    if kept:
        assert pipeline.process_item(item) is item
        assert stat(pipeline, "validate/dropped/damaged_text") is None
        return
    with pytest.raises(DropItem, match=r"^damaged text: \d+\.\d% of its characters"):
        pipeline.process_item(item)
    assert stat(pipeline, "validate/dropped/damaged_text") == 1


def test_the_ratio_is_a_setting() -> None:
    item = article("idamaged00002", body="<p>" + "正" * 50 + "\ufffd</p>")
    assert validate(0.05).process_item(item) is item
    with pytest.raises(DropItem, match="CLEAN_MAX_REPLACEMENT_RATIO 0:"):
        validate(0).process_item(article("idamaged00003", body="<p>\ufffd正</p>"))
    settings = get_project_settings()
    settings.set("CLEAN_MAX_REPLACEMENT_RATIO", 2)
    with pytest.raises(UsageError, match="CLEAN_MAX_REPLACEMENT_RATIO"):
        SinaFinanceSpider.check_arguments(settings, {})


def test_clean_then_validate_a_hostile_body() -> None:
    item = article(
        "ihostile00001",
        body='<p>正文<script>alert(1)</script><img src=x onerror="alert(1)"></p>'
        "<p>{{ x }}</p>",
    )
    item.body = clean_body(item.body, item.url, SINA_RULES).html
    cleaned = item
    image = "https://finance.sina.com.cn/roll/2021-04-20/x"
    assert cleaned.body == (
        f'<p>正文<img src="{image}" referrerpolicy="no-referrer"></p>\n'
        "<p>{{ x }}</p>"
    )
    assert validate().process_item(cleaned) is cleaned
