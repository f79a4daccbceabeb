"""The corpus as a replica site, and how a body is held to its gold."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from replica.corpus import (
    CorpusPage,
    blocks,
    body_problems,
    corpus_site,
    load_corpus,
    rounds,
)
from replica.site import HTML_GB2312, HTML_UTF8

DESKTOP = "https://finance.sina.com.cn/roll/2018-12-28/doc-ihqfskcn2160999.shtml"
MOBILE = "https://finance.sina.cn/2018-12-28/detail-ihqfskcn2160999.d.html"
GOLD = {
    "first": "第一段。",
    "middle": "中间 一段。",
    "last": "（来源：上海证券报）",
    "absent": ["责任编辑：张三", "新浪声明"],
}


def write(folder: Path, name: str, page: bytes, gold: dict[str, object]) -> None:
    (folder / "pages").mkdir(parents=True, exist_ok=True)
    (folder / "gold").mkdir(parents=True, exist_ok=True)
    (folder / "pages" / f"{name}.html").write_bytes(page)
    (folder / "gold" / f"{name}.json").write_text(
        json.dumps(gold, ensure_ascii=False), "utf-8"
    )


def test_pages_with_gold_from_several_folders(tmp_path: Path) -> None:
    write(tmp_path / "a", "one", b"<html>1</html>", {"url": DESKTOP})
    write(tmp_path / "b", "two", b"<html>2</html>", {"url": MOBILE})
    write(tmp_path / "b", "one", b"<html>again</html>", {"url": DESKTOP})
    (tmp_path / "b" / "gold" / "no-page.json").write_text("{}", "utf-8")
    pages = load_corpus([tmp_path / "a", tmp_path / "b"])
    assert [(p.name, p.page.read_bytes()) for p in pages] == [
        ("one", b"<html>1</html>"),
        ("two", b"<html>2</html>"),
    ]


def test_twins_are_crawled_apart(tmp_path: Path) -> None:
    pages = [
        CorpusPage("desktop", tmp_path, {"url": DESKTOP}),
        CorpusPage("mobile", tmp_path, {"url": MOBILE}),
        CorpusPage("other", tmp_path, {"url": DESKTOP.replace("ihqf", "iabc")}),
    ]
    assert [[p.name for p in group] for group in rounds(pages)] == [
        ["desktop", "other"],
        ["mobile"],
    ]
    assert pages[1].doc_id == "ihqfskcn2160999"


def test_the_site_serves_each_page_at_its_path(tmp_path: Path) -> None:
    write(
        tmp_path,
        "gb",
        b'<meta charset="gb2312"><p>\xd5\xfd\xce\xc4</p>',
        {"url": DESKTOP},
    )
    other = MOBILE.replace("ihqf", "iabc")  # one site holds no twins: rounds()
    write(tmp_path, "mobile", b"<p>x</p>", {"url": other, "published": None})
    write(tmp_path, "lost", b"<title>404</title>", {"url": None})
    site = corpus_site(load_corpus([tmp_path]))
    gb = site.find("/roll/2018-12-28/doc-ihqfskcn2160999.shtml")
    mobile = site.find("/2018-12-28/detail-iabcskcn2160999.d.html")
    assert gb is not None and gb.content_type == HTML_GB2312
    assert mobile is not None and mobile.content_type == HTML_UTF8
    # The feed gives neither title nor intime: the page's own are archived.
    item = mobile.feed_item("http://127.0.0.1:1")
    assert item["intime"] == "" and item["title"] == ""
    assert item["url"] == "http://127.0.0.1:1/2018-12-28/detail-iabcskcn2160999.d.html"
    # A page saved without its URL gets an article URL of its own.
    assert len([a for a in site if a.path.startswith("/corpus/")]) == 1


def test_blocks_are_lines_and_block_elements_as_a_reader_sees_them() -> None:
    body = (
        "<p>　　第一段。</p>\n<p><img src='x'>图注</p>\n<ul>\n<li>甲&amp;乙</li>\n</ul>"
        "<table><tr><td>格</td></tr></table>"
    )
    assert blocks(body) == ["第一段。", "图注", "甲&乙", "格"]


@pytest.mark.parametrize(
    ("body", "problems"),
    [
        (
            "<p>　　第一段。</p>\n<p>中间\u3000 一段。</p>\n"
            "<p>（来源：上海证券报）</p>",
            [],
        ),
        (
            "<p>第一段。</p>\n<p>中间 一段。</p>\n<p>（来源：上海证券报）</p>\n"
            "<p>责任编辑：张三</p>",
            ["last block", "kept '责任编辑：张三'"],
        ),
        ("<p>第一段。</p>\n<p>（来源：上海证券报）</p>", ["middle block"]),
        ("", ["empty body"]),
    ],
)
def test_a_body_against_its_gold(body: str, problems: list[str]) -> None:
    found = body_problems(GOLD, body)
    assert len(found) == len(problems)
    for problem, expected in zip(found, problems, strict=True):
        assert problem.startswith(expected), found
