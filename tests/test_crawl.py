"""End to end: a real ``scrapy crawl sina_finance`` subprocess against the replica."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import frontmatter
import pyarrow.parquet as pq
import pytest

from newscrawl.archive.fileformat import header_value
from newscrawl.sina.dates import rfc1123
from replica.crawl import run_crawl
from replica.server import Replica
from replica.site import fixture_site, generated_site
from tests.conftest import EXPECTED_SEED, assert_golden, crawl_stats, scrapy

SEED_PATH = Path("金融/新浪财经/新浪财经－国內/2021-04-20-ikmvwzxq0000001.md")
CATEGORIES = ["金融", "新浪财经", "新浪财经－国內"]


def files(root: Path) -> list[Path]:
    """Every file under ``root``, relative to it."""
    return sorted(p.relative_to(root) for p in root.rglob("*") if p.is_file())


def articles(root: Path) -> list[Path]:
    """The article files of an archive: not the crawler's hidden state."""
    return [p for p in files(root) if not p.parts[0].startswith(".")]


@pytest.fixture
def fixture_replica() -> Iterator[Replica]:
    with Replica(fixture_site()) as replica:
        yield replica


def test_seed_article_is_archived_byte_for_byte(
    fixture_replica: Replica, tmp_path: Path
) -> None:
    archive = tmp_path / "archive"
    run = run_crawl(fixture_replica.feed_url, archive)
    assert run.returncode == 0, run.stderr[-3000:]
    written = archive / SEED_PATH
    assert_golden(
        written.read_text("utf-8"),
        EXPECTED_SEED.read_text("utf-8"),
        "expected_seed_cleaned.md",
    )
    assert written.read_bytes() == EXPECTED_SEED.read_bytes()
    counts = crawl_stats(run)
    assert counts["archive/written"] == 3
    assert counts["sina/feed/items"] == 3
    assert counts["run/exit_status"] == 0
    assert "Run done" in run.stderr
    assert "Traceback" not in run.stderr
    assert len(articles(archive)) == 3


def test_single_article_by_url(fixture_replica: Replica, tmp_path: Path) -> None:
    url = fixture_replica.base_url + "/roll/2018-12-28/doc-ihqfskcn2160999.shtml"
    run = run_crawl(fixture_replica.feed_url, tmp_path, f"url={url}")
    assert run.returncode == 0, run.stderr[-3000:]
    assert fixture_replica.feed_requests() == []
    (path,) = articles(tmp_path)
    assert path.name == "2018-12-28-ihqfskcn2160999.md"
    post = frontmatter.load(tmp_path / path)
    assert post.metadata["title"] == '60万"12306账号"外泄? 中铁总辟谣称消息不实'
    assert post.metadata["date"] == "Fri, 28 Dec 2018 11:56:29 GMT"


def test_five_hundred_generated_articles(tmp_path: Path) -> None:
    site = generated_site(500, seed=7)
    archive = tmp_path / "archive"
    with Replica(site) as replica:
        run = run_crawl(replica.feed_url, archive, "pages=20", timeout=600)
        article_requests = replica.article_requests()
    assert run.returncode == 0, run.stderr[-3000:]
    assert len(article_requests) == 500
    # Nothing outside the archive folder.
    assert {p.parts[0] for p in files(tmp_path)} == {"archive"}
    written = articles(archive)
    assert len(written) == 500
    expected = {a.doc_id: a for a in site.articles()}
    for relative in written:
        doc_id = relative.stem.split("-")[-1]
        article = expected.pop(doc_id)
        post = frontmatter.load(archive / relative)
        assert post.metadata["title"] == article.title.replace("{", "&#123;").replace(
            "}", "&#125;"
        )
        assert post.metadata["categories"] == CATEGORIES
        assert post.metadata["date"] == rfc1123_of(article.intime)
    assert expected == {}
    assert crawl_stats(run)["archive/written"] == 500
    # The archive as a table (scrapy export): 500 rows, each what its file and its
    # page say; pyarrow and DuckDB read it.
    table = tmp_path / "archive.parquet"
    exported = scrapy("export", archive, "-o", str(table))
    assert exported.returncode == 0, exported.stderr
    rows = pq.read_table(table).to_pylist()
    assert len(rows) == 500
    site_articles = {a.doc_id: a for a in site.articles()}
    for row in rows:
        article = site_articles.pop(row["doc_id"])
        assert row["title"] == header_value(article.title)
        assert row["published"] == datetime.fromtimestamp(article.intime, UTC)
        assert row["outlet"] == article.media_name
        assert row["keywords"] == [k for k in article.keywords.split(",") if k]
        assert row["categories"] == CATEGORIES
        assert (row["editor"], row["stocks"], row["versions"]) == ("薛永玮", [], 1)
        lines = row["text"].split("\n")
        assert [line for line in lines if line in article.paragraphs] == (
            article.paragraphs
        )
    assert site_articles == {}
    import duckdb

    assert duckdb.sql(f"SELECT count(*) FROM '{table}'").fetchone() == (500,)


def rfc1123_of(timestamp: int) -> str:
    return rfc1123(datetime.fromtimestamp(timestamp, UTC))


@pytest.mark.parametrize(
    "feed_url",
    [
        # A name that never resolves (RFC 2606): what a machine without a route sees.
        "https://feed.mix.sina.com.cn.invalid/api/roll/get",
        # A closed port on this machine: connection refused.
        "http://127.0.0.1:9/api/roll/get",
    ],
    ids=["dns", "refused"],
)
def test_unreachable_feed_fails_clearly(feed_url: str, tmp_path: Path) -> None:
    archive = tmp_path / "archive"
    # The default settings, as a user runs them, but for the feed URL.
    run = run_crawl(
        feed_url,
        archive,
        settings={"SINA_ARTICLE_HOSTS": ".sina.com.cn", "RETRY_TIMES": "1"},
    )
    assert run.returncode == 3  # ExitStatus.FEED_UNREADABLE
    errors = [line for line in run.stderr.splitlines() if "ERROR" in line]
    assert len([e for e in errors if feed_url.split("?")[0] in e]) == 1, errors
    assert "Cannot read the feed" in errors[0]
    assert "Traceback" not in run.stderr
    # No article; only the crawler's own record of the failed run.
    assert articles(archive) == []
    assert [p.name for p in files(tmp_path)] == ["lock", "runs.jsonl"]


def test_bad_argument_is_one_usage_line(tmp_path: Path) -> None:
    run = run_crawl("http://127.0.0.1:9/api/roll/get", tmp_path, "pages=many")
    assert run.returncode == 2
    assert "error: -a pages= wants a whole number" in run.stderr
    assert "Traceback" not in run.stderr
    assert list(tmp_path.iterdir()) == []


def test_an_item_listed_by_its_mobile_page_is_fetched_there(tmp_path: Path) -> None:
    site = fixture_site()
    seed = site.get("ikmvwzxq0000001")
    mobile = "/2021-04-20/detail-ikmvwzxq0000001.d.html"
    # The feed's url is a video page; only its wapurl is an article page.
    site.add(
        dataclasses.replace(
            seed,
            feed_path="/video/2021-04-20/x.html",
            wapurl=mobile,
            feed_intime=False,
        )
    )
    archive = tmp_path / "archive"
    with Replica(site) as replica:
        run = run_crawl(replica.feed_url, archive)
        requested = replica.article_requests()
    assert run.returncode == 0, run.stderr[-3000:]
    assert mobile in requested
    assert "/video/2021-04-20/x.html" not in requested
    written = archive / SEED_PATH
    # Without intime, the page's own published_time: the same instant here.
    assert written.read_bytes() == EXPECTED_SEED.read_bytes()
