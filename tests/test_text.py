"""The plain text of a cleaned body and its length (newscrawl/text.py)."""

from __future__ import annotations

from newscrawl.text import plain_text, text_length


def test_paragraphs_one_per_line_without_their_indent() -> None:
    body = (
        "<p>　　新京报快讯（记者 裴剑飞）</p>\n"
        "<p>　　今晚，<strong>铁路</strong> &#123;x&#125;&amp;</p>\n"
        "<p>　　</p>\n"
        "<h2>小标题</h2>\n"
        "<ul><li>甲</li><li> 乙 </li></ul>\n"
        "<table><tr><td>a</td><td>b</td></tr></table>\n"
        "<p>一<br>　　二</p>\n"
        '<p><img src="https://n.sinaimg.cn/x.jpg"></p>'
    )
    assert plain_text(body) == (
        "新京报快讯（记者 裴剑飞）\n今晚，铁路 {x}&\n小标题\n甲\n乙\na b\n一\n二"
    )


def test_length_counts_what_is_not_whitespace() -> None:
    assert text_length("新京报 快讯\n今晚，\u3000x") == 9
    assert text_length(plain_text("")) == 0
    assert plain_text("   ") == ""
