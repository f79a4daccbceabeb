"""The spider on saved pages: feed page → requests, article page → Article."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from scrapy.exceptions import UsageError
from scrapy.http import HtmlResponse, Request, TextResponse
from scrapy.utils.test import get_crawler

from newscrawl import settings
from newscrawl.items import Article
from newscrawl.sina.feed import FeedEntry
from newscrawl.spiders.sina_finance import SinaFinanceSpider
from tests.conftest import FIXTURES, SEED_URL, page

ROLL = (FIXTURES / "api" / "roll_page1.json").read_bytes()
FEED = "https://feed.mix.sina.com.cn/api/roll/get"


def project_settings() -> dict[str, Any]:
    return {k: getattr(settings, k) for k in dir(settings) if k.isupper()}


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
    page2 = list(spider.parse_feed(feed_response(with_total(120), 2), china, 2))
    assert all("newscrawl_doc_id" in r.meta for r in page2)
    assert stat(spider, "sina/feed/items") == 6


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
    assert item.body_raw.startswith('\n<p cms-style="font-L">　　工信部')


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
