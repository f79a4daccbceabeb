"""The archived article: raw values as found beside their normalised forms."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime


@dataclass
class Article:
    """One Sina Finance article on its way from the page to the archive.

    ``*_raw`` fields keep what the site gave (feed value or page text) so that a
    wrong normalisation can be traced; the normalised fields are what the archive
    writes. Built by ``newscrawl.page.read_article``, which also fills ``body``
    (cleaned), ``image`` and, for a page that is no article to archive, ``refused``
    (the reason: "no article text", "video page", …). The body as the page had it
    is not carried: the page is cleaned in its own tree, and the raw fetch is in
    the WARC capture.
    """

    url: str
    doc_id: str
    channel: str
    categories: tuple[str, str, str]
    author: str
    default_image: str
    title_raw: str
    title: str
    published_raw: str
    published_source: str  # "feed", "meta" or "visible": where the instant came from
    published: datetime | None  # timezone-aware; None when no source had one
    updated_raw: str = ""
    updated: datetime | None = None
    feed_mtime: int | None = None
    outlet: str = ""
    keywords: list[str] = field(default_factory=list)
    # What the page says beyond the archive file's header (kept in the index,
    # archive/index.py ``meta``; exported by ``scrapy export``): "原标题：…", the
    # responsible editor and Sina's code for them (SF014), the stocks named
    # (sh600519, usAAPL …), and the length of the cleaned text (non-whitespace).
    original_title: str = ""
    editor: str = ""
    editor_code: str = ""
    stocks: list[str] = field(default_factory=list)
    length: int = 0
    body: str = ""
    image: str = ""
    refused: str = ""
    # A feed item whose page redirected to this (another) article: its doc id and
    # mtime, kept by the archive as an alias so it is not fetched again.
    listed_doc_id: str | None = None
    listed_feed_mtime: int | None = None
    # Where the page's WARC response record is (a Capture as JSON; archive/warc.py):
    # the archive records it as a version of the article.
    capture: str | None = None
    # Distributed mode: the raw fetch itself (archive/warc.py fetch_to_json), which
    # the writer captures before it stores the article.
    fetch: str | None = None
