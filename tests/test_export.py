"""``scrapy export`` as a user runs it, on an archive a real crawl of the replica
built: the four fixture pages (whose outlets, keywords, editors and stocks are
known) and 20 generated ones."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any

import frontmatter
import pyarrow.parquet as pq
import pytest

from newscrawl.archive.runlog import read_runs
from newscrawl.commands.export import _output
from replica.crawl import PROJECT_ROOT, run_crawl
from replica.server import Replica
from replica.site import OLD_PAGE_PATH, Site, add_generated, fixture_site
from tests.conftest import scrapy

README = PROJECT_ROOT / "README.md"
GENERATED = 20
# The fixture pages: (outlet, original title, editor, editor code, stocks), as
# /work/shared/fixtures/README.md and a reading of the pages give them.
FIXTURES: dict[str, tuple[str, str | None, str | None, None, list[str]]] = {
    "ikmvwzxq0000001": ("澎湃新闻", None, "薛永玮", None, []),
    "ihqfskcn2160999": ("新京报", None, "霍琦", None, []),
    "iicezzrq4076655": (
        "北京日报",
        "最强“中国芯”本月商用 华为抢跑5G芯片大战",
        "张申",
        None,
        [],
    ),
    "13482762951": ("新浪娱乐", None, None, None, []),
}
KEYWORDS = {
    "ikmvwzxq0000001": ["工信部", "互联网", "不正当竞争"],
    "ihqfskcn2160999": ["辟谣", "外泄", "账号"],
    "iicezzrq4076655": ["中国芯", "芯片"],
    # The old page's keywords meta repeats its title.
    "13482762951": ["爱戴掀起红盖头 庆东南劲爆音乐颁奖七周年(图)"],
}


@dataclass
class Crawled:
    archive: Path
    site: Site
    first_run: str


@pytest.fixture(scope="module")
def crawled(tmp_path_factory: pytest.TempPathFactory) -> Crawled:
    archive = tmp_path_factory.mktemp("export") / "archive"
    site = fixture_site()
    add_generated(site, GENERATED, seed=13)
    with Replica(site) as replica:
        run = run_crawl(replica.feed_url, archive)
        assert run.returncode == 0, run.stderr[-3000:]
        # The old page is in no feed: archived by its URL.
        run = run_crawl(
            replica.feed_url, archive, f"url={replica.base_url}{OLD_PAGE_PATH}"
        )
        assert run.returncode == 0, run.stderr[-3000:]
    first_run = next(iter(read_runs(archive)))["run"]
    return Crawled(archive, site, str(first_run))


def export(archive: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return scrapy("export", archive, *args)


def files_of(archive: Path) -> dict[str, Path]:
    return {
        p.stem.split("-")[-1]: p
        for p in archive.rglob("*.md")
        if not p.relative_to(archive).parts[0].startswith(".")
    }


def test_parquet_rows_are_what_the_files_and_pages_say(
    crawled: Crawled, tmp_path: Path
) -> None:
    out = tmp_path / "archive.parquet"
    run = export(crawled.archive, "-o", str(out))
    assert run.returncode == 0, run.stderr
    files = files_of(crawled.archive)
    table = pq.read_table(out)
    assert table.num_rows == len(files) == 3 + GENERATED + 1
    assert str(table.schema.field("published").type) == "timestamp[us, tz=UTC]"
    assert str(table.schema.field("stocks").type) == "list<element: string>"
    site = {a.doc_id: a for a in crawled.site.articles()}
    for row in table.to_pylist():
        path = files[row["doc_id"]]
        data = path.read_bytes()
        post = frontmatter.loads(data.decode("utf-8"))
        assert row["path"] == path.relative_to(crawled.archive).as_posix()
        assert row["sha256"] == hashlib.sha256(data).hexdigest()
        assert row["title"] == post.metadata["title"]
        assert row["categories"] == post.metadata["categories"]
        assert row["published"] == parsedate_to_datetime(str(post.metadata["date"]))
        assert (
            row["html"]
            == data.decode("utf-8").split("<div>   \n", 1)[1][
                : -len("  \n</div>\n            ")
            ]
        )
        assert row["text"] and "<" not in row["text"]
        assert all(not line.startswith("\u3000") for line in row["text"].split("\n"))
        assert row["length"] == len(re.sub(r"\s", "", row["text"]))
        assert row["versions"] == 1
        assert row["first_archived"] <= row["last_updated"] <= datetime.now(UTC)
        assert row["url"].endswith(site[row["doc_id"]].path)
        assert row["channel"] == "china"
        if row["doc_id"] in FIXTURES:
            found = (
                row["outlet"],
                row["original_title"],
                row["editor"],
                row["editor_code"],
                row["stocks"],
            )
            assert found == FIXTURES[row["doc_id"]], row["doc_id"]
            assert row["keywords"] == KEYWORDS[row["doc_id"]]
        else:
            # Generated pages: the seed's page with the article's values.
            article = site[row["doc_id"]]
            assert row["outlet"] == article.media_name
            assert row["keywords"] == [k for k in article.keywords.split(",") if k]
            assert (row["editor"], row["stocks"]) == ("薛永玮", [])


def test_jsonl_and_csv_hold_the_same_rows(crawled: Crawled, tmp_path: Path) -> None:
    run = export(crawled.archive, "--format", "jsonl", "-o", "-")
    assert run.returncode == 0, run.stderr
    rows = [json.loads(line) for line in run.stdout.splitlines()]
    assert len(rows) == 3 + GENERATED + 1
    seed = next(r for r in rows if r["doc_id"] == "ikmvwzxq0000001")
    assert seed["published"] == "2021-04-20T11:51:38+00:00"
    assert seed["keywords"] == KEYWORDS["ikmvwzxq0000001"]
    out = tmp_path / "archive.csv"
    run = export(crawled.archive, "-o", str(out))  # the format from the extension
    assert run.returncode == 0, run.stderr
    with out.open(encoding="utf-8", newline="") as stream:
        table = list(csv.DictReader(stream))
    assert [r["doc_id"] for r in table] == [r["doc_id"] for r in rows]
    by_id = {r["doc_id"]: r for r in table}
    assert by_id["ikmvwzxq0000001"]["html"] == seed["html"]
    assert json.loads(by_id["ikmvwzxq0000001"]["keywords"]) == seed["keywords"]
    assert by_id["ikmvwzxq0000001"]["original_title"] == ""  # null


def test_parquet_to_stdout(crawled: Crawled) -> None:
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "scrapy",
            "export",
            "-s",
            f"ARCHIVE_DIR={crawled.archive}",
            "-o",
            "-",
        ],
        cwd=PROJECT_ROOT,
        capture_output=True,
        timeout=120,
        check=False,
    )
    assert run.returncode == 0, run.stderr
    assert pq.read_table(io.BytesIO(run.stdout)).num_rows == 3 + GENERATED + 1


def test_since_exports_what_changes_lists(crawled: Crawled, tmp_path: Path) -> None:
    archive = tmp_path / "archive"
    shutil.copytree(crawled.archive, archive)
    site = crawled.site
    added = add_generated(site, 3, seed=14)
    try:
        with Replica(site) as replica:
            run = run_crawl(replica.feed_url, archive)
            assert run.returncode == 0, run.stderr[-3000:]
    finally:
        for article in added:
            site.remove(article.doc_id)
    assert scrapy("forget", archive, "ihqfskcn2160999").returncode == 0
    since = crawled.first_run
    changes = scrapy("changes", archive, "--since", since)
    listed = [json.loads(line) for line in changes.stdout.splitlines()]
    assert sorted(c["change"] for c in listed) == ["created"] * 4 + ["removed"]
    out = tmp_path / "changes.parquet"
    run = export(archive, "--since", since, "-o", str(out))
    assert run.returncode == 0, run.stderr
    rows = pq.read_table(out).to_pylist()
    assert [(r["doc_id"], r["change"], r["path"]) for r in rows] == [
        (c["doc_id"], c["change"], c["path"]) for c in listed
    ]
    removed = next(r for r in rows if r["change"] == "removed")
    assert removed["html"] is None and removed["title"] is None
    created = [r for r in rows if r["change"] == "created"]
    assert all(r["html"] and r["run"] and r["changed_at"] for r in created)
    bad = export(archive, "--since", "no such run", "-o", str(out))
    assert bad.returncode == 2


def test_a_failed_export_leaves_the_old_file(tmp_path: Path) -> None:
    out = tmp_path / "archive.parquet"
    out.write_bytes(b"the previous export")
    with pytest.raises(OSError), _output(str(out)) as stream:
        stream.write(b"half")
        raise OSError("disk full")
    assert out.read_bytes() == b"the previous export"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["archive.parquet"]


def test_a_missing_file_is_named_and_not_exported(
    crawled: Crawled, tmp_path: Path
) -> None:
    archive = tmp_path / "archive"
    shutil.copytree(crawled.archive, archive)
    gone = files_of(archive)["ihqfskcn2160999"]
    gone.unlink()
    run = export(archive, "--format", "jsonl", "-o", "-")
    assert run.returncode == 1
    assert len(run.stdout.splitlines()) == 3 + GENERATED
    assert (
        f"not exported: {gone.relative_to(archive).as_posix()}: file missing"
        in run.stderr
    )


def test_no_archive_is_a_usage_error(tmp_path: Path) -> None:
    run = export(tmp_path / "nothing", "-o", "-")
    assert run.returncode == 2
    assert "no archive at" in run.stderr


# --- The README's recipes, run as written ------------------------------------------


def recipe(name: str) -> str:
    """The code block after ``<!-- recipe: name -->`` in README.md."""
    text = README.read_text(encoding="utf-8")
    found = re.search(rf"<!-- recipe: {name} -->\s*```\w*\n(.*?)```", text, flags=re.S)
    assert found, f"no recipe {name} in README.md"
    return found.group(1)


@pytest.fixture
def in_tmp(tmp_path: Path) -> Iterator[Path]:
    before = Path.cwd()
    os.chdir(tmp_path)
    try:
        yield tmp_path
    finally:
        os.chdir(before)


def test_recipe_duckdb_counts_articles_per_outlet(
    crawled: Crawled, in_tmp: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert (
        export(crawled.archive, "-o", str(in_tmp / "archive.parquet")).returncode == 0
    )
    namespace: dict[str, Any] = {}
    exec(recipe("duckdb"), namespace)
    counts = dict(namespace["per_outlet"])
    assert counts["新京报"] >= 1 and counts["北京日报"] == 1
    assert sum(counts.values()) == 3 + GENERATED + 1


def test_recipe_pandas_reads_the_json_lines(crawled: Crawled, in_tmp: Path) -> None:
    assert export(crawled.archive, "-o", str(in_tmp / "archive.jsonl")).returncode == 0
    namespace: dict[str, Any] = {}
    exec(recipe("pandas"), namespace)
    frame = namespace["df"]
    assert len(frame) == 3 + GENERATED + 1
    assert str(frame["published"].dt.tz) == "UTC"
    assert namespace["per_stock"] is not None


def test_recipe_incremental_export_from_cron(crawled: Crawled, tmp_path: Path) -> None:
    script = (
        recipe("cron")
        .replace("cd /path/to/newscrawl", f"cd {PROJECT_ROOT}")
        .replace("out=exports", f"out={tmp_path / 'exports'}")
        .replace(
            ".venv/bin/scrapy export",
            f"{sys.executable} -m scrapy export -s ARCHIVE_DIR={crawled.archive}",
        )
    )
    for attempt in range(2):
        if attempt:
            time.sleep(1.1)  # the files are named by the second
        run = subprocess.run(
            ["sh", "-c", script],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert run.returncode == 0, run.stderr
    exports = sorted((tmp_path / "exports").glob("*.parquet"))
    # The first run exports everything; the next, only what changed since: nothing.
    assert [pq.read_table(e).num_rows for e in exports] == [3 + GENERATED + 1, 0]
    assert (tmp_path / "exports" / "since").read_text().strip()


# --- What reindex and rebuild recover ----------------------------------------------


def exported(archive: Path) -> dict[str, dict[str, Any]]:
    run = export(archive, "--format", "jsonl", "-o", "-")
    assert run.returncode == 0, run.stderr
    return {r["doc_id"]: r for r in map(json.loads, run.stdout.splitlines())}


PAGE_FIELDS = ("outlet", "original_title", "editor", "keywords", "stocks", "channel")


def test_reindex_keeps_what_pages_said_and_rebuild_reads_it_again(
    crawled: Crawled, tmp_path: Path
) -> None:
    archive = tmp_path / "archive"
    shutil.copytree(crawled.archive, archive)
    before = exported(archive)
    # Reindex with the old index there: nothing is lost (but the times, which
    # reindex takes from the files).
    assert scrapy("reindex", archive).returncode == 0
    times = ("first_archived", "last_updated")
    assert {
        d: {k: v for k, v in row.items() if k not in times}
        for d, row in exported(archive).items()
    } == {
        d: {k: v for k, v in row.items() if k not in times} for d, row in before.items()
    }
    # From the files alone: what a file gives, the rest unknown (null).
    for suffix in ("", "-wal", "-shm"):
        Path(f"{archive}/.newscrawl/index.sqlite3{suffix}").unlink(missing_ok=True)
    assert scrapy("reindex", archive).returncode == 0
    files_only = exported(archive)
    seed = files_only["iicezzrq4076655"]
    for name in ("title", "categories", "published", "length", "html", "sha256"):
        assert seed[name] == before["iicezzrq4076655"][name], name
    assert all(seed[name] is None for name in PAGE_FIELDS)
    # The raw capture gives the pages back, and with them the rest.
    run = scrapy("rebuild", archive)
    assert run.returncode == 0, run.stderr
    rebuilt = exported(archive)
    for doc_id, row in before.items():
        for name in (*PAGE_FIELDS, "editor_code", "updated", "url"):
            assert rebuilt[doc_id][name] == row[name], (doc_id, name)


def test_tags_in_the_files_and_back_from_them(tmp_path: Path) -> None:
    archive = tmp_path / "archive"
    with Replica(fixture_site()) as replica:
        bad = run_crawl(
            replica.feed_url, archive, settings={"ARCHIVE_EXTRA_FIELDS": "colour"}
        )
        assert bad.returncode == 2
        assert "unknown field(s) colour" in bad.stderr
        run = run_crawl(
            replica.feed_url,
            archive,
            settings={"ARCHIVE_EXTRA_FIELDS": "tags,source"},
        )
        assert run.returncode == 0, run.stderr[-3000:]
    path = files_of(archive)["ihqfskcn2160999"]
    post = frontmatter.load(path)
    assert post.metadata["tags"] == ["辟谣", "外泄", "账号"]
    assert post.metadata["source"] == "新京报"
    assert scrapy("verify", archive).returncode == 0
    for suffix in ("", "-wal", "-shm"):
        Path(f"{archive}/.newscrawl/index.sqlite3{suffix}").unlink(missing_ok=True)
    assert scrapy("reindex", archive).returncode == 0
    row = exported(archive)["ihqfskcn2160999"]
    assert (row["keywords"], row["outlet"], row["editor"]) == (
        ["辟谣", "外泄", "账号"],
        "新京报",
        None,
    )
