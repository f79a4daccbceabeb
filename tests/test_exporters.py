"""The exporter writes the seed's format byte for byte, with a safe header."""

from __future__ import annotations

import io
import json
import os
import re
import shutil
import subprocess
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any

import frontmatter
import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from newscrawl.archive.fileformat import check_extra_fields
from newscrawl.exporters import (
    FormatError,
    FrontMatterItemExporter,
    format_article,
    header_value,
    quote_title,
    read_article,
)
from tests.conftest import POSTS, SEED, assert_golden, split_document

CATEGORIES = ("金融", "新浪财经", "新浪财经－国內")
IMAGE = "https://n.sinaimg.cn/finance/cece9e13/20200514/343233024.png"


def export(item: dict[str, Any]) -> bytes:
    buffer = io.BytesIO()
    exporter = FrontMatterItemExporter(buffer)
    exporter.start_exporting()
    exporter.export_item(item)
    exporter.finish_exporting()
    assert not buffer.closed  # the stream is the caller's
    return buffer.getvalue()


@pytest.mark.parametrize("path", [SEED, *POSTS], ids=lambda p: Path(p).name)
def test_real_documents_are_written_back_byte_for_byte(path: Path) -> None:
    original = path.read_bytes()
    text = original.decode("utf-8")
    metadata: dict[str, Any] = frontmatter.loads(text).metadata
    _, body = split_document(text)
    item = {
        "title": metadata["title"],
        "categories": tuple(metadata["categories"]),
        "image": metadata["headimg"],
        "default_image": IMAGE,
        "author": metadata["author"],
        "published": parsedate_to_datetime(metadata["date"]),
        "body": body,
    }
    written = export(item)
    assert_golden(written.decode("utf-8"), text, path.name)
    assert written == original


def article(title: str, body: str = "<p>　　正文</p>") -> str:
    return format_article(
        title=title,
        categories=CATEGORIES,
        image=IMAGE,
        author="新浪财经",
        published=datetime(2021, 4, 20, 11, 51, 38, tzinfo=UTC),
        body=body,
    )


def test_braces_are_entities_everywhere() -> None:
    text = article("{{ x }} {% y %}", "<p>{{ config }} {%raw%}</p>")
    assert "{" not in text and "}" not in text
    post = frontmatter.loads(text)
    assert post.metadata["title"] == "&#123;&#123; x &#125;&#125; &#123;% y %&#125;"
    assert "<p>&#123;&#123; config &#125;&#125; &#123;%raw%&#125;</p>" in post.content


@pytest.mark.parametrize(
    ("title", "quoted"),
    [
        ("工信部：将开展", "'工信部：将开展'"),
        ("it's", '"it\'s"'),
        ('it\'s "x"', "'it''s \"x\"'"),
        ("it's a\\b", "'it''s a\\b'"),
    ],
)
def test_title_quoting_follows_the_source_generator(title: str, quoted: str) -> None:
    assert quote_title(title) == quoted


@pytest.mark.parametrize(
    "title",
    [
        "2015-10-11",
        "true",
        "null",
        "- x",
        "a: b",
        "#x",
        "---",
        "'quoted'",
        '"double"',
        "back\\slash",
        "1e3",
        "0x1F",
        "~",
        "@at",
        "`tick`",
        "& anchor",
        "* alias",
        "! tag",
        "%percent",
        "| block",
        "> folded",
        "它说：'好'",
    ],
)
def test_tricky_titles_read_back_exactly(title: str) -> None:
    assert frontmatter.loads(article(title)).metadata["title"] == title


def test_categories_that_yaml_would_misread_are_quoted() -> None:
    text = format_article(
        title="t",
        categories=("true", "2020-01-01", "a: b"),
        image=IMAGE,
        author="null",
        published=datetime(2021, 4, 20, tzinfo=UTC),
        body="<p>x</p>",
    )
    metadata = frontmatter.loads(text).metadata
    assert metadata["categories"] == ["true", "2020-01-01", "a: b"]
    assert metadata["author"] == "null"


# Titles reach the exporter normalised (no line breaks or controls), but the
# exporter must stay safe whatever it is given.
@settings(max_examples=300, deadline=None)
@given(st.text(min_size=1, max_size=80))
def test_any_title_gives_a_valid_header_that_reads_back(title: str) -> None:
    text = article(title)
    header = text.split("\n---\n")[1]
    metadata = yaml.safe_load(header)
    assert list(metadata) == [
        "title",
        "categories",
        "headimg",
        "author",
        "comments",
        "date",
        "thumbnail",
    ]
    assert metadata["categories"] == list(CATEGORIES)
    assert metadata["date"] == "Tue, 20 Apr 2021 11:51:38 GMT"
    assert metadata["headimg"] == metadata["thumbnail"] == IMAGE
    assert metadata["comments"] is False
    assert frontmatter.loads(text).metadata == metadata
    printable = all(c.isprintable() or c == " " for c in title)
    if printable and "{" not in title and "}" not in title:
        assert metadata["title"] == title


# Pieces of what breaks YAML, front matter and template engines.
TITLE_PIECES = [
    '"', "'", ": ", "#", "- ", "---", "\n", "\t", "\x00", "\x1b", "\x85", "\u2028",
    "\ufeff", "{{ x }}", "{% y %}", "\\", "\\n", "2015-10-11", "true", "null", "1e3",
    "~", "| ", "> ", "&", "*", "!", "%", "@", "`", " ", "标题",
]  # fmt: skip


# What the archive writes is what a reader gets back: for any title, the header's
# title reads back as exactly the value written (header_value: one line, YAML
# printable, braces as references), and nothing else in the header moves.
@settings(max_examples=500, deadline=None)
@given(
    st.one_of(
        st.text(max_size=80),
        st.lists(st.sampled_from(TITLE_PIECES), min_size=1, max_size=10).map("".join),
    )
)
def test_any_title_reads_back_exactly_as_written(title: str) -> None:
    text = article(title)
    metadata = frontmatter.loads(text).metadata
    assert metadata["title"] == header_value(title)
    assert {k: v for k, v in metadata.items() if k != "title"} == {
        "categories": list(CATEGORIES),
        "headimg": IMAGE,
        "author": "新浪财经",
        "comments": False,
        "date": "Tue, 20 Apr 2021 11:51:38 GMT",
        "thumbnail": IMAGE,
    }


@pytest.mark.parametrize(
    ("title", "written"),
    [
        ("第一行\n第二行", "第一行 第二行"),
        ("制表\t符", "制表\t符"),
        ("控制\x00字\x1b符", "控制字符"),
        ("{{ site.title }}", "&#123;&#123; site.title &#125;&#125;"),
        ("{% include x %}", "&#123;% include x %&#125;"),
        ("---\n- a: b", "--- - a: b"),
        ("#标签 \\反斜杠 '单' \"双\"", "#标签 \\反斜杠 '单' \"双\""),
    ],
)
def test_titles_the_header_cannot_carry_as_they_are(title: str, written: str) -> None:
    assert header_value(title) == written
    assert frontmatter.loads(article(title)).metadata["title"] == written


# --- ARCHIVE_EXTRA_FIELDS: optional header keys after thumbnail ---------------------

HOSTILE_KEYWORDS = [
    "a: b",
    "- item",
    "-",
    "---",
    "...",
    "!tag",
    "!!python/object:os.system",
    "&anchor",
    "*alias",
    "'single'",
    '"double"',
    "it's",
    "#comment",
    "a #b",
    "[x, y]",
    "{x}",
    "{{ site.title }}",
    "line\nbreak",
    "tab\there",
    "yes",
    "no",
    "null",
    "~",
    "0o17",
    "1_000",
    "2015-10-11",
    "1e3",
    "? key",
    "| block",
    "> fold",
    "@at",
    "`tick`",
    "%percent",
    " padded ",
    "\\backslash\\",
    "标签" * 600,
]


def extra_item(**values: Any) -> dict[str, Any]:
    return {
        "title": "工信部：将开展专项整治行动",
        "categories": CATEGORIES,
        "image": IMAGE,
        "default_image": IMAGE,
        "author": "新浪财经",
        "published": datetime(2021, 4, 20, 11, 51, 38, tzinfo=UTC),
        "body": "<p>　　正文</p>",
        "keywords": [],
        "outlet": "澎湃新闻",
        "url": "https://finance.sina.com.cn/china/gncj/2021-04-20/doc-ikmvwzxq0000001.shtml",
        **values,
    }


def export_with(item: dict[str, Any], extra: tuple[str, ...]) -> bytes:
    buffer = io.BytesIO()
    FrontMatterItemExporter(buffer, extra_fields=extra).export_item(item)
    return buffer.getvalue()


def test_no_extra_fields_is_the_seed_format_byte_for_byte() -> None:
    item = extra_item(keywords=["工信部", "互联网"])
    assert export_with(item, ()) == export(item)
    assert b"tags" not in export(item)


def test_tags_are_a_yaml_list_after_thumbnail() -> None:
    text = export_with(extra_item(keywords=["工信部", "互联网"]), ("tags",)).decode()
    assert "thumbnail: '" + IMAGE + "'\ntags:\n - '工信部'\n - '互联网'\n---\n" in text
    assert frontmatter.loads(text).metadata["tags"] == ["工信部", "互联网"]
    empty = export_with(extra_item(keywords=[]), ("tags",)).decode()
    assert "\ntags: []\n---\n" in empty
    assert frontmatter.loads(empty).metadata["tags"] == []


def test_extra_fields_come_in_the_settings_order() -> None:
    item = extra_item(keywords=["甲"])
    text = export_with(item, ("source", "tags", "original_url")).decode()
    header, _ = read_article(text.encode())
    assert list(header)[7:] == ["source", "tags", "original_url"]
    assert header["source"] == "澎湃新闻"
    assert header["original_url"] == item["url"]
    assert header["tags"] == ["甲"]


def test_hostile_keywords_read_back_as_written() -> None:
    text = export_with(extra_item(keywords=HOSTILE_KEYWORDS), ("tags",)).decode()
    tags = frontmatter.loads(text).metadata["tags"]
    # One line each, braces as references (Nunjucks), else exactly the keyword.
    assert tags == [header_value(k) for k in HOSTILE_KEYWORDS]
    assert tags[HOSTILE_KEYWORDS.index("0o17")] == "0o17"
    assert tags[HOSTILE_KEYWORDS.index("line\nbreak")] == "line break"
    assert tags[HOSTILE_KEYWORDS.index("{{ site.title }}")] == (
        "&#123;&#123; site.title &#125;&#125;"
    )
    assert "{" not in text and "}" not in text
    # `verify` and `reindex` read it.
    header, body = read_article(text.encode())
    assert header["tags"] == tags and body == "<p>　　正文</p>"


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.one_of(
            st.text(min_size=1, max_size=40),
            st.lists(st.sampled_from(TITLE_PIECES), min_size=1, max_size=6).map(
                "".join
            ),
        ),
        max_size=6,
    )
)
def test_any_keywords_read_back_as_header_values(keywords: list[str]) -> None:
    text = export_with(extra_item(keywords=keywords), ("tags",)).decode()
    header, _ = read_article(text.encode())
    assert header["tags"] == [header_value(k) for k in keywords]
    assert list(header)[:7] == [
        "title",
        "categories",
        "headimg",
        "author",
        "comments",
        "date",
        "thumbnail",
    ]


@pytest.mark.parametrize(
    ("names", "error"),
    [
        (["tags", "colour"], "unknown field(s) colour"),
        (["tags", "tags"], "a field twice"),
    ],
)
def test_bad_extra_fields_are_refused(names: list[str], error: str) -> None:
    with pytest.raises(ValueError, match=re.escape(error)):
        check_extra_fields(names)
    assert check_extra_fields([" tags ", "", "source"]) == ("tags", "source")


def test_unknown_header_keys_are_not_the_archive_format() -> None:
    text = export_with(extra_item(keywords=["甲"]), ("tags",)).decode()
    with pytest.raises(FormatError, match="header keys"):
        read_article(text.replace("\ntags:", "\ncolour:").encode())


def js_yaml() -> str | None:
    """Where node finds js-yaml (Hexo's YAML reader), if it does: NODE_PATH or
    NEWSCRAWL_JS_YAML (a node_modules folder)."""
    node = shutil.which("node")
    if node is None:
        return None
    folder = os.environ.get("NEWSCRAWL_JS_YAML", "")
    env = {**os.environ, "NODE_PATH": folder or os.environ.get("NODE_PATH", "")}
    found = subprocess.run(
        [node, "-e", "console.log(require.resolve('js-yaml'))"],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    return env["NODE_PATH"] if found.returncode == 0 else None


def test_hexo_reads_the_extra_fields_as_python_does() -> None:
    node_path = js_yaml()
    if node_path is None:
        pytest.skip("node with js-yaml (NEWSCRAWL_JS_YAML=<node_modules>) not found")
    text = export_with(
        extra_item(keywords=HOSTILE_KEYWORDS), ("tags", "source", "original_url")
    ).decode()
    header = text.split("\n---\n")[1]
    script = (
        "const yaml = require('js-yaml');"
        "const fs = require('fs');"
        "const data = yaml.load(fs.readFileSync(0, 'utf8'));"
        "process.stdout.write(JSON.stringify(data));"
    )
    run = subprocess.run(
        ["node", "-e", script],
        input=header,
        capture_output=True,
        text=True,
        env={**os.environ, "NODE_PATH": node_path},
        check=True,
    )
    hexo = json.loads(run.stdout)
    python = yaml.safe_load(header)
    for key in ("title", "categories", "tags", "source", "original_url"):
        assert hexo[key] == python[key], key
