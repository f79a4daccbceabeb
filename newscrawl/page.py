"""One pure path from a fetched page to an archived article, or to a reason not to.

``read_article(page, headers, url, channel, entry)`` does everything between the
download and the archive: the encoding, the one parse, Sina's page fields
(``sina/article.py``), the body cleaned by Sina's rules (``sina/boilerplate.py``
through ``cleaning.py``), the feed item's values where the page lacks them, and
the checks that make a page an article. The spider, the benchmarks and the corpus
tests call it alike; the spider only turns its notes into stats and log lines.

Pure: bytes and values in, values out; no Scrapy, no disk.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from html import unescape
from types import MappingProxyType

from newscrawl.cleaning import CleanedBody, Rules, clean_element
from newscrawl.items import Article
from newscrawl.sina.article import cut_at_body_end, extract_page, normalize_title
from newscrawl.sina.boilerplate import SINA_RULES
from newscrawl.sina.channels import Channel
from newscrawl.sina.dates import plausible
from newscrawl.sina.encoding import (
    REPLACEMENT,
    Decoding,
    read_document,
    replacement_ratio,
)
from newscrawl.sina.feed import FeedEntry
from newscrawl.text import text_length

#: CLEAN_MAX_REPLACEMENT_RATIO's default (newscrawl/settings.py sets it).
MAX_REPLACEMENT_RATIO = 0.01

# The cleaned body is our own markup: tags never hold a raw ">" (cleaning.py).
_TAG = re.compile(r"<[^>]*>")
# A page without a body container.
_NO_BODY = CleanedBody("", None, MappingProxyType({}))
# What cleaning removed that makes an empty body a video or a gallery page.
_VIDEO_KINDS = frozenset({"video"})


@dataclass(frozen=True, slots=True)
class Refusal:
    """Why a page gives no article: ``key`` for stats, ``reason`` for people."""

    key: str
    reason: str


@dataclass(frozen=True, slots=True)
class PageResult:
    """The page's article and, if it is not one to archive, why; and what was
    noticed on the way. ``article`` is None only without a doc id."""

    article: Article | None
    refusal: Refusal | None
    #: How the page's bytes were read (encoding, U+FFFD count).
    decoding: Decoding
    #: Fields the page lacked: "title", "date", "body", "doc_id".
    missing: tuple[str, ...] = ()
    #: What cleaning removed, by kind.
    removed: Mapping[str, int] = field(default_factory=lambda: MappingProxyType({}))


def refusal(reason: str) -> Refusal:
    """A refusal by its reason ("video page" → key ``video_page``)."""
    return Refusal(reason.split(":", 1)[0].replace(" ", "_"), reason)


def read_article(
    page: bytes,
    headers: Mapping[str, str] | None,
    url: str,
    channel: Channel,
    entry: FeedEntry | None,
    *,
    rules: Rules = SINA_RULES,
    max_replacement_ratio: float = MAX_REPLACEMENT_RATIO,
) -> PageResult:
    """The article of one HTML page fetched from ``url`` for ``channel``.

    ``headers`` are the response's (only Content-Type is read); ``entry`` the feed
    item that listed the page, if any: its ``intime`` is the publication instant
    when it has one (FORMAT.md), its title stands in for a missing one.
    """
    content_type = _header(headers, "content-type")
    root, decoding = read_document(page, content_type)
    fields = extract_page(root, url)
    del root  # a 100-400 KB tree: kept by the body container until we return
    missing: list[str] = []
    title_raw = fields.title_raw or (entry.title if entry else "")
    if not fields.title_raw:
        missing.append("title")
    published_source, published_raw, published = (
        fields.published_source,
        fields.published_raw,
        fields.published,
    )
    if entry and entry.intime and plausible(entry.intime):
        # FORMAT.md: the feed's intime is the publication instant when there is one.
        published_source, published_raw, published = (
            "feed",
            entry.intime_raw,
            entry.intime,
        )
    if published is None:
        missing.append("date")
    body = fields.body
    if body is None:
        missing.append("body")
    doc_id = entry.doc_id if entry else fields.doc_id
    if doc_id is None:
        missing.append("doc_id")
        return PageResult(
            None, refusal("not an article page"), decoding, tuple(missing)
        )
    if body is None:
        cleaned = _NO_BODY
    else:
        # The one parse of the page: the body is cleaned in its tree, which
        # nothing reads afterwards (the fields are plain values).
        cut_at_body_end(body)
        cleaned = clean_element(body, url, rules)
        del body
    article = Article(
        url=url,
        doc_id=doc_id,
        channel=channel.name,
        categories=channel.categories,
        author=channel.author,
        default_image=channel.default_image,
        title_raw=title_raw,
        title=normalize_title(title_raw),
        published_raw=published_raw,
        published_source=published_source,
        published=published,
        updated_raw=fields.updated_raw,
        updated=fields.updated,
        feed_mtime=entry.mtime if entry else None,
        outlet=fields.outlet or (entry.media_name if entry else ""),
        keywords=fields.keywords,
        original_title=fields.original_title,
        editor=fields.editor,
        editor_code=fields.editor_code,
        stocks=fields.stocks,
        # The text of our own markup without a second parse: tags stripped,
        # entities read (the same count as ``plain_text``'s, whose lines only
        # add white space).
        length=text_length(unescape(_TAG.sub("", cleaned.html))),
        body=cleaned.html,
        image=cleaned.image or channel.default_image,
    )
    refused = _refusal(article, fields.body is not None, cleaned.removed)
    if refused is None:
        refused = damaged_text(article, max_replacement_ratio)
    if refused is not None:
        article.refused = refused.reason
    return PageResult(
        article,
        refused,
        decoding,
        tuple(missing),
        cleaned.removed,
    )


def _header(headers: Mapping[str, str] | None, name: str) -> str:
    for key, value in (headers or {}).items():
        if key.lower() == name:
            return value
    return ""


def _refusal(
    article: Article, has_container: bool, removed: Mapping[str, int]
) -> Refusal | None:
    """Why an extracted page is not an article, if it is not."""
    if not has_container:
        # No body container at all: an index, a 404 page, a page of another kind.
        return refusal("not an article page")
    if not article.title:
        return refusal("no title")
    if article.published is None:
        return refusal("no date")
    text = _TAG.sub("", article.body)
    if unescape(text).strip():
        return None
    if any(removed.get(kind) for kind in _VIDEO_KINDS):
        return refusal("video page")
    if "<img" in article.body:
        return refusal("gallery page")
    return refusal("no article text")


def damaged_text(article: Article, max_ratio: float) -> Refusal | None:
    """Characters no encoding could read (sina/encoding.py): a few are a flaw of
    the page; many mean the archive would keep noise instead of the article."""
    title, body = article.title, article.body
    # Nearly every article has none, and then nothing needs counting.
    if REPLACEMENT not in title and REPLACEMENT not in body:
        return None
    ratio = replacement_ratio(f"{title} {unescape(_TAG.sub(' ', body))}")
    if ratio <= max_ratio:
        return None
    return Refusal(
        "damaged_text",
        f"damaged text: {ratio:.1%} of its characters are undecodable (U+FFFD),"
        f" more than CLEAN_MAX_REPLACEMENT_RATIO {max_ratio:g}",
    )
