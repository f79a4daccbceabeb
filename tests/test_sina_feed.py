"""Feed URLs and feed pages: JSON, JSONP, and what is rejected."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from urllib.parse import parse_qs, urlsplit

import pytest

from newscrawl.sina.feed import FeedError, feed_url, parse_feed
from tests.conftest import FIXTURES

SINA = frozenset({".sina.com.cn"})
ROLL = (FIXTURES / "api" / "roll_page1.json").read_text("utf-8")


def test_feed_url() -> None:
    url = feed_url("https://feed.mix.sina.com.cn/api/roll/get", 155, 1686, 3, num=80)
    parts = urlsplit(url)
    assert parts.netloc == "feed.mix.sina.com.cn"
    query = parse_qs(parts.query, keep_blank_values=True)
    assert query == {
        "pageid": ["155"],
        "lid": ["1686"],
        "k": [""],
        "num": ["50"],  # Sina answers at most 50
        "page": ["3"],
        "encode": ["utf-8"],
    }


def test_fixture_feed_page() -> None:
    parsed = parse_feed(ROLL, SINA)
    assert parsed.total == 3
    assert [e.doc_id for e in parsed.entries] == [
        "ikmvwzxq0000001",
        "ihqfskcn2160999",
        "iicezzrq4076655",
    ]
    seed = parsed.entries[0]
    assert seed.intime == datetime(2021, 4, 20, 11, 51, 38, tzinfo=UTC)
    assert seed.intime_raw == "1618919498"
    assert seed.mtime == 1618919498
    assert seed.media_name == "澎湃新闻"


def test_jsonp() -> None:
    assert len(parse_feed(f"jQuery123_456({ROLL});", SINA).entries) == 3
    assert len(parse_feed(f"try{{cb({ROLL});}}catch(e){{}};", SINA).entries) == 3


@pytest.mark.parametrize(
    "text",
    [
        "<html><body>502 Bad Gateway</body></html>",
        ROLL[: len(ROLL) // 2],
        '{"result": {"status": {"code": 1, "msg": "error"}, "data": []}}',
        '{"result": {"status": {"code": 0}}}',
        "[]",
        "",
    ],
    ids=["html", "truncated", "status", "no-data", "list", "empty"],
)
def test_unusable_pages_raise(text: str) -> None:
    with pytest.raises(FeedError):
        parse_feed(text, SINA)


def test_bad_items_are_rejected_with_a_reason() -> None:
    good = json.loads(ROLL)["result"]["data"][0]
    data = [
        good,
        {**good, "url": ""},
        {**good, "url": "https://evil.example.com/2021-04-20/doc-iabcdefgh12345.shtml"},
        {**good, "url": "https://finance.sina.com.cn/china/"},
        "not an object",
        {**good, "intime": "garbage", "url": good["url"].replace("kmvw", "zzzz")},
    ]
    text = json.dumps({"result": {"status": {"code": 0}, "data": data}})
    parsed = parse_feed(text, SINA)
    assert [e.doc_id for e in parsed.entries] == ["ikmvwzxq0000001", "izzzzzxq0000001"]
    assert parsed.entries[1].intime is None
    assert dict(parsed.rejected) == {
        "missing_url": 1,
        "offsite_url": 1,
        "not_an_article_url": 1,
        "not_an_object": 1,
    }


ARTICLE = "https://finance.sina.com.cn/roll/2021-04-20/doc-{}.shtml"


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("https://evil.example.com/r/2021-04-20/doc-iabcdefg1.shtml", "offsite_url"),
        ("https://sina.com.cn.evil.example/doc-iabcdefg1.shtml", "offsite_url"),
        ("javascript:alert(1)//doc-iabcdefg1.shtml", "bad_url"),
        (ARTICLE.format("iabcdefg1").replace("https", "ftp"), "bad_url"),
        (ARTICLE.format("iabcdefg1").replace("https://", "http://["), "bad_url"),
        (ARTICLE.format("iabcdefg1").removeprefix("https:"), "bad_url"),
        (ARTICLE.format("i..%2F..%2Fx"), "not_an_article_url"),
        (ARTICLE.format("i../../x"), "not_an_article_url"),
        (ARTICLE.format("iab\x00cdefg"), "not_an_article_url"),
        (ARTICLE.format("i" + "a" * 300), "not_an_article_url"),
    ],
)
def test_hostile_urls_are_rejected_with_their_reason(url: str, reason: str) -> None:
    text = json.dumps({"result": {"status": {"code": 0}, "data": [{"url": url}]}})
    parsed = parse_feed(text, SINA)
    assert parsed.entries == []
    assert dict(parsed.rejected) == {reason: 1}


@pytest.mark.parametrize(
    "docid",
    ["comos:../../../etc/passwd", "comos:a/b", "comos:a\x00b", "comos:" + "x" * 300, 7],
)
def test_the_items_docid_never_names_the_file(docid: object) -> None:
    url = "https://finance.sina.com.cn/roll/2021-04-20/doc-iabcdefg1234.shtml"
    item = {"docid": docid, "url": url, "intime": "1618919498"}
    text = json.dumps({"result": {"status": {"code": 0}, "data": [item]}})
    (entry,) = parse_feed(text, SINA).entries
    assert entry.doc_id == "iabcdefg1234"


@pytest.mark.parametrize(
    ("intime", "expected"),
    [
        (1618919498, datetime(2021, 4, 20, 11, 51, 38, tzinfo=UTC)),
        (" 1618919498 ", datetime(2021, 4, 20, 11, 51, 38, tzinfo=UTC)),
        (1618919498.5, None),
        ("yesterday", None),
        (True, None),
        (None, None),
        ([1618919498], None),
        (10**30, None),
    ],
)
def test_feed_times_of_any_shape(intime: object, expected: datetime | None) -> None:
    url = "https://finance.sina.com.cn/roll/2021-04-20/doc-iabcdefg1234.shtml"
    text = json.dumps(
        {"result": {"status": {"code": 0}, "data": [{"url": url, "intime": intime}]}}
    )
    (entry,) = parse_feed(text, SINA).entries
    assert entry.intime == expected


def test_an_item_whose_url_is_no_article_is_fetched_by_its_wapurl() -> None:
    good = json.loads(ROLL)["result"]["data"][0]
    wapurl = "https://finance.sina.cn/2021-04-20/detail-ikmvwzxq0000001.d.html"
    data = [
        {
            **good,
            "url": "https://video.sina.com.cn/p/finance/2021-04-20/x.html",
            "wapurl": wapurl,
        },
        {**good, "url": "https://finance.sina.com.cn/china/", "wapurl": ""},
    ]
    text = json.dumps({"result": {"status": {"code": 0}, "data": data}})
    parsed = parse_feed(text, frozenset({".sina.com.cn", ".sina.cn"}))
    assert [(e.url, e.doc_id) for e in parsed.entries] == [(wapurl, "ikmvwzxq0000001")]
    assert dict(parsed.rejected) == {"not_an_article_url": 1}
    # Its host must be allowed like any other.
    assert parse_feed(text, SINA).entries == []


def test_mobile_hosts_are_allowed_by_default() -> None:
    from newscrawl import settings

    hosts = frozenset(settings.SINA_ARTICLE_HOSTS)
    good = json.loads(ROLL)["result"]["data"][0]
    mobile = "https://finance.sina.cn/2021-04-20/detail-ikmvwzxq0000001.d.html"
    text = json.dumps(
        {"result": {"status": {"code": 0}, "data": [{**good, "url": mobile}]}}
    )
    assert [e.url for e in parse_feed(text, hosts).entries] == [mobile]
