"""Which encoding a page is read in: what it declares, checked against its bytes."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from newscrawl.sina.encoding import Decoding, choose_encoding, replacement_ratio

TEXT = "<p>工信部：将开展互联网行业不正当竞争专项整治行动。</p>"
GBK_ONLY = "<p>朱镕基与堃，GBK 才有的字。</p>"


def meta(charset: str) -> str:
    return f'<meta http-equiv="Content-Type" content="text/html; charset={charset}">'


@pytest.mark.parametrize(
    ("body", "content_type", "expected"),
    [
        # Declared and right.
        (TEXT.encode("utf-8"), "text/html; charset=utf-8", ("utf-8", "declared", 0)),
        (
            TEXT.encode("gb2312"),
            "text/html; charset=gb2312",
            ("gb18030", "declared", 0),
        ),
        (GBK_ONLY.encode("gbk"), "text/html; charset=GBK", ("gb18030", "declared", 0)),
        (
            "𠮷野家".encode("gb18030"),
            "text/html; charset=gb18030",
            ("gb18030", "declared", 0),
        ),
        ((meta("gbk") + TEXT).encode("gbk"), "text/html", ("gb18030", "declared", 0)),
        # Declared and wrong: the bytes win.
        (TEXT.encode("utf-8"), "text/html; charset=gb2312", ("utf-8", "utf-8", 0)),
        ((meta("gb2312") + TEXT).encode("utf-8"), "text/html", ("utf-8", "utf-8", 0)),
        (TEXT.encode("gbk"), "text/html; charset=utf-8", ("gb18030", "gb18030", 0)),
        (TEXT.encode("utf-8"), "text/html; charset=iso-8859-1", ("utf-8", "utf-8", 0)),
        # Undeclared, or declared as nothing known.
        (TEXT.encode("utf-8"), "text/html", ("utf-8", "utf-8", 0)),
        (TEXT.encode("gbk"), "", ("gb18030", "gb18030", 0)),
        (
            TEXT.encode("gbk"),
            "text/html; charset=no-such-thing",
            ("gb18030", "gb18030", 0),
        ),
        (b"<p>ascii only</p>", "", ("utf-8", "utf-8", 0)),
        (b"<p>ascii only</p>", "text/html; charset=gbk", ("gb18030", "declared", 0)),
        # A byte order mark beats the header.
        (
            b"\xef\xbb\xbf" + TEXT.encode(),
            "text/html; charset=gbk",
            ("utf-8", "bom", 0),
        ),
        (b"\xff\xfe" + TEXT.encode("utf-16-le"), "text/html", ("utf-16-le", "bom", 0)),
        # Damaged whatever the encoding: fewest U+FFFD, the declared one on a tie.
        (b"<p>\xff\x80\xff\x80</p>", "text/html; charset=utf-8", ("utf-8", "least", 4)),
        (b"<p>\xff\x80\xff\x80</p>", "", ("utf-8", "least", 4)),
        (
            TEXT.encode("utf-8").replace("部".encode(), b"\xff"),
            "text/html; charset=utf-8",
            ("utf-8", "least", 1),
        ),
    ],
)
def test_choice(body: bytes, content_type: str, expected: tuple[str, str, int]) -> None:
    decoding = choose_encoding(body, content_type)
    assert (decoding.encoding, decoding.reason, decoding.replacements) == expected
    if not decoding.replacements:
        text = body.decode(decoding.encoding)
        assert "工信部" in text or "镕" in text or "𠮷" in text or "ascii" in text


def test_what_the_page_declared_is_kept_for_messages() -> None:
    decoding = choose_encoding(TEXT.encode(), "text/html; charset=GB2312")
    assert decoding == Decoding("utf-8", "gb18030", 0, "utf-8", "gb2312")
    assert decoding.overrides_declaration
    assert not choose_encoding(TEXT.encode(), "text/html").overrides_declaration
    assert not choose_encoding(TEXT.encode("gbk"), "").overrides_declaration


def test_a_real_replacement_character_is_not_damage() -> None:
    body = "<p>原文就有 \ufffd 这个字符</p>".encode()
    assert choose_encoding(body, "text/html; charset=utf-8").replacements == 0


@settings(max_examples=200, deadline=None)
@given(
    st.text(min_size=1).filter(lambda t: not t.isascii()),
    st.sampled_from(["", "utf-8", "gb2312", "gbk", "gb18030", "big5", "latin-1"]),
)
def test_utf8_text_is_read_as_utf8_whatever_the_declaration(
    text: str, charset: str
) -> None:
    body = text.encode("utf-8")  # st.text() makes no lone surrogates
    content_type = f"text/html; charset={charset}" if charset else "text/html"
    decoding = choose_encoding(body, content_type)
    assert decoding.encoding == "utf-8"
    assert body.decode(decoding.encoding) == text


@settings(max_examples=200, deadline=None)
@given(
    st.text(
        alphabet=st.sampled_from(list("工信部开展专项整治行动，。国家统计局")),
        min_size=8,
    )
)
def test_gbk_text_is_read_right_when_mislabelled_or_unlabelled(text: str) -> None:
    body = text.encode("gbk")
    for content_type in ("text/html; charset=utf-8", "text/html", ""):
        decoding = choose_encoding(body, content_type)
        assert body.decode(decoding.encoding) == text


@pytest.mark.parametrize(
    ("text", "ratio"),
    [("", 0.0), ("   ", 0.0), ("正文", 0.0), ("\ufffd正", 0.5), ("\ufffd \ufffd", 1.0)],
)
def test_replacement_ratio_counts_visible_characters(text: str, ratio: float) -> None:
    assert replacement_ratio(text) == ratio
