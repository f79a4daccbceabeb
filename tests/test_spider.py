"""The spider on saved pages: feed page → requests, article page → Article."""

from __future__ import annotations

import dataclasses
import html
import io
import json
import logging
import unicodedata
from datetime import UTC, datetime
from typing import Any

import frontmatter
import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st
from scrapy.exceptions import (
    DownloadCancelledError,
    DownloadTimeoutError,
    DropItem,
    IgnoreRequest,
    ResponseDataLossError,
    UsageError,
)
from scrapy.http import HtmlResponse, Request, TextResponse
from scrapy.spidermiddlewares.httperror import HttpError
from scrapy.utils.test import get_crawler
from twisted.python.failure import Failure

from newscrawl import settings as project
from newscrawl.exporters import FrontMatterItemExporter
from newscrawl.items import Article
from newscrawl.pipelines import ValidatePipeline
from newscrawl.sina.feed import FeedEntry
from newscrawl.spiders.sina_finance import SinaFinanceSpider
from tests.conftest import FIXTURES, SEED_URL, page

ROLL = (FIXTURES / "api" / "roll_page1.json").read_bytes()
FEED = "https://feed.mix.sina.com.cn/api/roll/get"


def project_settings() -> dict[str, Any]:
    return {k: getattr(project, k) for k in dir(project) if k.isupper()}


def make_spider(**kwargs: Any) -> SinaFinanceSpider:
    crawler = get_crawler(SinaFinanceSpider, project_settings())
    spider = SinaFinanceSpider.from_crawler(crawler, **kwargs)
    assert isinstance(spider, SinaFinanceSpider)
    return spider


def feed_response(body: bytes, page: int = 1) -> TextResponse:
    url = f"{FEED}?pageid=155&lid=1686&k=&num=50&page={page}&encode=utf-8"
    return TextResponse(url=url, body=body, encoding="utf-8", request=Request(url))


def stat(spider: SinaFinanceSpider, key: str) -> Any:
    assert spider.crawler.stats is not None
    return spider.crawler.stats.get_value(key)


def with_total(total: int) -> bytes:
    document = json.loads(ROLL)
    document["result"]["total"] = total
    return json.dumps(document).encode()


def test_feed_page_gives_article_requests_and_the_next_page() -> None:
    spider = make_spider(pages="2")
    china = spider.channels[0]
    out = list(spider.parse_feed(feed_response(with_total(120)), china, 1))
    articles, feeds = out[:3], out[3:]
    assert [r.url for r in articles] == [
        SEED_URL,
        "https://finance.sina.com.cn/roll/2018-12-28/doc-ihqfskcn2160999.shtml",
        "https://news.sina.com.cn/c/2019-09-07/doc-iicezzrq4076655.shtml",
    ]
    assert [r.meta["newscrawl_feed_page"] for r in feeds] == [2]
    assert articles[0].meta["newscrawl_doc_id"] == "ikmvwzxq0000001"
    assert articles[0].meta["newscrawl_feed_mtime"] == 1618919498
    # The page cap: page 2 of 2 asks for no third page.
    other_items = with_total(120).replace(b"doc-i", b"doc-iz")
    page2 = list(spider.parse_feed(feed_response(other_items, 2), china, 2))
    assert len(page2) == 3
    assert all("newscrawl_doc_id" in r.meta for r in page2)
    assert stat(spider, "sina/feed/items") == 6


def test_items_listed_again_on_the_next_page_are_requested_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # Newer items push older ones down between two page fetches: page 2 then
    # starts with the last items of page 1.
    caplog.set_level(logging.INFO)
    spider = make_spider(pages="2")
    china = spider.channels[0]
    page1 = list(spider.parse_feed(feed_response(with_total(120)), china, 1))
    page2 = list(spider.parse_feed(feed_response(with_total(120), 2), china, 2))
    assert len(page1) == 4  # three articles and page 2
    assert page2 == []
    assert stat(spider, "sina/feed/items") == 3
    assert stat(spider, "sina/feed/duplicates") == 3
    assert "3 item(s) already listed earlier in this run" in caplog.text


def test_paging_ends_at_the_feed_total() -> None:
    spider = make_spider(pages="5")
    out = list(spider.parse_feed(feed_response(ROLL), spider.channels[0], 1))
    assert len(out) == 3  # total is 3: no page 2


def test_since_stops_paging_and_skips_older_items() -> None:
    spider = make_spider(since="2019-01-01")
    out = list(spider.parse_feed(feed_response(ROLL), spider.channels[0], 1))
    assert [r.url for r in out] == [
        SEED_URL,
        "https://news.sina.com.cn/c/2019-09-07/doc-iicezzrq4076655.shtml",
    ]
    assert stat(spider, "sina/feed/older_than_since") == 1


def test_broken_feed_is_counted_and_logged(caplog: pytest.LogCaptureFixture) -> None:
    spider = make_spider()
    assert (
        list(
            spider.parse_feed(
                feed_response(b"<html>oops</html>"), spider.channels[0], 1
            )
        )
        == []
    )
    assert stat(spider, "sina/feed/failed") == 1
    assert [r.levelname for r in caplog.records] == ["ERROR"]
    assert "Cannot read the feed" in caplog.records[0].getMessage()


def test_article_page_gives_the_article() -> None:
    spider = make_spider()
    entry = FeedEntry(
        url=SEED_URL,
        doc_id="ikmvwzxq0000001",
        title="工信部：将开展互联网行业不正当竞争专项整治行动",
        intime_raw="1618919498",
        intime=datetime(2021, 4, 20, 11, 51, 38, tzinfo=UTC),
        mtime=1618919498,
        media_name="澎湃新闻",
    )
    response = HtmlResponse(
        url=SEED_URL, body=page("replica_seed_article.html"), request=Request(SEED_URL)
    )
    (item,) = spider.parse_article(response, spider.channels[0], entry)
    assert isinstance(item, Article)
    assert item.doc_id == "ikmvwzxq0000001"
    assert item.title == "工信部：将开展互联网行业不正当竞争专项整治行动"
    assert item.categories == ("金融", "新浪财经", "新浪财经－国內")
    assert item.author == "新浪财经"
    assert (item.published_source, item.published_raw) == ("feed", "1618919498")
    assert item.published == datetime(2021, 4, 20, 11, 51, 38, tzinfo=UTC)
    assert item.feed_mtime == 1618919498
    assert item.outlet == "澎湃新闻"
    assert item.body.startswith("<p>　　工信部")


def test_single_url_without_feed_uses_the_page_date() -> None:
    spider = make_spider(url=SEED_URL)
    response = HtmlResponse(
        url=SEED_URL, body=page("replica_seed_article.html"), request=Request(SEED_URL)
    )
    (item,) = spider.parse_article(response, spider.channels[0], None)
    assert item.published_source == "meta"
    assert item.published == datetime(2021, 4, 20, 11, 51, 38, tzinfo=UTC)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"pages": "0"},
        {"pages": "x"},
        {"since": "yesterday"},
        {"channels": "nope"},
        {"url": "https://evil.example.com/a/2020-01-01/doc-iabcdefg1.shtml"},
    ],
)
def test_bad_arguments_are_usage_errors(kwargs: dict[str, str]) -> None:
    with pytest.raises(UsageError):
        make_spider(**kwargs)


def test_channels_argument() -> None:
    spider = make_spider(channels="china,stock")
    assert [(c.pageid, c.lid) for c in spider.channels] == [(155, 1686), (384, 2671)]


def test_feed_json_fixture_is_the_documented_shape() -> None:
    assert json.loads(ROLL)["result"]["status"]["code"] == 0


# --- Hostile pages and failures -----------------------------------------------------

ENTRY = FeedEntry(
    url=SEED_URL,
    doc_id="ikmvwzxq0000001",
    title="来自滚动新闻的标题",
    intime_raw="1618919498",
    intime=datetime(2021, 4, 20, 11, 51, 38, tzinfo=UTC),
    mtime=1618919498,
)
PAGE = (
    '<html><head><meta charset="{charset}"><title>{title}|x_新浪财经_新浪网</title>'
    '</head><body><h1 class="main-title">{title}</h1>'
    '<div class="article" id="artibody"><p>　　{text}</p></div></body></html>'
)


def article_response(
    body: bytes, content_type: str = "text/html; charset=utf-8"
) -> HtmlResponse:
    return HtmlResponse(
        url=SEED_URL,
        body=body,
        headers={"Content-Type": content_type},
        request=Request(SEED_URL),
    )


@pytest.mark.parametrize(
    ("charset", "encoding", "content_type", "corrected"),
    [
        ("gb2312", "gb2312", "text/html; charset=gb2312", 0),
        ("gb2312", "utf-8", "text/html; charset=gb2312", 1),
        ("utf-8", "gbk", "text/html; charset=utf-8", 1),
        ("gbk", "gbk", "text/html", 0),
    ],
)
def test_article_text_comes_out_right_whatever_the_page_declares(
    charset: str,
    encoding: str,
    content_type: str,
    corrected: int,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO)
    spider = make_spider()
    body = PAGE.format(
        charset=charset, title="工信部开展专项整治", text="国家统计局数据显示。"
    )
    response = article_response(body.encode(encoding), content_type)
    (item,) = spider.parse_article(response, spider.channels[0], ENTRY)
    assert item.title == "工信部开展专项整治"
    assert item.body == "<p>　　国家统计局数据显示。</p>"
    assert stat(spider, "sina/encoding/corrected") == (corrected or None)
    said = f"declares {charset} but its bytes are"
    assert (said in caplog.text) == bool(corrected)
    assert stat(spider, "sina/encoding/replacements") is None


def test_undecodable_bytes_are_counted_and_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    spider = make_spider()
    body = PAGE.format(charset="utf-8", title="标题", text="正文@@@").encode()
    response = article_response(body.replace(b"@", b"\xff"))
    (item,) = spider.parse_article(response, spider.channels[0], ENTRY)
    assert item.body == "<p>　　正文\ufffd\ufffd\ufffd</p>"
    assert stat(spider, "sina/encoding/replacements") == 3
    assert stat(spider, "sina/encoding/damaged_pages") == 1
    assert stat(spider, "sina/encoding/replacements_max") == 3
    assert "3 byte sequence(s) undecodable as utf-8, read as U+FFFD" in caplog.text


@pytest.mark.parametrize("content_type", ["image/png", "application/pdf"])
def test_a_page_that_is_not_html_fails_the_article(
    content_type: str, caplog: pytest.LogCaptureFixture
) -> None:
    spider = make_spider()
    # Scrapy makes an HtmlResponse of it anyway: the URL ends in .shtml.
    response = article_response(b"\x89PNG\r\n\x1a\n", content_type)
    assert list(spider.parse_article(response, spider.channels[0], ENTRY)) == []
    assert stat(spider, "sina/article/failed") == 1
    assert stat(spider, "sina/article/failed/not_html") == 1
    assert [r.getMessage() for r in caplog.records] == [
        f"Cannot use the article {SEED_URL}: not an HTML page ({content_type})"
    ]


def failure_of(exc: Exception, **meta: Any) -> Any:
    failure = Failure(exc)  # type: ignore[no-untyped-call]
    failure.request = Request(SEED_URL, meta=meta)  # type: ignore[attr-defined]
    return failure


def http_error(status: int) -> Exception:
    response = HtmlResponse(SEED_URL, status=status, request=Request(SEED_URL))
    return HttpError(response, "Ignoring non-200 response")


def test_failed_downloads_say_why_in_one_line(caplog: pytest.LogCaptureFixture) -> None:
    spider = make_spider()
    moved = "https://finance.sina.com.cn/roll/moved.shtml"
    failures = [
        (failure_of(http_error(404)), "http_404", "HTTP 404 Not Found"),
        (
            failure_of(http_error(503), retry_times=3),
            "http_503",
            "HTTP 503 Service Unavailable (after 3 retries)",
        ),
        (
            failure_of(DownloadTimeoutError("took longer"), download_timeout=30),
            "timeout",
            "no complete answer within 30 s",
        ),
        (
            failure_of(DownloadCancelledError()),
            "too_large",
            f"larger than DOWNLOAD_MAXSIZE ({16 * 1024 * 1024} bytes)",
        ),
        (
            failure_of(ResponseDataLossError(), retry_times=1),
            "incomplete",
            "the connection closed mid-body (data loss) (after 1 retry)",
        ),
        (
            failure_of(IgnoreRequest("max redirections reached")),
            "redirect_loop",
            "more redirects than REDIRECT_MAX_TIMES (a loop?)",
        ),
        (
            failure_of(IgnoreRequest("Forbidden by robots.txt")),
            "robots_txt",
            "forbidden by robots.txt",
        ),
    ]
    for failure, _, _ in failures:
        spider.article_failed(failure)
    # A redirected request is reported under the URL the feed gave.
    offsite = IgnoreRequest(f"redirected off-site (301) to {moved}: refused")
    spider.article_failed(failure_of(offsite, redirect_urls=[SEED_URL]))
    messages = [r.getMessage() for r in caplog.records]
    assert messages == [
        f"Cannot fetch the article {SEED_URL}: {reason}" for _, _, reason in failures
    ] + [f"Cannot fetch the article {SEED_URL}: {offsite}"]
    assert {r.levelname for r in caplog.records} == {"ERROR"}
    assert stat(spider, "sina/article/failed") == len(failures) + 1
    for _, detail, _ in failures:
        assert stat(spider, f"sina/article/failed/{detail}") == 1
    assert stat(spider, "sina/article/failed/redirect_offsite") == 1


def test_feed_items_without_a_usable_intime_are_counted(
    caplog: pytest.LogCaptureFixture,
) -> None:
    document = json.loads(ROLL)
    items = document["result"]["data"]
    items[0]["intime"] = "yesterday"
    items[1]["intime"] = "4070908800"  # 2099
    del items[2]["intime"]
    spider = make_spider()
    body = json.dumps(document).encode()
    requests = list(spider.parse_feed(feed_response(body), spider.channels[0], 1))
    assert len(requests) == 3  # still fetched: their pages give the date
    assert stat(spider, "sina/feed/unusable_intime") == 3
    assert "3 item(s) without a usable intime" in caplog.text


# --- Any title, from the page to the file -------------------------------------------

# Pieces of what breaks YAML, front matter and template engines.
TITLE_PIECES = [
    '"', "'", ":", ": ", "#", " #", "- ", "---", "...", "\n", "\r\n", "\t", "\x01",
    "\x0b", "\x7f", "\x85", "\u2028", "\ufeff", "{{", "}}", "{%", "%}", "\\", "\\n",
    "2015-10-11", "true", "null", "~", "1e3", "0x1F", "&", "&amp;", "*", "!", "|",
    ">", "@", "`", "%", "[", "]", ",", "?", " ", "　", "标题", "工信部：", "“引号”",
]  # fmt: skip
TITLES = st.one_of(
    st.text(max_size=40),
    st.lists(st.sampled_from(TITLE_PIECES), min_size=1, max_size=8).map("".join),
)


def as_archived(title: str) -> str:
    """FORMAT.md's title, by its own words: NUL gone (the HTML parser drops it),
    NFC, control characters as spaces, whitespace collapsed to single spaces, braces
    as character references."""
    title = unicodedata.normalize("NFC", title.replace("\x00", ""))
    controls = {c for c in title if ord(c) < 0x20 or 0x7F <= ord(c) <= 0x9F}
    title = "".join(
        " " if c in controls | {"\ufeff", "\ufffe", "\uffff"} else c for c in title
    )
    return " ".join(title.split()).replace("{", "&#123;").replace("}", "&#125;")


@settings(max_examples=300, deadline=None)
@given(TITLES)
def test_any_page_title_reads_back_from_the_file(title: str) -> None:
    spider = make_spider()
    crawler = spider.crawler
    page = PAGE.format(charset="utf-8", title=html.escape(title), text="正文。")
    response = article_response(page.encode("utf-8"))
    # No title from the feed: only the page's.
    entry = dataclasses.replace(ENTRY, title="")
    (item,) = spider.parse_article(response, spider.channels[0], entry)
    expected = as_archived(title)
    if not expected:
        with pytest.raises(DropItem, match="no title"):
            ValidatePipeline.from_crawler(crawler).process_item(item)
        return
    ValidatePipeline.from_crawler(crawler).process_item(item)
    buffer = io.BytesIO()
    exporter = FrontMatterItemExporter(buffer)
    exporter.export_item(item)
    text = buffer.getvalue().decode("utf-8")
    header = yaml.safe_load(text.split("\n---\n")[1])
    assert header == frontmatter.loads(text).metadata
    assert header == {
        "title": expected,
        "categories": ["金融", "新浪财经", "新浪财经－国內"],
        "headimg": "https://n.sinaimg.cn/finance/cece9e13/20200514/343233024.png",
        "author": "新浪财经",
        "comments": False,
        "date": "Tue, 20 Apr 2021 11:51:38 GMT",
        "thumbnail": "https://n.sinaimg.cn/finance/cece9e13/20200514/343233024.png",
    }
    assert text.endswith("<div>   \n<p>　　正文。</p>  \n</div>\n            ")
