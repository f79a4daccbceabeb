"""The real fixture pages give exactly the values fixtures/README.md lists."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from lxml.html import HtmlElement

from newscrawl.sina import article as article_module
from newscrawl.sina.article import PageFields, extract_page, normalize_title
from newscrawl.sina.dates import rfc1123
from newscrawl.sina.encoding import read_document
from tests.conftest import FINANCE_URL, FIXTURES, NEWS_URL, OLD_URL, SEED_URL, page


def parsed(body: bytes, content_type: str = "text/html") -> HtmlElement:
    """The page as the spider parses it: from its bytes, in their encoding."""
    return read_document(body, content_type)[0]


def fields(name: str, url: str) -> PageFields:
    # No charset in the header: the page's <meta> (gb2312 → gb18030) decides.
    return extract_page(parsed(page(name)), url)


def test_finance_page() -> None:
    got = fields("gne_finance_roll_2018-12-28_doc-ihqfskcn2160999.html", FINANCE_URL)
    assert got.title_raw == '60万"12306账号"外泄? 中铁总辟谣称消息不实'
    assert got.published == datetime(2018, 12, 28, 11, 56, 29, tzinfo=UTC)
    assert got.published_raw == "2018-12-28T19:56:29+08:00"
    assert rfc1123(got.published) == "Fri, 28 Dec 2018 11:56:29 GMT"
    assert got.outlet == "新京报"
    assert got.doc_id == "ihqfskcn2160999"
    assert got.updated == datetime(2018, 12, 28, 12, 19, 44, tzinfo=UTC)
    assert got.keywords == ["辟谣", "外泄", "账号"]
    assert got.body_html is not None
    assert "新京报快讯（记者 裴剑飞）" in got.body_html
    assert "\ufffd" not in got.body_html


def test_news_page_skips_the_logo_h1_and_reads_the_visible_outlet() -> None:
    got = fields("gne_news_c_2019-09-07_doc-iicezzrq4076655.html", NEWS_URL)
    assert got.title_raw == "最强“中国芯”本月商用 华为抢跑5G芯片大战"
    assert got.title_source == "h1"
    assert got.published == datetime(2019, 9, 6, 22, 52, 51, tzinfo=UTC)
    assert got.outlet == "北京日报"  # the meta tags are empty on this page
    assert got.doc_id == "iicezzrq4076655"
    assert got.body_html is not None
    assert got.body_html.lstrip().startswith("<p>　　原标题：最强“中国芯”")


def test_old_gb2312_page() -> None:
    got = fields("cxextractor_old_gb2312_ent_aidai.html", OLD_URL)
    assert got.title_raw == "爱戴掀起红盖头 庆东南劲爆音乐颁奖七周年(图)"
    assert got.published_raw == "2009年11月09日13:48"
    assert rfc1123(got.published) == "Mon, 09 Nov 2009 05:48:00 GMT"  # type: ignore[arg-type]
    assert got.outlet == "新浪娱乐"
    assert got.doc_id == "13482762951"
    assert got.body_html is not None
    assert "U3996P28T3D2762951F328DT20091109135102.jpg" in got.body_html
    # The phone promotion after publish_helper_end is not part of the article.
    assert "ent.sina.cn" not in got.body_html
    for value in (got.title_raw, got.outlet, got.body_html):
        assert "\ufffd" not in value


def test_seed_replica_page() -> None:
    got = fields("replica_seed_article.html", SEED_URL)
    assert got.title_raw == "工信部：将开展互联网行业不正当竞争专项整治行动"
    assert rfc1123(got.published) == "Tue, 20 Apr 2021 11:51:38 GMT"  # type: ignore[arg-type]
    assert got.outlet == "澎湃新闻"
    assert got.doc_id == "ikmvwzxq0000001"


def test_the_title_is_found_beside_the_body_without_reading_the_page(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """2016+ pages: h1.main-title is a child of one of the body's ancestors; the
    whole-page search for h1s (the costliest of the fields) is not made."""
    root = parsed(page("gne_finance_roll_2018-12-28_doc-ihqfskcn2160999.html"))

    def whole_page(*args: object, **kwargs: object) -> None:
        raise AssertionError("the whole page was searched for h1s")

    monkeypatch.setattr(article_module, "_H1S", whole_page)
    got = extract_page(root, FINANCE_URL)
    assert (got.title_source, got.title_raw) == (
        "h1",
        '60万"12306账号"外泄? 中铁总辟谣称消息不实',
    )


def test_a_title_away_from_the_body_is_found_in_the_whole_page() -> None:
    # 2016 pages: h1#artibodyTitle in div.page-header, apart from the body's
    # ancestors (http://finance.sina.com.cn/money/forex/forexroll/2016-05-25/doc-ifxsktkp9337164.shtml).
    got = corpus_fields(
        "finance-2016-artibody-fxsktkp9337164",
        "http://finance.sina.com.cn/money/forex/forexroll/2016-05-25/doc-ifxsktkp9337164.shtml",
    )
    assert got.title_source == "h1"
    assert got.title_raw.strip() == "人民币中间价创逾五年新低 做市商称符合预期"


def test_title_falls_back_to_og_title_then_title_tag() -> None:
    og = parsed(
        '<meta property="og:title" content="标题甲">'
        "<title>乙|丙_新浪财经_新浪网</title>".encode()
    )
    assert extract_page(og, SEED_URL).title_raw == "标题甲"
    tag = parsed("<title>标题乙|标签_新浪财经_新浪网</title>".encode())
    assert extract_page(tag, SEED_URL).title_raw == "标题乙"


def test_page_without_date_or_body() -> None:
    got = extract_page(parsed(b"<html><body><p>nothing</p></body></html>"), SEED_URL)
    assert got.published is None
    assert got.body_html is None
    assert got.title_raw == ""


@pytest.mark.parametrize(
    ("raw", "normal"),
    [
        ("  a\n\tb  ", "a b"),
        ("a\x00b\x1fc", "a b c"),
        ("a\u2028b", "a b"),
        ("工信部：\r\n将开展", "工信部： 将开展"),
    ],
)
def test_normalize_title(raw: str, normal: str) -> None:
    assert normalize_title(raw) == normal


def corpus_fields(name: str, url: str) -> PageFields:
    path = FIXTURES / "corpus" / "pages" / f"{name}.html"
    return extract_page(parsed(path.read_bytes()), url)


def test_2005_table_page() -> None:
    # No id anywhere: the title is the th.f24, the date the row under it, the body
    # the innermost td.l17 of its table.
    got = corpus_fields(
        "finance-2005-chanye-244339",
        "http://chanye.finance.sina.com.cn/sm/2005-03-21/244339.shtml",
    )
    assert got.title_raw == "四年前中500万现穷困潦倒 一夜暴富后如何经营"
    assert got.title_source == "th"
    assert got.published == datetime(2005, 3, 21, 3, 21, tzinfo=UTC)
    assert got.doc_id == "244339"
    assert got.outlet == "《理财周刊》"  # the red <font> after the date line
    assert got.body_html is not None
    assert got.body_html.lstrip().startswith("<p>　　人生如戏。")
    assert "来源: 尹娟" in got.body_html
    assert "发表评论" not in got.body_html
    assert "产经资讯" not in got.body_html


def test_2005_table_page_inside_a_div_article() -> None:
    # Its #article holds the title and the date line too: the body is its td.l17.
    got = corpus_fields(
        "house-2005-bj-68306", "http://bj.house.sina.com.cn/p/2005-03-31/031868306.html"
    )
    assert got.title_raw == "拿出10万元投资房产 小两口尝试以钱生钱(图)"
    assert got.published == datetime(2005, 3, 30, 19, 18, tzinfo=UTC)
    assert got.doc_id == "031868306"
    assert got.outlet == "北京娱乐信报"
    assert got.body_html is not None
    assert "北京娱乐信报" not in got.body_html
    assert "U796P62T3D68306F72DT20050331104105.jpg" in got.body_html
    assert "(信报记者 蔡雪婧)" in got.body_html
    assert "楼盘论坛" not in got.body_html


# --- Metadata beyond the file's header: original title, editor, stocks ------------

FIXTURE_META: dict[str, tuple[str, str, str, str, list[str]]] = {
    # page: (outlet, original title, editor, editor code, stocks)
    "gne_finance_roll_2018-12-28_doc-ihqfskcn2160999.html": (
        "新京报",
        "",
        "霍琦",
        "",
        # The sidebar's 热门股票 (sz000725, sh600030 …) and the header's sh000001
        # link are the site's, on every page.
        [],
    ),
    "gne_news_c_2019-09-07_doc-iicezzrq4076655.html": (
        "北京日报",
        # "原标题：最强“中国芯”本月商用&nbsp;华为抢跑5G芯片大战": the space between
        # its halves is kept, as in the page's own title.
        "最强“中国芯”本月商用 华为抢跑5G芯片大战",
        "张申",
        "",
        [],
    ),
    "cxextractor_old_gb2312_ent_aidai.html": ("新浪娱乐", "", "", "", []),
    "replica_seed_article.html": ("澎湃新闻", "", "薛永玮", "", []),
}
FIXTURE_URLS = {
    "gne_finance_roll_2018-12-28_doc-ihqfskcn2160999.html": FINANCE_URL,
    "gne_news_c_2019-09-07_doc-iicezzrq4076655.html": NEWS_URL,
    "cxextractor_old_gb2312_ent_aidai.html": OLD_URL,
    "replica_seed_article.html": SEED_URL,
}


@pytest.mark.parametrize("name", sorted(FIXTURE_META))
def test_fixture_page_metadata(name: str) -> None:
    got = fields(name, FIXTURE_URLS[name])
    found = (got.outlet, got.original_title, got.editor, got.editor_code, got.stocks)
    assert found == FIXTURE_META[name]


def body_page(body: str, after: str = "", head: str = "") -> HtmlElement:
    return parsed(
        f"<html><head>{head}</head><body>"
        '<div class="top">'
        '<a href="https://finance.sina.com.cn/realstock/company/sh000001/nc.shtml">'
        "上证</a></div>"
        f'<div id="artibody">{body}</div>{after}</body></html>'.encode()
    )


def test_stocks_from_spans_links_and_markers_normalised() -> None:
    root = body_page(
        "<p>　　<span id=stock_sh600016><a class=keyword"
        ' href="https://finance.sina.com.cn/realstock/company/sh600016/nc.shtml">'
        "民生银行</a></span>、<span id=usstock_aapl>苹果</span>、"
        "<span id=hkstock_700>腾讯</span>、"
        '<a href="http://stock.finance.sina.com.cn/usstock/quotes/.IXIC.html">纳指</a>'
        '<a href="http://stock.finance.sina.com.cn/hkstock/quotes/03908.html">中金</a>'
        "</p><!-- news_keyword_pub,stock,SZ000001&sh600519 -->"
        "<!-- news_keyword_pub,usstock,BRK.B -->"
        "<!-- news_keyword_pub,overseas_futures,CL -->"
        "<!-- news_keyword_pub,stock, -->",
        # Outside the body: another article's marker (a related-news block).
        after="<!-- news_keyword_pub,stock,sh601988 -->",
    )
    assert extract_page(root, SEED_URL).stocks == [
        "hk00700",
        "hk03908",
        "sh600016",
        "sh600519",
        "sz000001",
        "usAAPL",
        "usBRK.B",
    ]


def test_no_stocks_from_navigation() -> None:
    root = body_page("<p>　　正文</p>")
    assert extract_page(root, SEED_URL).stocks == []


def test_an_index_chart_in_the_body_is_no_stock() -> None:
    chart = (
        '<div class="ct_hqimg"><a href="http://finance.sina.com.cn/realstock/company/'
        '{}/nc.shtml"><img src="//image.sinajs.cn/newchart/{}.png"></a></div>'
    )
    index = body_page(chart.format("sh000001", "sh000001") + "<p>　　大盘</p>")
    assert extract_page(index, SEED_URL).stocks == []
    stock = body_page(chart.format("sz002681", "sz002681") + "<p>　　奋达</p>")
    assert extract_page(stock, SEED_URL).stocks == ["sz002681"]
    marked = body_page("<p>　　<span id=stock_sh000300>沪深300</span></p>")
    assert extract_page(marked, SEED_URL).stocks == ["sh000300"]


@pytest.mark.parametrize(
    ("line", "name", "code"),
    [
        ('<p class="article-editor">责任编辑：张三 SF014</p>', "张三", "SF014"),
        ('<p class="article-editor">责任编辑：zhangjun SF065</p>', "zhangjun", "SF065"),
        ('<p class="show_author">责任编辑：刘德宾 </p>', "刘德宾", ""),
        ("<p>（责任编辑: 李四）</p>", "李四", ""),
        ('<p class="article-editor">责任编辑：</p>', "", ""),
    ],
)
def test_editor_line(line: str, name: str, code: str) -> None:
    got = extract_page(body_page("<p>　　正文</p>" + line), SEED_URL)
    assert (got.editor, got.editor_code) == (name, code)


def test_editor_line_after_the_body() -> None:
    root = body_page(
        "<p>　　正文</p>", after='<p class="article-editor">责任编辑：王五 SN098</p>'
    )
    got = extract_page(root, SEED_URL)
    assert (got.editor, got.editor_code) == ("王五", "SN098")


def test_original_title_only_from_the_body_start() -> None:
    got = extract_page(
        body_page("<p>　　原标题：旧题 <b>甲</b>\n乙</p><p>　　正文</p>"), SEED_URL
    )
    # Normalised as titles are: each run of white space is one space.
    assert got.original_title == "旧题 甲 乙"
    latin = extract_page(body_page("<p>原标题：iPhone 11 发布 苹果</p>"), SEED_URL)
    assert latin.original_title == "iPhone 11 发布 苹果"
    later = "".join(f"<p>　　段{i}</p>" for i in range(8)) + "<p>原标题：太晚</p>"
    assert extract_page(body_page(later), SEED_URL).original_title == ""
