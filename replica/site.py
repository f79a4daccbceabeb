"""The replica's content: articles, the roll feed built from them, generated pages."""

from __future__ import annotations

import bisect
import html
import json
import random
import re
import string
import threading
import time
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta, timezone
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import quote, urlsplit

if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator, Mapping, Sequence

#: The project's test fixtures, which the replica serves from.
FIXTURES_DIR = Path(__file__).resolve().parent.parent / "tests" / "fixtures"
PAGES_DIR = FIXTURES_DIR / "pages"
ROLL_PAGE1 = FIXTURES_DIR / "api" / "roll_page1.json"

#: The feed answers at most this many items a page, whatever ``num`` asks.
MAX_NUM = 50
#: Sina's dates (URLs, visible dates, meta tags) are Beijing time.
BEIJING = timezone(timedelta(hours=8))

#: The seed's article, the real page the generated articles are made from.
SEED_PATH = "/china/gncj/2021-04-20/doc-ikmvwzxq0000001.shtml"
#: A 2009 page in the old GB2312 template: served, but in no feed.
OLD_PAGE_PATH = "/ent/y/2009-11-09/13482762951.shtml"
#: The newest generated article's ``intime`` unless told otherwise (the seed's).
DEFAULT_START = 1618919498
#: Generated articles are published this far apart (less up to 59 s), newest first.
GENERATED_INTERVAL = 420
#: How far back the live feed of a dated site reaches, in pages of 50: Sina's
#: reaches a few dozen pages; older items only through the date window.
LIVE_PAGES = 2

_T = TypeVar("_T")

HTML_UTF8 = "text/html; charset=utf-8"
HTML_GB2312 = "text/html; charset=gb2312"

_CANONICAL_HOST = "https://finance.sina.com.cn"
_DATE_SEGMENT = re.compile(r"/(\d{4}-\d{2}-\d{2})/")
_DOC_ID = re.compile(r"/(?:doc-)?(i?[0-9a-z]+)\.shtml$")


@dataclass
class SiteArticle:
    """One article of the replica: its feed values and the page served at its path."""

    doc_id: str
    path: str
    title: str
    intime: int
    ctime: int
    mtime: int
    media_name: str
    keywords: str
    #: The page's bytes as served. None: rendered from the seed template with this
    #: article's values on each access (generated articles: 10,000 stored pages
    #: would take 2.3 GB and seconds of page faults; rendering one takes ~0.1 ms).
    raw: bytes | None = field(default=None, repr=False)
    content_type: str = HTML_UTF8
    lid: int = 1686
    pageid: int = 155
    stitle: str = ""
    intro: str = ""
    author: str = ""
    #: Empty: derived from the path (``https://finance.sina.cn/<date>/detail-<id>``).
    #: A path (``/<date>/detail-<id>.d.html``): the replica serves the page there
    #: too, and the feed gives it on the replica's host.
    wapurl: str = ""
    #: The path the feed item's ``url`` gives; empty: ``path``. Another path (a
    #: video or list page) makes ``wapurl`` the only article URL of the item.
    feed_path: str = ""
    #: False: the feed item has no ``intime`` (the page's own date counts).
    feed_intime: bool = True
    #: False: served at its path but left out of every feed (old pages).
    listed: bool = True
    #: Generated articles: the text of each body paragraph, as it appears in the
    #: page after the ``　　`` indent (no markup, nothing that HTML escapes).
    paragraphs: list[str] = field(default_factory=list)
    #: Generated articles: ``(src, caption)`` of each body image, after paragraph 1.
    images: list[tuple[str, str]] = field(default_factory=list)

    @property
    def page(self) -> bytes:
        """The full HTML page served at ``path``."""
        return self.raw if self.raw is not None else render_page(self)

    def feed_item(self, base_url: str) -> dict[str, str]:
        """This article as a roll feed item, its URL on ``base_url``."""
        # The real feed gives every value as a string, times included.
        wapurl = self.wapurl or _wapurl(self.path, self.doc_id)
        return {
            "docid": "comos:" + self.doc_id.removeprefix("i"),
            "url": base_url + (self.feed_path or self.path),
            "wapurl": base_url + wapurl if wapurl.startswith("/") else wapurl,
            "title": self.title,
            "stitle": self.stitle,
            "intro": self.intro,
            "media_name": self.media_name,
            "author": self.author,
            "keywords": self.keywords,
            "ctime": str(self.ctime),
            "intime": str(self.intime) if self.feed_intime else "",
            "mtime": str(self.mtime),
            "lids": str(self.lid),
        }


class Site:
    """The replica's articles, by doc id and by path; safe to share with threads."""

    def __init__(self, articles: Iterable[SiteArticle] = ()) -> None:
        self._lock = threading.Lock()
        self._by_id: dict[str, SiteArticle] = {}
        self._by_path: dict[str, SiteArticle] = {}
        # Mobile paths of articles whose wapurl is on the replica.
        self._by_wap: dict[str, SiteArticle] = {}
        # Sorting thousands of articles per feed request would dominate a benchmark:
        # listings are cached per (pageid, lid) and dropped on any change.
        self._listings: dict[tuple[int | None, int | None], list[SiteArticle]] = {}
        #: How many items the live feed lists at most (None: all): pages past it
        #: are empty, as Sina's are a few dozen pages back.
        self.live_reach: int | None = None
        for article in articles:
            self.add(article)

    def add(self, article: SiteArticle) -> None:
        """Add an article, replacing any article with the same doc id or path."""
        with self._lock:
            old = self._by_id.pop(article.doc_id, None)
            if old is not None:
                del self._by_path[old.path]
                self._by_wap.pop(old.wapurl, None)
            clash = self._by_path.pop(article.path, None)
            if clash is not None:
                del self._by_id[clash.doc_id]
                self._by_wap.pop(clash.wapurl, None)
            self._by_id[article.doc_id] = article
            self._by_path[article.path] = article
            if article.wapurl.startswith("/"):
                self._by_wap[article.wapurl] = article
            self._listings.clear()

    def remove(self, doc_id: str) -> SiteArticle:
        """Remove an article (its path then answers 404); KeyError if unknown."""
        with self._lock:
            article = self._by_id.pop(doc_id)
            del self._by_path[article.path]
            self._by_wap.pop(article.wapurl, None)
            self._listings.clear()
            return article

    def touch(self, doc_id: str, mtime: int, page: bytes | None = None) -> SiteArticle:
        """Set an article's ``mtime`` and, if given, its page; KeyError if unknown."""
        with self._lock:
            old = self._by_id[doc_id]
            # A new object rather than a mutation: a request being served keeps a
            # consistent (page, content type) pair.
            new = replace(old, mtime=mtime, raw=old.raw if page is None else page)
            self._by_id[doc_id] = new
            self._by_path[new.path] = new
            if new.wapurl.startswith("/"):
                self._by_wap[new.wapurl] = new
            self._listings.clear()
            return new

    def revise(
        self,
        doc_id: str,
        mtime: int,
        *,
        paragraphs: list[str] | None = None,
        title: str | None = None,
    ) -> SiteArticle:
        """Edit an article as an editor would: new ``mtime``, and a new body or title;
        its page is then rendered from the seed template; KeyError if unknown."""
        with self._lock:
            old = self._by_id[doc_id]
        new = replace(
            old,
            mtime=mtime,
            paragraphs=old.paragraphs if paragraphs is None else list(paragraphs),
            title=old.title if title is None else title,
            raw=None,
        )
        self.add(new)
        return new

    def get(self, doc_id: str) -> SiteArticle:
        """The article with this doc id; KeyError if unknown."""
        with self._lock:
            return self._by_id[doc_id]

    def find(self, path: str) -> SiteArticle | None:
        """The article served at this URL path, if any."""
        # One dict lookup: this runs for every page request of a benchmark.
        return self._by_path.get(path) or self._by_wap.get(path)

    def articles(self) -> list[SiteArticle]:
        """All articles, listed or not, newest first."""
        with self._lock:
            return sorted(self._by_id.values(), key=_newest_first)

    def __len__(self) -> int:
        return len(self._by_id)

    def __iter__(self) -> Iterator[SiteArticle]:
        return iter(self.articles())

    def __contains__(self, doc_id: object) -> bool:
        return doc_id in self._by_id

    def listing(self, pageid: int | None, lid: int | None) -> list[SiteArticle]:
        """The listed articles of a channel, newest first (None: any)."""
        key = (pageid, lid)
        with self._lock:
            cached = self._listings.get(key)
            if cached is None:
                cached = sorted(
                    (
                        a
                        for a in self._by_id.values()
                        if a.listed
                        and (pageid is None or a.pageid == pageid)
                        and (lid is None or a.lid == lid)
                    ),
                    key=_newest_first,
                )
                self._listings[key] = cached
            return cached

    def feed(
        self,
        pageid: int | None,
        lid: int | None,
        page: int,
        num: int,
        base_url: str,
        *,
        now: float | None = None,
        window: tuple[int, int] | None = None,
    ) -> dict[str, Any]:
        """One page of the roll feed, in the envelope the real feed answers.

        ``window``: (start, end) in Unix seconds, Sina's ``etime`` and ``stime``:
        the items published in it, and its count as ``total``. Without it, the live
        feed: every item counts in ``total``, but pages past ``live_reach`` are
        empty."""
        num = min(max(num, 1), MAX_NUM)
        page = max(page, 1)
        listing = self.listing(pageid, lid)
        if window is not None:
            # Sina's date window: etime (start) <= intime < stime (end).
            window_start, window_end = window
            low = bisect.bisect_right(listing, -window_end, key=_minus_intime)
            high = bisect.bisect_right(listing, -window_start, key=_minus_intime)
            listing = listing[low:high]
            reach = len(listing)
        else:
            reach = len(listing) if self.live_reach is None else self.live_reach
        start = (page - 1) * num
        chunk = listing[start : min(start + num, reach)]
        stamp = datetime.fromtimestamp(time.time() if now is None else now, BEIJING)
        return {
            "result": {
                "status": {"code": 0, "msg": "succ"},
                # The real feed's own form: "Tue Apr 20 19:55:00 +0800 2021".
                "timestamp": stamp.strftime("%a %b %d %H:%M:%S +0800 %Y"),
                "total": len(listing),
                "start": start,
                "end": start + len(chunk),
                "lid": lid if lid is not None else "",
                "data": [article.feed_item(base_url) for article in chunk],
            }
        }


def _minus_intime(article: SiteArticle) -> int:
    return -article.intime


def _newest_first(article: SiteArticle) -> tuple[int, str]:
    return (-article.intime, article.doc_id)


def _wapurl(path: str, doc_id: str) -> str:
    match = _DATE_SEGMENT.search(path)
    date = match.group(1) if match else ""
    return f"https://finance.sina.cn/{date}/detail-{doc_id}.d.html"


# --- The fixture site ---------------------------------------------------------

_FIXTURE_PAGES = {
    "ikmvwzxq0000001": "replica_seed_article.html",
    "ihqfskcn2160999": "gne_finance_roll_2018-12-28_doc-ihqfskcn2160999.html",
    "iicezzrq4076655": "gne_news_c_2019-09-07_doc-iicezzrq4076655.html",
}
_OLD_PAGE = "cxextractor_old_gb2312_ent_aidai.html"


def fixture_site() -> Site:
    """The three articles of ``api/roll_page1.json`` with their pages, and the old
    GB2312 page at OLD_PAGE_PATH (in no feed)."""
    envelope = json.loads(ROLL_PAGE1.read_text(encoding="utf-8"))
    site = Site()
    for item in envelope["result"]["data"]:
        path = urlsplit(item["url"]).path
        match = _DOC_ID.search(path)
        if match is None:  # pragma: no cover - the fixture's own URLs
            raise ValueError(f"no doc id in fixture URL {item['url']}")
        doc_id = match.group(1)
        site.add(
            SiteArticle(
                doc_id=doc_id,
                path=path,
                title=item["title"],
                intime=int(item["intime"]),
                ctime=int(item["ctime"]),
                mtime=int(item["mtime"]),
                media_name=item["media_name"],
                keywords=item["keywords"],
                raw=(PAGES_DIR / _FIXTURE_PAGES[doc_id]).read_bytes(),
                lid=int(item["lids"]),
                stitle=item["stitle"],
                intro=item["intro"],
                author=item["author"],
                wapurl=item["wapurl"],
            )
        )
    # Its visible date, 2009年11月09日13:48 Beijing time.
    old_time = int(datetime(2009, 11, 9, 13, 48, tzinfo=BEIJING).timestamp())
    site.add(
        SiteArticle(
            doc_id="13482762951",
            path=OLD_PAGE_PATH,
            title="爱戴掀起红盖头 庆东南劲爆音乐颁奖七周年(图)",
            intime=old_time,
            ctime=old_time,
            mtime=old_time,
            media_name="新浪娱乐",
            keywords="",
            raw=(PAGES_DIR / _OLD_PAGE).read_bytes(),
            content_type=HTML_GB2312,
            listed=False,
        )
    )
    return site


# --- The seed page as a template ------------------------------------------------

_SEED_ID = "ikmvwzxq0000001"
_SEED_TITLE = "工信部：将开展互联网行业不正当竞争专项整治行动"
_SEED_URL = _CANONICAL_HOST + SEED_PATH
_SEED_KEYWORDS = ("工信部", "互联网", "不正当竞争")
_SEED_MEDIA = "澎湃新闻"
_SEED_STAMP = "2021-04-20 19:51:38"
_BODY_START = '<div class="article" id="artibody">\n'
_BODY_END = "<!--article_adlist["
_DESCRIPTION = re.compile(r'<meta name="description" content="[^"]*">')


@dataclass(frozen=True)
class _Template:
    """The seed page cut once into literal bytes and named slots between them."""

    literals: tuple[bytes, ...]
    slots: tuple[str, ...]

    def render(self, values: Mapping[str, bytes]) -> bytes:
        parts = [self.literals[0]]
        for slot, literal in zip(self.slots, self.literals[1:], strict=True):
            parts.append(values[slot])
            parts.append(literal)
        return b"".join(parts)


def _keyword_links(keywords: Iterable[str]) -> str:
    return " ".join(
        f'<a href="http://tags.finance.sina.com.cn/{k}" target="_blank">{k}</a>'
        for k in keywords
    )


@cache
def _template() -> _Template:
    text = (PAGES_DIR / "replica_seed_article.html").read_text(encoding="utf-8")
    body_start = text.index(_BODY_START) + len(_BODY_START)
    body_end = text.index(_BODY_END, body_start)
    description = _DESCRIPTION.search(text)
    if description is None:  # pragma: no cover - guards a changed fixture
        raise ValueError("the seed page has no meta description")
    # Every place the seed's own values appear, and the slot that replaces them.
    # Title and outlet appear both as text and in attributes, which escape quotes
    # differently (the real page has 60万"12306账号" in h1, &quot; in og:title).
    needles = {
        _SEED_URL: "url",
        quote(_SEED_URL, safe=""): "url_quoted",
        f"finance.sina.cn/2021-04-20/detail-{_SEED_ID}": "wap",
        _SEED_ID[1:]: "bare_id",
        f'content="{_SEED_TITLE}"': "title_attr",
        _SEED_TITLE: "title_text",
        f"|{_SEED_KEYWORDS[0]}_": "keyword_title",
        "title=" + quote(_SEED_KEYWORDS[0]): "keyword_quoted",
        f'content="{",".join(_SEED_KEYWORDS)}"': "keywords_attr",
        _keyword_links(_SEED_KEYWORDS): "keyword_links",
        description.group(0): "description",
        f'article:create_at" content="{_SEED_STAMP}"': "create_at",
        f'article:update_at" content="{_SEED_STAMP}"': "update_at",
        "2021-04-20T19:51:38+08:00": "published",
        "2021年04月20日 19:51": "visible",
        _SEED_MEDIA: "media",
    }
    # Longest first, so that a needle is never cut short by one it contains.
    pattern = re.compile(
        "|".join(re.escape(n) for n in sorted(needles, key=len, reverse=True))
    )
    literals: list[str] = []
    slots: list[str] = []
    for chunk, is_body in (
        (text[:body_start], False),
        ("", True),
        (text[body_end:], False),
    ):
        if is_body:
            slots.append("body")
            continue
        pos = 0
        for match in pattern.finditer(chunk):
            literals.append(chunk[pos : match.start()])
            slots.append(needles[match.group(0)])
            pos = match.end()
        literals.append(chunk[pos:])
    missing = set(needles.values()) - set(slots)
    leftover = [
        value
        for value in (_SEED_ID[1:], _SEED_TITLE, _SEED_MEDIA, _SEED_STAMP, "19:51")
        if any(value in literal for literal in literals)
    ]
    if missing or leftover:  # pragma: no cover - guards a changed fixture
        raise ValueError(f"seed template: missing {missing}, leftover {leftover}")
    return _Template(
        literals=tuple(literal.encode("utf-8") for literal in literals),
        slots=tuple(slots),
    )


def _beijing(timestamp: int) -> datetime:
    return datetime.fromtimestamp(timestamp, BEIJING)


def render_body(paragraphs: Iterable[str], images: Iterable[tuple[str, str]]) -> str:
    """The inner HTML of ``#artibody`` for these paragraphs, images after the first."""
    figures = "".join(
        f'<div class="img_wrapper"><img src="{html.escape(src)}" '
        f'alt="{html.escape(caption)}"><span class="img_descr">'
        f"{html.escape(caption, quote=False)}</span></div>\n"
        for src, caption in images
    )
    lines: list[str] = []
    for index, text in enumerate(paragraphs):
        lines.append(
            f'<p cms-style="font-L">　　{html.escape(text, quote=False)}</p>\n'
        )
        if index == 0 and figures:
            lines.append(figures)
    if not lines:
        lines.append(figures)
    return "".join(lines)


def render_page(article: SiteArticle) -> bytes:
    """The seed's page with this article's values: title, times, ids, outlet, body.

    Uses ``doc_id``, ``path``, ``title``, ``keywords``, ``media_name``, the three
    times, ``intro`` (the meta description), ``paragraphs`` and ``images``.
    """
    url = _CANONICAL_HOST + article.path
    match = _DATE_SEGMENT.search(article.path)
    date = match.group(1) if match else _beijing(article.intime).strftime("%Y-%m-%d")
    keywords = [k for k in article.keywords.split(",") if k]
    first = keywords[0] if keywords else ""
    title_attr = html.escape(article.title)
    media = html.escape(article.media_name)
    created = _beijing(article.ctime)
    values = {
        "url": url,
        "url_quoted": quote(url, safe=""),
        "wap": f"finance.sina.cn/{date}/detail-{article.doc_id}",
        "bare_id": article.doc_id.removeprefix("i"),
        "title_attr": f'content="{title_attr}"',
        "title_text": html.escape(article.title, quote=False),
        "keyword_title": f"|{html.escape(first, quote=False)}_",
        "keyword_quoted": "title=" + quote(first),
        "keywords_attr": f'content="{html.escape(",".join(keywords))}"',
        "keyword_links": _keyword_links(html.escape(k) for k in keywords),
        "description": (
            f'<meta name="description" content="{html.escape(article.intro)}">'
        ),
        "create_at": f'article:create_at" content="{created:%Y-%m-%d %H:%M:%S}"',
        "update_at": (
            f'article:update_at" content="{_beijing(article.mtime):%Y-%m-%d %H:%M:%S}"'
        ),
        "published": _beijing(article.intime).isoformat(),
        # Real pages show the creation minute here (see the 2018 fixture page:
        # ctime 19:55:10, published 19:56:29, visible 19:55).
        "visible": f"{created:%Y年%m月%d日 %H:%M}",
        "media": media,
        "body": render_body(article.paragraphs, article.images),
    }
    return _template().render({k: v.encode("utf-8") for k, v in values.items()})


# --- Generated articles ---------------------------------------------------------

_ORGS = (
    "工信部", "央行", "证监会", "银保监会", "国家统计局", "发改委", "财政部",
    "商务部", "国务院", "国家外汇局", "上交所", "深交所", "住建部", "海关总署",
    "国资委", "农业农村部",
)  # fmt: skip
_COMPANIES = (
    "华为", "比亚迪", "宁德时代", "贵州茅台", "招商银行", "中国平安", "腾讯",
    "阿里巴巴", "京东", "美团", "小米集团", "中石化", "万科", "格力电器",
    "蔚来", "中芯国际", "隆基股份", "海尔智家",
)  # fmt: skip
_TOPICS = (
    "数字经济", "新能源汽车", "平台经济", "普惠金融", "绿色债券", "芯片产业",
    "跨境电商", "房地产市场", "稳就业", "消费升级", "乡村振兴", "碳达峰",
    "科创板", "养老金融", "数据安全", "半导体", "生猪养殖", "专项债",
    "人民币汇率", "北向资金", "光伏", "工业互联网",
)  # fmt: skip
_CITIES = (
    "北京", "上海", "深圳", "广州", "杭州", "成都", "武汉", "重庆", "苏州",
    "南京", "西安", "合肥",
)  # fmt: skip
_MEDIA = (
    "新京报", "澎湃新闻", "中国证券报", "上海证券报", "第一财经", "经济观察报",
    "证券时报", "21世纪经济报道", "北京日报", "新华社", "人民日报",
    "每日经济新闻", "界面新闻", "财联社",
)  # fmt: skip
_SURNAMES = "王李张刘陈杨黄赵周吴徐孙马朱胡郭何林罗高"
_GIVEN = "伟芳娜敏静丽强磊洋艳勇军杰涛明超秀霞平刚桂英华飞鹏頔"
_SECTIONS = ("china/gncj", "china/gncj", "china/gncj", "roll", "chanjing/gsnews")

# Every title holds the article's unique number {n}, which keeps titles distinct.
# Some carry what quoting must survive: ASCII quotes, colons, "#", braces.
_TITLES = (
    "{org}：将开展{topic}专项整治行动 涉及{n}家企业",
    "{company}一季度营收{n}亿元 同比增长{pct}%",
    '{n}万"{topic}账号"外泄? {org}辟谣称消息不实',
    "{org}发布“{topic}”新规 第{n}批试点名单出炉",
    "#{topic}# 话题阅读量破{n}万 {company}回应",
    "{company}'{topic}'业务调整:{n}名员工转岗",
    "{company}发布{{{topic}}}白皮书 收录{n}个案例",
    "{company}: {topic}业务去年贡献{n}亿元收入",
    "{org}：{topic}领域{n}项改革举措落地见效",
    "{city}出台{topic}新政 {n}亿元资金支持中小企业",
    '{org}回应"{topic}"热点问题：已摸排{n}家平台',
    "{topic}板块午后拉升 {company}成交额{n}亿元",
)
_SENTENCES = (
    "{month}月{day}日，{org}召开新闻发布会，介绍{topic}有关情况。",
    "{org}新闻发言人{person}表示，近年来{topic}发展势头良好，但也存在一些不容忽视的问题。",
    "数据显示，今年前{q}个月，{topic}相关投资同比增长{pct}%，增速比上年同期加快{pct2}个百分点。",
    "{company}相关负责人对记者表示，公司将继续加大在{topic}领域的投入，预计全年研发投入超过{num}亿元。",
    "业内人士认为，{topic}正处在由高速增长向高质量发展转变的关键阶段。",
    "“下一步，我们将坚持问题导向，推动{topic}规范健康持续发展。”{person}说。",
    "截至{month}月末，{city}已有{num}家企业参与{topic}试点，覆盖制造、零售、物流等多个行业。",
    "受此消息影响，{company}股价盘中一度上涨{pct}%，成交额达{num}亿元。",
    "分析人士指出，短期来看{topic}仍面临需求不足、成本上升等压力，但中长期向好的趋势没有改变。",
    "{org}表示，将进一步完善监管制度，加强跨部门协同，形成治理合力。",
    "值得注意的是，{topic}领域的竞争日趋激烈，部分中小企业经营承压。",
    "{person}建议，应加快出台配套政策，引导社会资本有序进入{topic}领域。",
    "据了解，{city}计划在未来三年内新建{num}个{topic}示范项目，5G基站将实现全覆盖。",
    "市场普遍预期，随着政策红利逐步释放，{topic}有望迎来新一轮增长。",
    "{company}在公告中称，本次调整不会对公司日常经营产生重大影响。",
    "一位不愿具名的券商分析师告诉记者，A股{topic}板块估值已处于历史较低水平。",
    "国家统计局数据显示，{month}月份CPI同比上涨{pct}%，PPI同比上涨{pct2}%。",
)  # fmt: skip
_CAPTIONS = (
    "{company}总部（资料图）",
    "{city}街头（图片来源：视觉中国）",
    "{org}新闻发布会现场",
    "{topic}产业园区一角",
)


def generated_articles(
    n: int,
    seed: int = 0,
    start: int = DEFAULT_START,
    *,
    first_number: int = 1,
    taken: Iterable[str] = (),
) -> list[SiteArticle]:
    """``n`` distinct articles made from the seed page, newest first.

    The first is published at ``start``, each next one 361 to 420 seconds earlier.
    Deterministic for (``seed``, ``start``), and the first k of n are the k of k.
    ``first_number`` is the number the first title carries (titles stay distinct
    because each carries its own); ``taken`` are doc ids not to use.
    """
    if n < 0:
        raise ValueError(f"cannot generate {n} articles")
    rng = random.Random(f"replica:{seed}:{start}")
    used = set(taken)
    return [
        _generate(rng, index, first_number + index, _new_id(rng, used), start)
        for index in range(n)
    ]


def generated_site(n: int, seed: int = 0, start: int = DEFAULT_START) -> Site:
    """A site of ``n`` generated articles (see generated_articles)."""
    return Site(generated_articles(n, seed, start))


def add_generated(
    site: Site, n: int, seed: int = 0, start: int = DEFAULT_START
) -> list[SiteArticle]:
    """Add ``n`` generated articles to ``site``, ids and titles unlike its own."""
    articles = generated_articles(
        n, seed, start, first_number=len(site) + 1, taken=[a.doc_id for a in site]
    )
    for article in articles:
        site.add(article)
    return articles


def beijing_midnight(day: date) -> int:
    """The Unix time of ``day``'s midnight, Beijing: a feed window's start."""
    return int(datetime(day.year, day.month, day.day, tzinfo=BEIJING).timestamp())


def dated_articles(
    days: int,
    per_day: tuple[int, int] = (10, 20),
    *,
    last_day: date | None = None,
    seed: int = 0,
    now: float | None = None,
) -> list[SiteArticle]:
    """Articles of ``days`` Beijing days up to ``last_day`` (default today), between
    ``per_day[0]`` and ``per_day[1]`` a day, spread over each day; today's only up to
    ``now``. Deterministic for (``days``, ``per_day``, ``last_day``, ``seed``) at a
    given ``now``; newest first."""
    now = time.time() if now is None else now
    last = last_day or datetime.fromtimestamp(now, BEIJING).date()
    used: set[str] = set()
    articles: list[SiteArticle] = []
    number = 1
    for back in range(days):
        day = last - timedelta(days=back)
        rng = random.Random(f"replica:{seed}:{day.isoformat()}")
        count = per_day[0] + _below(rng, per_day[1] - per_day[0] + 1)
        start = beijing_midnight(day)
        end = min(start + 86400, int(now)) - 1
        if end <= start:
            continue
        interval = max(1, (end - start) // count)
        for index in range(count):
            article = _generate(rng, index, number, _new_id(rng, used), end, interval)
            if article.intime < start:
                break
            articles.append(article)
            number += 1
    return articles


def dated_site(
    days: int,
    per_day: tuple[int, int] = (10, 20),
    *,
    last_day: date | None = None,
    seed: int = 0,
    live_pages: int | None = LIVE_PAGES,
) -> Site:
    """A site of ``dated_articles`` whose live feed reaches ``live_pages`` pages of
    50 back, as Sina's does: older days only through the feed's date window."""
    site = Site(dated_articles(days, per_day, last_day=last_day, seed=seed))
    site.live_reach = None if live_pages is None else live_pages * MAX_NUM
    return site


def _pick(rng: random.Random, choices: Sequence[_T]) -> _T:
    # random() is one C call; choice() and randint() loop in Python, and generating
    # 10,000 articles draws about two million times.
    return choices[int(rng.random() * len(choices))]


def _below(rng: random.Random, bound: int) -> int:
    return int(rng.random() * bound)


def _new_id(rng: random.Random, used: set[str]) -> str:
    # Real ids look like ihqfskcn2160999: "i", seven letters, seven digits.
    while True:
        letters = "".join(_pick(rng, string.ascii_lowercase) for _ in range(7))
        doc_id = f"i{letters}{_below(rng, 10**7):07d}"
        if doc_id not in used:
            used.add(doc_id)
            return doc_id


class _Words(dict[str, str]):
    """The words of one article; a sentence draws the missing ones it asks for."""

    def __init__(self, rng: random.Random, fixed: dict[str, str]) -> None:
        super().__init__(fixed)
        self.rng = rng

    def sentence(self) -> str:
        return _pick(self.rng, _SENTENCES).format_map(_Draw(self))

    def draw(self, key: str) -> str:
        rng = self.rng
        # Mostly the article's own subject, sometimes another one.
        if key in self and rng.random() < 0.6:
            return self[key]
        match key:
            case "org":
                return _pick(rng, _ORGS)
            case "company":
                return _pick(rng, _COMPANIES)
            case "topic":
                return _pick(rng, _TOPICS)
            case "city":
                return _pick(rng, _CITIES)
            case "person":
                return _pick(rng, _SURNAMES) + _pick(rng, _GIVEN)
            case "q":
                return str(1 + _below(rng, 11))
            case "num":
                return str(2 + _below(rng, 900))
            case "pct":
                return f"{1 + _below(rng, 40)}.{_below(rng, 10)}"
            case "pct2":
                return f"{1 + _below(rng, 8)}.{_below(rng, 10)}"
        raise KeyError(key)


class _Draw(dict[str, str]):
    """A format_map mapping over _Words that draws each slot when asked."""

    def __init__(self, words: _Words) -> None:
        super().__init__()
        self.words = words

    def __missing__(self, key: str) -> str:
        if key in ("month", "day"):
            return self.words[key]
        return self.words.draw(key)


def _generate(
    rng: random.Random,
    index: int,
    number: int,
    doc_id: str,
    start: int,
    interval: int = GENERATED_INTERVAL,
) -> SiteArticle:
    # Strictly older than the previous one: an interval earlier, less up to 59 s.
    jitter = min(60, interval)
    intime = start - interval * index + (_below(rng, jitter) if index else 0)
    # As on real pages, most are created when published and never edited; some
    # were drafted a little earlier, some edited later.
    ctime = intime - (1 + _below(rng, 240) if rng.random() < 0.25 else 0)
    mtime = intime + (60 + _below(rng, 3540) if rng.random() < 0.25 else 0)
    published = _beijing(intime)
    words = _Words(
        rng,
        {
            "org": _pick(rng, _ORGS),
            "company": _pick(rng, _COMPANIES),
            "topic": _pick(rng, _TOPICS),
            "city": _pick(rng, _CITIES),
            "month": str(published.month),
            "day": str(published.day),
        },
    )
    pattern = _pick(rng, _TITLES)
    title = pattern.format_map(
        {**words, "n": str(number), "pct": f"{1 + _below(rng, 59)}.{_below(rng, 10)}"}
    )
    lead = words["org"] if "{org}" in pattern else words["company"]
    others = [t for t in _TOPICS if t != words["topic"]]
    keywords = ",".join([lead, words["topic"], _pick(rng, others)])
    media = _pick(rng, _MEDIA)
    author = _pick(rng, _SURNAMES) + "".join(
        _pick(rng, _GIVEN) for _ in range(1 + _below(rng, 2))
    )
    # The byline, as in the seed, then 2 to 11 paragraphs of 1 to 4 sentences.
    body = [
        [words.sentence() for _ in range(1 + _below(rng, 4))]
        for _ in range(2 + _below(rng, 10))
    ]
    paragraphs = [f"{media}记者 {author}", *("".join(p) for p in body)]
    images: list[tuple[str, str]] = []
    if index % 5 == 2:
        token = "".join(_pick(rng, string.ascii_letters) for _ in range(4))
        src = (
            f"//n.sinaimg.cn/finance/transform/w640h360/"
            f"{published:%Y%m%d}/{token}-{doc_id[1:]}.jpg"
        )
        images.append((src, _pick(rng, _CAPTIONS).format_map(_Draw(words))))
    path = f"/{_pick(rng, _SECTIONS)}/{published:%Y-%m-%d}/doc-{doc_id}.shtml"
    return SiteArticle(
        doc_id=doc_id,
        path=path,
        title=title,
        intime=intime,
        ctime=ctime,
        mtime=mtime,
        media_name=media,
        keywords=keywords,
        author=author,
        intro=body[0][0],
        paragraphs=paragraphs,
        images=images,
    )
