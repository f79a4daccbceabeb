"""What Sina puts inside its article containers that is not the article: as data.

Applied by the generic cleaner (``newscrawl/cleaning.py``), which knows no site.
Each rule was read off real pages (the sample URL beside it); a new widget is one
line here. Kinds name the stat ``clean/removed/<kind>`` a removal counts in.
"""

from __future__ import annotations

from newscrawl.cleaning import InlineRule, Rules, TextRule

#: The QR-code promotion appended after every 2020+ finance article, e.g.
#: https://finance.sina.com.cn/china/gncj/2021-04-20/doc-ikmvwzxq0000001.shtml
QR_TEXT = "海量资讯、精准解读，尽在新浪财经APP"

# Blocks that a text rule may look at: Sina's widgets are divs, paragraphs, list
# items and the odd <font> of the 2010s templates.
_BLOCKS = frozenset({"p", "div", "center", "section", "span", "td", "font", "li"})

ELEMENTS: tuple[tuple[str, str], ...] = (
    # The QR block: <div class="clearfix appendQr_wrap">…尽在新浪财经APP…</div>
    ("qr_block", ".appendQr_wrap"),
    # <p class="article-editor">责任编辑：霍琦 </p>; news pages p.show_author.
    ("editor", "p.article-editor"),
    ("editor", "p.show_author"),
    # Live quotes, filled in by script next to stock names:
    # <span id="quote_sh000300"></span>
    ("quote", "span[id^=quote_]"),
    # Account-opening promotions (.app-kaihu-qr and every [class*=kaihu]), the
    # quote chart box (.ct_hqimg, 2018:
    # http://finance.sina.com.cn/stock/newstock/2018-04-12/doc-ifyzeyqa8731091.shtml),
    # ad slots.
    ("ad", "[class*=kaihu]"),
    ("ad", ".ct_hqimg"),
    ("ad", ".tech-quotation"),
    ("ad", "#left_hzh_ad"),
    ("ad", "ins.sinaads"),
    ("ad", "div[id^=ad_]"),
    ("ad", "p[class^=finance_web]"),
    # 2009-2012 pages: the share bar (<div class="blkComment otherContent_01"
    # id="sinashareto"><p><span>分享到:</span><a class="icon_sina" …>) and the
    # 相关报道 list (<div class="corrTxt_01"><h3>&gt; 相关报道：</h3><ul><li><a …>);
    # inside the body when a page lacks its publish_helper_end
    # (http://finance.sina.com.cn/chanjing/cyxw/20120113/023011191698.shtml), after
    # it elsewhere (http://ent.sina.com.cn/y/2009-11-09/13562762964.shtml).
    ("widget", ".blkComment"),
    ("widget", "#sinashareto"),
    ("related", ".corrTxt_01"),
    # The weibo box under 2018 articles, filled by script.
    ("widget", ".weiboListBox"),
    # Video players and their thumbnails, with the video's title as a link:
    # news 2019 <div class="video-2017" id="videoList0">
    # (https://news.sina.com.cn/c/2019-10-23/doc-iicezuev4202091.shtml,
    # https://news.sina.com.cn/c/2019-11-25/doc-iihnzahi3275702.shtml); tech 2019
    # <div class="artical-player-wrap"> with its 自动播放 switch
    # (https://tech.sina.com.cn/t/2019-09-11/doc-iicezzrq4972166.shtml).
    ("video", ".video-2017"),
    ("video", ".artical-player-wrap"),
    # 2009-2011 GB2312 pages: the Flash player set inside a paragraph
    # (<span class="contentPlayer"><span class="cp_player"><embed …></span>
    # <span class="cp_tit"><a …>视频：…</a></span><span class="cp_from">来源：…</span>)
    # and the video promo after the article (<div class="blk-video"><div
    # class="blk-video-l"><a><img …thumbnail…></a></div>…<a class="blk-v-play">播放视频
    # </a></div>) (http://news.sina.com.cn/w/2010-05-20/230720314487.shtml).
    ("video", ".contentPlayer"),
    ("video", ".blk-video"),
    # "点击进入专题：<a>聚焦香港局势</a>" under news articles.
    ("related", ".wap_special"),
    # Mobile pages' hidden share image (SINA.md).
    ("share_image", "#wx_pic"),
)

TEXTS: tuple[TextRule, ...] = (
    TextRule("qr_block", _BLOCKS, equals=(QR_TEXT,)),
    TextRule("editor", frozenset({"p"}), prefixes=("责任编辑：", "责任编辑:")),
    # The 总声明 block: <p><span style="…KaiTi…">免责声明：…</span></p>
    TextRule("disclaimer", frozenset({"p"}), prefixes=("免责声明：", "免责声明:")),
    # The reprint disclaimer, a <font class="otherContent_01"> after 2018 articles
    # (http://finance.sina.com.cn/stock/marketresearch/2018-04-11/doc-ifyzeyqa5656896.shtml)
    # or
    # a paragraph of its own, even mid-article in compilations
    # (http://finance.sina.com.cn/stock/stocktalk/2018-04-11/doc-ifyteqtq8305774.shtml).
    TextRule("disclaimer", _BLOCKS, prefixes=("新浪声明：", "新浪声明:")),
    # The forum promotion under 2012-2016 finance articles:
    # <!--股吧推广--><div data-sudaclick="suda_1028_guba"><p>进入<a …>【新浪财经股吧】
    # </a>讨论</p> (http://finance.sina.com.cn/money/forex/forexroll/2016-05-25/
    # doc-ifxsktkp9337164.shtml)
    TextRule("stock_forum", _BLOCKS, equals=("进入【新浪财经股吧】讨论",)),
    # The shareholder-rights promotion of 2018 finance articles, between its banner
    # and its QR code
    # (http://finance.sina.com.cn/stock/s/2018-04-11/doc-ifyzeyqa3869238.shtml).
    TextRule(
        "promo",
        _BLOCKS,
        prefixes=("若中小投资者遇到此类公司或有维权需要",),
        max_length=80,
        with_adjacent_images=True,
    ),
    # The footer of a WeChat account's post that Sina reposts as is: a heading,
    # the titles of its past posts (plain text: the import drops their links),
    # its banner and its QR code (<p>本期精彩回顾</p>…<img …><p>ID：huanqiu-com
    # <br>长按二维码，关注环环</p><img …>) (http://news.sina.com.cn/o/2017-07-27/
    # doc-ifyinwmp0119643.shtml); 2018 pages put the same footer in an
    # <!--article_adlist[…长按识别二维码…]article_adlist--> comment
    # (http://finance.sina.com.cn/china/gncj/2018-04-11/doc-ifyuwqez8904166.shtml).
    TextRule(
        "wechat_footer",
        _BLOCKS,
        pattern=r"(?:本期|往期|近期)?精彩回顾[:：]?",
        max_length=8,
        through=r"长按(?:识别)?(?:图中)?二维码",
        through_block=40,
        through_blocks=20,
    ),
    # Comment widgets and counts.
    TextRule(
        "comments",
        _BLOCKS | {"a"},
        equals=("我要评论", "欢迎发表评论", "发表评论"),
        pattern=r"(?:\d+\s*条评论|评论\s*\(\d+\)|我要评论\s*\d*)",
        max_length=20,
    ),
    # Player placeholders and their switches.
    TextRule(
        "video",
        _BLOCKS,
        prefixes=("视频加载中",),
        pattern=r".{0,6}自动播放.{0,6}",
        max_length=24,
    ),
    # Related-reading headings, and the links listed under them. 2018 articles put
    # them in a <blockquote class="fin_reference"> (never the class alone: the same
    # blockquote holds the article's 内容摘要, which is content):
    # <p><strong>【推荐阅读】：</strong></p><p><a …>
    # (http://finance.sina.com.cn/china/hgjj/2018-04-12/doc-ifyzeyqa8970101.shtml), or
    # <p><a …>《信用卡赛点》</a><strong>系列报道：</strong></p><p><a …>
    # (http://finance.sina.com.cn/money/bank/focus/2018-04-12/doc-ifyzeyqa8290317.shtml);
    # tech 2019 <p><strong>相关新闻：</strong></p>.
    TextRule(
        "related",
        _BLOCKS | {"h2", "h3", "h4", "strong"},
        pattern=(
            r"[>＞]?\s*[【\[]?(?:相关阅读|推荐阅读|往期推荐|延伸阅读|相关新闻|相关报道"
            r"|热门推荐|《[^》]{1,12}》系列报道)[】\]]?[:：]?"
        ),
        max_length=20,
        with_following_links=True,
    ),
)

INLINE: tuple[InlineRule, ...] = (
    # Reprints keep the stock-forum link of the source's keyword system as text:
    # "招商银行（600036，股吧）" → "招商银行（600036）"
    # (http://finance.sina.com.cn/stock/s/2018-04-12/doc-ifyuwqez9586539.shtml)
    InlineRule("stock_forum", "股吧", r"[，,]\s*股吧(?=\s*[）)])"),
)

COMMENT_RANGES: tuple[tuple[str, str, str], ...] = (
    # Template slots that every 2017-2018 article carries, usually empty:
    # <!-- 视频播放器start --> … <!-- 视频播放器end -->
    ("video", "视频播放器start", "视频播放器end"),
    ("video", "秒拍begin", "秒拍end"),
    ("chart", "行情图begin", "行情图end"),
    ("chart", "hq img begin", "hq img end"),
    ("qr_block", "文末二维码 start", "文末二维码 end"),
)

CUT_RANGES: tuple[tuple[str, str, str], ...] = (
    # 2004-2006 pages set a picture-in-picture ad, a <table align=left> of an image
    # or a Flash movie, inside a sentence of the article: "获得了5<!--NEWSZW_HZH_BEGIN
    # --><table …>…</table><!--NEWSZW_HZH_END-->00万元"
    # (http://chanye.finance.sina.com.cn/sm/2005-03-21/244339.shtml,
    # http://bj.house.sina.com.cn/p/2005-03-31/031868306.html); the pages' own
    # print view cuts the same range (strAdBegin / strAdEnd in doPrint()).
    ("ad", "NEWSZW_HZH_BEGIN", "NEWSZW_HZH_END"),
    # 2009-2011 pages set the Flash player, its styles and scripts inside a
    # sentence: "宵禁期限<!-- 播放器 begin --><!-- flash player begin -->…
    # <!-- 播放器 end -->\n\n延长到22日"
    # (http://news.sina.com.cn/w/2010-05-20/230720314487.shtml).
    ("video", "播放器 begin", "播放器 end"),
)

UNLINKED: tuple[tuple[str, str, str], ...] = (
    # Stock names are linked to their quote page and followed by a live quote:
    # <span id="stock_sh000300"><a class="keyword" href="...">沪深300</a></span>
    ("stock_link", "span[id^=stock_]", "a.keyword"),
    ("stock_link", "span[id^=usstock_]", "a.keyword"),
)

IMAGE_SOURCES: tuple[tuple[str, str], ...] = (
    # Live market charts: http://image.sinajs.cn/newchart/min/n/sh000001.gif
    ("chart", "sinajs.cn/newchart"),
)

#: A WeChat post reposted as is opens with the account's animated banner, a GIF
#: before the first line of text (<p><img src="http://n.sinaimg.cn/translate/
#: 20170722/bkrC-fyiiahy5949571.gif"></p><p>遗憾！孙杨800自仅获第五。</p>,
#: http://news.sina.com.cn/o/2017-07-27/doc-ifyinwmp0119643.shtml). No other page
#: of the corpora keeps a GIF in its body: market charts are GIFs too, and go by
#: IMAGE_SOURCES.
LEADING_IMAGE_PATHS = (("banner", ".gif"),)

#: Old pages space image and caption with a 1x5 transparent GIF:
#: <img src="http://i0.sinaimg.cn/home/c.gif" height="5" width="1">
#: (https://ent.sina.com.cn/y/2009-11-09/13482762951.shtml)
SPACER_PATHS = ("/c.gif",)

#: Every rule above, for ``clean_body``.
SINA_RULES = Rules(
    elements=ELEMENTS,
    texts=TEXTS,
    inline=INLINE,
    comment_ranges=COMMENT_RANGES,
    cut_ranges=CUT_RANGES,
    unlinked=UNLINKED,
    image_sources=IMAGE_SOURCES,
    leading_image_paths=LEADING_IMAGE_PATHS,
    spacer_paths=SPACER_PATHS,
    drop_hidden=True,
)
