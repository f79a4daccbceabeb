"""Doc ids from URLs and feed items; which URLs are articles."""

from __future__ import annotations

import pytest

from newscrawl.sina.ids import (
    doc_id_from_feed,
    doc_id_from_url,
    host_allowed,
    is_article_url,
)

SINA = frozenset({".sina.com.cn"})


@pytest.mark.parametrize(
    ("url", "doc_id"),
    [
        (
            "https://finance.sina.com.cn/roll/2018-12-28/doc-ihqfskcn2160999.shtml",
            "ihqfskcn2160999",
        ),
        (
            "https://finance.sina.com.cn/zl/china/2021-04-20/zl-ikmvwzxq0000001.shtml",
            "ikmvwzxq0000001",
        ),
        ("http://ent.sina.com.cn/y/2009-11-09/13482762951.shtml", "13482762951"),
        # 2005 house pages end in .html.
        ("http://bj.house.sina.com.cn/p/2005-03-31/031868306.html", "031868306"),
        ("http://chanye.finance.sina.com.cn/sm/2005-03-21/244339.shtml", "244339"),
        (
            "http://finance.sina.com.cn/stock/s/20110822/145810356592.shtml",
            "145810356592",
        ),
        # Mobile pages: the desktop page's doc id.
        (
            "https://finance.sina.cn/2018-12-28/detail-ihqfskcn2160999.d.html",
            "ihqfskcn2160999",
        ),
        (
            "https://finance.sina.cn/sa/2005-08-26/detail-ikknscsi2623250.d.html",
            "ikknscsi2623250",
        ),
        ("https://finance.sina.cn/2018-12-28/detail-ihqfskcn2160999.html", None),
        ("https://finance.sina.com.cn/china/", None),
        ("https://finance.sina.com.cn/roll/2018-12-28/doc-i..%2F..shtml", None),
        ("https://finance.sina.com.cn/roll/2018-12-28/doc-IUPPER.shtml", None),
    ],
)
def test_doc_id_from_url(url: str, doc_id: str | None) -> None:
    assert doc_id_from_url(url) == doc_id


@pytest.mark.parametrize(
    ("docid", "doc_id"),
    [
        ("comos:hqfskcn2160999", "ihqfskcn2160999"),
        ("comos:../../etc", None),
        ("comos:a/b", None),
        ("comos:ab\x00cdefg", None),
        ("comos:" + "a" * 300, None),
        ("hqfskcn2160999", None),
    ],
)
def test_doc_id_from_feed(docid: str, doc_id: str | None) -> None:
    assert doc_id_from_feed(docid) == doc_id


def test_hosts() -> None:
    assert host_allowed("finance.sina.com.cn", SINA)
    assert host_allowed("news.sina.com.cn.", SINA)
    assert not host_allowed("sina.com.cn.evil.com", SINA)
    assert not host_allowed("evilsina.com.cn", SINA)
    assert host_allowed("127.0.0.1", frozenset({"127.0.0.1"}))
    assert not is_article_url("javascript:alert(1)", SINA)
    assert not is_article_url(
        "ftp://finance.sina.com.cn/a/2020-01-01/doc-iabcdefg1.shtml", SINA
    )
    assert is_article_url(
        "https://finance.sina.com.cn/a/2020-01-01/doc-iabcdefg1.shtml", SINA
    )


@pytest.mark.parametrize(
    "url",
    [
        "http://[finance.sina.com.cn/roll/2021-04-20/doc-iabcdefg1.shtml",
        "http://finance.sina.com.cn]/roll/2021-04-20/doc-iabcdefg1.shtml",
        "http://[::1/roll/2021-04-20/doc-iabcdefg1.shtml",
    ],
)
def test_malformed_urls_are_not_articles_and_do_not_raise(url: str) -> None:
    assert not is_article_url(url, SINA)
    doc_id_from_url(url)  # None or an id: never an exception
