"""The one path from a fetched page to an article, or to the reason it is none."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from newscrawl.page import read_article, refusal
from newscrawl.sina.channels import SINA_FINANCE_IMAGE, Channel
from newscrawl.sina.feed import FeedEntry
from tests.conftest import EXPECTED_SEED, SEED_URL, page, split_document

CHANNEL = Channel("china", 155, 1686, ("金融", "新浪财经", "新浪财经－国內"))
UTF8 = {"Content-Type": "text/html; charset=utf-8"}
ENTRY = FeedEntry(
    url=SEED_URL,
    doc_id="ikmvwzxq0000001",
    title="来自滚动新闻的标题",
    intime_raw="1618919498",
    intime=datetime(2021, 4, 20, 11, 51, 38, tzinfo=UTC),
    mtime=1618919498,
)
MOBILE_URL = "https://finance.sina.cn/2021-04-20/detail-ikmvwzxq0000002.d.html"
DESKTOP_URL = "https://finance.sina.com.cn/roll/2021-04-20/doc-ikmvwzxq0000003.shtml"


def html(body: str, *, published: str = "2021-04-20T19:51:38+08:00") -> bytes:
    meta = f'<meta property="article:published_time" content="{published}">'
    return (
        '<html><head><meta charset="utf-8"><title>标题|x_新浪财经_新浪网</title>'
        f'{meta if published else ""}</head><body><h1 class="main-title">标题</h1>'
        f"{body}</body></html>"
    ).encode()


def test_the_seed_page_gives_the_seed_article() -> None:
    result = read_article(
        page("replica_seed_article.html"), UTF8, SEED_URL, CHANNEL, ENTRY
    )
    assert result.refusal is None and result.article is not None
    article = result.article
    expected = split_document(EXPECTED_SEED.read_text("utf-8"))[1]
    assert article.body == expected.replace("&#123;", "{").replace("&#125;", "}")
    assert article.image == SINA_FINANCE_IMAGE
    assert article.published == ENTRY.intime and article.published_source == "feed"
    assert article.title == "工信部：将开展互联网行业不正当竞争专项整治行动"
    assert result.removed["qr_block"] >= 1 and result.removed["editor"] == 1
    assert result.decoding.encoding == "utf-8"


def test_without_a_feed_item_the_page_gives_date_and_doc_id() -> None:
    result = read_article(
        html('<div id="artibody"><p>　　正文。</p></div>'),
        {},
        DESKTOP_URL,
        CHANNEL,
        None,
    )
    assert result.article is not None and result.refusal is None
    assert result.article.doc_id == "ikmvwzxq0000003"
    assert result.article.published == datetime(2021, 4, 20, 11, 51, 38, tzinfo=UTC)
    assert result.article.published_source == "meta"


def test_a_mobile_page_is_an_article() -> None:
    body = (
        '<section class="art_pic_card art_content">'
        '<div id="wx_pic" style="display:none"><img src="//n.sinaimg.cn/share.jpg">'
        "</div><p>　　手机版的正文。</p></section>"
    )
    mobile = (
        '<html><head><meta charset="utf-8"><title>手机标题_新浪网</title>'
        '<meta property="article:published_time" content="2021-04-20 19:51:38">'
        '</head><body><h1 class="art_tit_h1">手机标题</h1>'
        f"{body}</body></html>"
    ).encode()
    result = read_article(mobile, UTF8, MOBILE_URL, CHANNEL, None)
    assert result.refusal is None and result.article is not None
    assert result.article.doc_id == "ikmvwzxq0000002"
    assert result.article.title == "手机标题"
    assert result.article.published == datetime(2021, 4, 20, 11, 51, 38, tzinfo=UTC)
    assert result.article.body == "<p>　　手机版的正文。</p>"
    # The hidden share image is never the headimg.
    assert result.article.image == SINA_FINANCE_IMAGE


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        # A player and its title, nothing else (news 2019's video-2017 block).
        (
            '<div id="artibody"><div class="video-2017">'
            '<img src="//n.sinaimg.cn/v.jpg">'
            '<a href="http://video.sina.com.cn/p/x.d.html">视频-标题</a></div></div>',
            "video page",
        ),
        (
            '<div id="artibody">'
            '<div class="img_wrapper"><img src="//n.sinaimg.cn/1.jpg"></div>'
            '<div class="img_wrapper"><img src="//n.sinaimg.cn/2.jpg"></div></div>',
            "gallery page",
        ),
        (
            '<div id="artibody"><p class="article-editor">责任编辑：张三</p></div>',
            "no article text",
        ),
        ('<div id="elsewhere"><p>　　正文。</p></div>', "not an article page"),
    ],
)
def test_what_is_not_an_article_is_refused_with_its_reason(
    body: str, reason: str
) -> None:
    result = read_article(html(body), UTF8, DESKTOP_URL, CHANNEL, None)
    assert result.refusal == refusal(reason)
    assert result.article is not None and result.article.refused == reason


def test_no_date_anywhere_is_refused() -> None:
    result = read_article(
        html('<div id="artibody"><p>　　正文。</p></div>', published=""),
        UTF8,
        DESKTOP_URL,
        CHANNEL,
        None,
    )
    assert result.refusal is not None and result.refusal.key == "no_date"
    assert "date" in result.missing


def test_damaged_text_is_refused_past_the_ratio() -> None:
    body = '<div id="artibody"><p>　　正文\ufffd\ufffd。</p></div>'
    result = read_article(html(body), UTF8, DESKTOP_URL, CHANNEL, None)
    assert result.refusal is not None and result.refusal.key == "damaged_text"
    assert "CLEAN_MAX_REPLACEMENT_RATIO 0.01" in result.refusal.reason
    lenient = read_article(
        html(body), UTF8, DESKTOP_URL, CHANNEL, None, max_replacement_ratio=0.5
    )
    assert lenient.refusal is None
