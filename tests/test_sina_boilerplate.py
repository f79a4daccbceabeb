"""Sina's boilerplate rules, each on the markup of the real pages it was read off.

The snippets are cut from pages of the corpus (tests/fixtures/corpus/, and the
2018 pages of issue 10); the article's own text around them must stay whole.
"""

from __future__ import annotations

import pytest

from newscrawl.cleaning import clean_body
from newscrawl.sina.boilerplate import SINA_RULES

BASE = "https://finance.sina.com.cn/stock/s/2018-04-11/doc-ifyzeyqa3869238.shtml"
BEFORE = "<p>　　正文第一段。</p>"
AFTER = "<p>　　正文最后一段。</p>"


@pytest.mark.parametrize(
    ("snippet", "kind"),
    [
        (
            "<!-- 总声明-->\n<font style='font-family:楷体_GB2312'"
            " class='otherContent_01'>"
            "新浪声明：此消息系转载自新浪合作媒体，新浪网登载此文出于传递更多信息之目的，"
            "并不意味着赞同其观点或证实其描述。</font>",
            "disclaimer",
        ),
        (
            "<p>　　新浪声明：新浪网登载此文出于传递更多信息之目的，"
            "并不意味着赞同其观点"
            "或证实其描述。文章内容仅供参考，不构成投资建议。投资者据此操作，风险自担。</p>",
            "disclaimer",
        ),
        (
            '<blockquote class="fin_reference">\n'
            "<p><strong>【推荐阅读】：</strong></p>\n"
            '<p><a href="http://finance.sina.com.cn/7x24/2018-04-11/'
            'doc-ifyuwqez8493127.shtml" target="_blank">特朗普：非常感谢</a></p>'
            "</blockquote>",
            "related",
        ),
        (
            '<div class="video-2017" id="videoList0"><div class="play-video-area">'
            '<a href="javascript:;"><img src="//n.sinaimg.cn/news/crawl/200/w640h360/'
            '20191023/00f3-ihfpfwa8298764.jpg"></a></div><div class="video-info">'
            '<a href="http://video.sina.com.cn/p/news/2019-10-23/'
            'detail-iicezzrr4251736.d.html">视频-陈同佳出狱 鞠躬说“对不起”</a>'
            "</div></div>",
            "video",
        ),
        (
            '<div class="artical-player-wrap" style="display:block;">'
            '<div class="a-p-info"><label class="fl">'
            '<input type="checkbox" checked id="J_Video_Autoplay">自动播放</label>'
            '<span id="J_Video_Source">苹果发布新iPhone 11：配6种颜色</span>'
            "</div></div>",
            "video",
        ),
        (
            '<div class="wap_special"><div class="tlt">点击进入专题：</div>'
            '<a href="http://news.sina.cn/zt_d/hongkong0802">聚焦香港局势</a></div>',
            "related",
        ),
        (
            '<!--股吧推广--><div data-sudaclick="suda_1028_guba"><p>进入'
            '<a href="http://guba.sina.com.cn">【新浪财经股吧】</a>讨论</p></div>',
            "stock_forum",
        ),
        (
            '<div class="img_wrapper"><img src="http://n.sinaimg.cn/finance/transform/'
            '29/w550h279/20180411/z8DZ-fyzeyqa3866980.png" alt="">'
            '<span class="img_descr"></span></div>\n'
            "<p>　　<span>若中小投资者遇到此类公司或有维权需要，"
            "可以加入新浪上市公司维权微信群"
            "和我们进行沟通。新浪财经将会第一时间进行关注并力争及时反馈。</span></p>\n"
            '<div class="img_wrapper"><img src="http://n.sinaimg.cn/finance/transform/'
            '796/w342h454/20180411/3Egn-fyzeyqa3867936.png" alt="">'
            '<span class="img_descr"></span></div>',
            "promo",
        ),
        (
            '<div class="weiboListBox otherContent_01" id="blk_weiboBox_01"'
            ' style="display:none"><ol class="weibo-list" id="weiboList01"></ol></div>',
            "hidden",
        ),
        (
            '<div class="ct_hqimg"><div class="hqimg_wrapper"><a href="#">'
            '<img src="http://image.sinajs.cn/newchart/min/n/sh600016.gif"></a></div></div>',
            "ad",
        ),
        (
            '<p><img src="http://image.sinajs.cn/newchart/daily/n/sh000001.gif"></p>',
            "chart",
        ),
        ("<p>我要评论</p><p>12条评论</p>", "comments"),
        ("<p>视频加载中，请稍候...</p><p>自动播放</p>", "video"),
        ('<div id="wx_pic"><img src="//n.sinaimg.cn/share.jpg"></div>', "share_image"),
    ],
)
def test_boilerplate_goes_and_the_article_stays(snippet: str, kind: str) -> None:
    result = clean_body(BEFORE + snippet + AFTER, BASE, SINA_RULES)
    assert result.html == BEFORE + "\n" + AFTER
    assert result.removed.get(kind), dict(result.removed)
    assert result.image is None


def test_the_stock_forum_link_of_reprints_goes_from_inside_the_text() -> None:
    # http://finance.sina.com.cn/stock/s/2018-04-12/doc-ifyuwqez9586539.shtml
    html = (
        "<p>　　股份制银行<span id=stock_sh600036><a href=http://finance.sina.com.cn/"
        'realstock/company/sh600036/nc.shtml class="keyword">招商银行</a></span>'
        "<span id=quote_sh600036></span>（600036，股吧）营业收入位列第五。</p>"
    )
    result = clean_body(html, BASE, SINA_RULES)
    assert result.html == "<p>　　股份制银行招商银行（600036）营业收入位列第五。</p>"


@pytest.mark.parametrize(
    "paragraph",
    [
        # Real sentences that share words with widgets: never cut.
        "<p>　　随后，善林金融旗下的P2P平台善林财富的官网和APP均异常无法打开。</p>",
        "<p>　　值得关注的是，瓜子在2017年上半年悄悄将交易服务费从3%提高到4%。</p>",
        "<p>　　多家车企把视频自动播放功能做进了中控屏，引发了不少讨论。</p>",
        "<p>　　投资者可在股吧里交流，但股吧的信息真假难辨。</p>",
        "<p>　　相关阅读材料显示，该公司去年营收增长了三成。</p>",
        "<p><strong>关联交易引关注</strong></p>",
    ],
)
def test_real_text_that_looks_like_a_widget_stays(paragraph: str) -> None:
    assert clean_body(paragraph, BASE, SINA_RULES).html == paragraph


def test_the_summary_in_a_reference_blockquote_is_content() -> None:
    # The 2018 template's blockquote.fin_reference holds recommendation lists and
    # the article's own 内容摘要
    # (http://finance.sina.com.cn/money/bank/hykx/2018-04-11/doc-ifyteqtq7812256.shtml).
    html = (
        '<blockquote class="fin_reference">\n<p>　　<span style="font-family: KaiTi_GB'
        '2312, KaiTi;"><strong>内容摘要：</strong></span></p>\n<p><span>　　10日晚，'
        "记者来到善林金融位于上海浦东新区的办公场所。</span></p>\n</blockquote>"
    )
    assert clean_body(html, BASE, SINA_RULES).html == (
        "<blockquote>\n<p>　　<strong>内容摘要：</strong></p>\n"
        "<p>　　10日晚，记者来到善林金融位于上海浦东新区的办公场所。</p>\n</blockquote>"
    )


def test_a_series_list_goes_with_its_heading() -> None:
    html = (
        '<blockquote class="fin_reference">\n<p>　　<a href="http://finance.sina.com.cn/'
        'zt_d/xyk2018/">《信用卡赛点》</a><strong>系列报道：</strong></p>\n'
        '<p>　　<a href="http://finance.sina.com.cn/money/bank/focus/2018-04-10/'
        'doc-ifyvtmxe8095317.shtml">不再守着“一亩三分地”！</a></p>\n</blockquote>'
    )
    result = clean_body(BEFORE + html + AFTER, BASE, SINA_RULES)
    assert result.html == BEFORE + "\n" + AFTER


def test_the_2010_flash_player_and_video_promo_go() -> None:
    # http://news.sina.com.cn/w/2010-05-20/230720314487.shtml: the player inside a
    # sentence, between its template comments; the promo (thumbnail, 播放视频)
    # after the article.
    html = (
        "<P>　　把宵禁期限<!-- 播放器 begin -->\n<!-- flash player begin -->\n"
        '<STYLE type="text/css">.contentPlayer{float:left;}</STYLE>\n'
        '<SPAN class="contentPlayer"><SPAN class="cp_player" id="p_player">'
        '<EMBED src="http://p.you.video.sina.com.cn/swf/BokerPlayerV3_1_1_100401.swf">'
        '</SPAN><SPAN class="cp_tit"><A href="http://video.sina.com.cn/news/w/v/'
        '2010-05-20/201760744.shtml">视频：泰国延长曼谷宵禁三天 红衫军陆续返乡</A>'
        '</SPAN><SPAN class="cp_from">来源：东方卫视转《新闻联播》</SPAN></SPAN>\n'
        '<SCRIPT type="text/javascript">SinaBokePlayer_o.showFlashPlayer();</SCRIPT>\n'
        "<!-- flash player end -->\n<!-- 播放器 end -->\n\n延长到22日。</P>"
        '<!-- 2009-08-04 zhaokai begin -->\n<BR>\n<DIV class="blk-video">'
        '<DIV class="blk-video-l"><A href="http://video.sina.com.cn/news/w/v/'
        '2010-05-20/201760744.shtml"><IMG src="http://i1.sinaimg.cn/dy/news/w/v/'
        '2010-05-20/U3458P1T334D60744F9098DT20100520201838.jpg" width="94" '
        'height="71"></A></DIV><DIV class="blk-video-r"><DIV class="blk-v-tit">'
        "<A href=#>泰国延长曼谷宵禁三天 红衫军陆续返乡</A></DIV>"
        '<DIV class="blk-v-from">来源：东方卫视转《新闻联播》</DIV>'
        '<A href=# class="blk-v-play">播放视频</A></DIV></DIV>\n'
        '<DIV class="clearcl"></DIV>\n<!-- 2009-08-04 zhaokai end -->'
    )
    result = clean_body(BEFORE + html + AFTER, BASE, SINA_RULES)
    assert result.html == BEFORE + "\n<p>　　把宵禁期限延长到22日。</p>\n" + AFTER
    assert result.removed.get("video") == 2, dict(result.removed)
    assert result.image is None


def test_the_2005_picture_in_picture_ad_goes_and_the_sentence_is_whole() -> None:
    # http://chanye.finance.sina.com.cn/sm/2005-03-21/244339.shtml: the page's
    # parser closed the paragraph at the ad's table, as in the body handed over.
    html = (
        "<p>　　医生孙启勤意外地获得了5<!--NEWSZW_HZH_BEGIN--></p><table align=left>"
        '<tr><td><a href="http://chanye.finance.sina.com.cn/focus/cfj/index.shtml">'
        '<img src="http://image2.sina.com.cn/chye/temp/U435P111T7D471F130DT2004032919'
        '1644.jpg" height="300" width="400"></a></td></tr></table>'
        "<!--NEWSZW_HZH_END-->00万元的体彩大奖。\n\n"
    )
    result = clean_body(BEFORE + html + AFTER, BASE, SINA_RULES)
    assert result.html == (
        BEFORE + "\n<p>　　医生孙启勤意外地获得了500万元的体彩大奖。\n</p>\n" + AFTER
    )
    assert result.removed.get("ad") == 1, dict(result.removed)
    assert result.image is None


def test_a_wechat_reposts_banner_and_footer_go() -> None:
    # http://news.sina.com.cn/o/2017-07-27/doc-ifyinwmp0119643.shtml
    html = (
        '<p><img style="max-width:500px" src="http://n.sinaimg.cn/translate/20170722/'
        'bkrC-fyiiahy5949571.gif" img-size="900,270"></p>\n'
        "<p>遗憾！孙杨800自仅获第五。</p>\n<p><br></p>\n"
        "<p>来源：新浪体育、凤凰体育</p>\n<p><br></p><br>\n<p>本期精彩回顾</p>\n"
        "<p><br></p>\n<p>呵呵，想和中国人PK数学，再回去学个100年吧！<br></p>\n"
        "<p><br></p>\n<p>孙杨又赢了！霍顿这回连仰视的机会都没有</p>\n<p><br></p>\n"
        '<p><br></p><img style="max-width:500px" src="http://n.sinaimg.cn/translate/'
        '20170722/s3MK-fyiiahy5949770.jpg">\n<p>ID：huanqiu-com<br>长按二维码，关注环环'
        '</p><img style="max-width:500px" src="http://n.sinaimg.cn/translate/20170722/'
        'lSAn-fyiiahy5949859.png" img-size="10,158"><img style="max-width:500px" '
        'src="http://n.sinaimg.cn/translate/20170722/1-05-fyiiahy5949895.jpg" '
        'img-size="430,430">【本文来自微信公众号“环球网”】\n\t\n'
    )
    result = clean_body(html, BASE, SINA_RULES)
    assert result.html == (
        "<p>遗憾！孙杨800自仅获第五。</p>\n<p>来源：新浪体育、凤凰体育</p>\n"
        "<p>【本文来自微信公众号“环球网”】</p>"
    )
    assert result.image is None
    assert result.removed.get("banner") == 1
    assert result.removed.get("wechat_footer"), dict(result.removed)


def test_a_heading_of_past_posts_without_a_qr_code_goes_alone() -> None:
    html = (
        "<p>精彩回顾</p><p>　　一个不短的段落，它是文章的正文，不是往期文章的标题。</p>"
    )
    assert clean_body(html, BASE, SINA_RULES).html == html.removeprefix(
        "<p>精彩回顾</p>"
    )
