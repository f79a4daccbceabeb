"""Fields of a Sina article page: title, instants, outlet, doc id, body, keywords.

Both templates are handled: the 2016+ finance/news/tech pages (``h1.main-title``,
``div#artibody`` / ``div#article``) and the 2009-2012 GB2312 pages
(``h1#artibodyTitle``, ``span#pub_date``). Every function takes a parsed page and
returns plain values; the spider decides what to do with missing ones.
"""

from __future__ import annotations

import html
import re
import unicodedata
from dataclasses import dataclass, field
from datetime import datetime

from lxml import etree
from lxml.html import HtmlElement
from parsel import Selector

from newscrawl.sina.dates import from_iso, from_plain_beijing, from_visible, plausible
from newscrawl.sina.ids import doc_id_from_url

# Body containers in order of preference. Finance pages use #artibody, news pages
# #article (https://news.sina.com.cn/c/2019-09-07/doc-iicezzrq4076655.shtml), old
# pages div#artibody.blkContainerSblkCon.
_BODY_XPATHS = (
    "//div[@id='artibody']",
    "//div[@id='article']",
    "//div[contains(concat(' ', normalize-space(@class), ' '), ' article-content ')]",
)
# News pages put a "新闻中心" logo in an h1 before the real title, so never take the
# first h1 blindly.
_TITLE_XPATHS = (
    ("h1", "//h1[contains(concat(' ', normalize-space(@class), ' '), ' main-title ')]"),
    ("h1", "//h1[@id='artibodyTitle']"),
    ("og:title", "//meta[@property='og:title']/@content"),
    ("title", "//title"),
)
# "<title>标题|标签_新浪财经_新浪网</title>"; old pages "标题_影音娱乐_新浪网".
_TITLE_SUFFIX = re.compile(r"(?:\|.*|_[^_|]*_新浪网\s*)$", re.S)
_PUBLISH_HELPER_END = "publish_helper_end"
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ufeff\ufffe\uffff]")
_SPACES = re.compile(r"\s+")


@dataclass(frozen=True, slots=True)
class PageFields:
    """What an article page says about itself; empty or None where it says nothing."""

    title_raw: str
    title_source: str
    published_raw: str
    published_source: str
    published: datetime | None
    updated_raw: str
    updated: datetime | None
    outlet: str
    doc_id: str | None
    body_html: str | None
    keywords: list[str] = field(default_factory=list)


def extract_page(page: Selector, url: str) -> PageFields:
    """Every field of one article page; ``url`` is the page's own URL."""
    title_source, title_raw = find_title(page)
    published_source, published_raw, published = find_published(page)
    updated_raw = _meta(page, "name", "weibo: article:update_at")
    return PageFields(
        title_raw=title_raw,
        title_source=title_source,
        published_raw=published_raw,
        published_source=published_source,
        published=published,
        updated_raw=updated_raw,
        updated=from_plain_beijing(updated_raw) if updated_raw else None,
        outlet=find_outlet(page),
        doc_id=find_doc_id(page, url),
        body_html=find_body(page),
        keywords=find_keywords(page),
    )


def find_title(page: Selector) -> tuple[str, str]:
    """``(source, title as found)`` from the first place that has a title."""
    for source, xpath in _TITLE_XPATHS:
        found = page.xpath(xpath)
        if not found:
            continue
        node = found[0]
        text = (
            node.get()
            if source == "og:title"
            else "".join(node.xpath(".//text()").getall())
        )
        if source == "title":
            text = _TITLE_SUFFIX.sub("", text)
        if text.strip():
            return source, text
    return "", ""


def normalize_title(title: str) -> str:
    """The title as archived: NFC, no control characters, whitespace collapsed."""
    title = unicodedata.normalize("NFC", title)
    title = _CONTROL.sub(" ", title)
    return _SPACES.sub(" ", title).strip()


def find_published(page: Selector) -> tuple[str, str, datetime | None]:
    """``(source, raw value, instant)`` of the page's own publication time."""
    raw = _meta(page, "property", "article:published_time")
    instant = from_iso(raw) if raw else None
    if instant is not None and plausible(instant):
        return "meta", raw, instant
    for xpath in (
        "//div[contains(@class, 'date-source')]//span[contains(@class, 'date')]",
        "//span[@id='pub_date']",
        "//span[contains(@class, 'date')]",
    ):
        for text in page.xpath(xpath).xpath("string()").getall():
            instant = from_visible(text)
            if instant is not None and plausible(instant):
                return "visible", text.strip(), instant
    raw = _meta(page, "name", "weibo: article:create_at")
    instant = from_plain_beijing(raw) if raw else None
    if instant is not None and plausible(instant):
        return "meta", raw, instant
    return "", "", None


def find_outlet(page: Selector) -> str:
    """The original media outlet (新京报, 澎湃新闻 …), not the site."""
    for xpath in (
        "//div[contains(@class, 'date-source')]"
        "//*[contains(concat(' ', normalize-space(@class), ' '), ' source ')]",
        "//span[@id='media_name']",
    ):
        text = page.xpath(xpath).xpath("normalize-space(string())").get("")
        if text:
            return text
    return _meta(page, "property", "article:author") or _meta(page, "name", "mediaid")


def find_doc_id(page: Selector, url: str) -> str | None:
    """The doc id from the URL, else from ``meta[name=publishid]``."""
    doc_id = doc_id_from_url(url)
    if doc_id is not None:
        return doc_id
    publishid = _meta(page, "name", "publishid")
    # 2016+ pages write the id without its "i"; old pages "28,3,2762951".
    if re.fullmatch(r"[0-9a-z]{6,64}", publishid):
        return publishid if publishid.startswith("i") else "i" + publishid
    return None


def find_keywords(page: Selector) -> list[str]:
    """The article's keywords from ``meta[name=keywords]``."""
    raw = _meta(page, "name", "keywords") or _meta(page, "name", "Keywords")
    return [k.strip() for k in re.split(r"[,，]", raw) if k.strip()]


def find_body(page: Selector) -> str | None:
    """The inner HTML of the body container, as in the page; None if there is none.

    Old pages end the article at ``<!-- publish_helper_end -->`` and put promotions
    after it, inside the same container
    (http://ent.sina.com.cn/y/2009-11-09/13482762951.shtml): cut there.
    """
    for xpath in _BODY_XPATHS:
        found = page.xpath(xpath)
        if found:
            root = found[0].root
            if isinstance(root, HtmlElement):
                return inner_html(root)
    return None


def inner_html(element: HtmlElement) -> str:
    """The HTML inside ``element``, stopping at an old page's publish_helper_end."""
    parts = [html.escape(element.text or "", quote=False)]
    for child in element:
        if isinstance(child, etree._Comment) and _PUBLISH_HELPER_END in (
            child.text or ""
        ):
            break
        parts.append(etree.tostring(child, encoding="unicode", method="html"))
    return "".join(parts)


def _meta(page: Selector, attribute: str, name: str) -> str:
    value = page.xpath(f"//meta[@{attribute}=$name]/@content", name=name).get("")
    return value.strip()
