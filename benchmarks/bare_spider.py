"""Scrapy's own cost: spiders that fetch what sina_finance fetches, and no more.

``bare`` reads the same feed pages and requests the same article pages through
the same server, and does nothing with them; ``bare_lxml`` also parses each page
once with ``lxml.html.fromstring`` — the floor of any crawler that reads pages.
Run by benchmarks/crawl.py with ``scrapy runspider``.
"""

from __future__ import annotations

import zlib
from collections.abc import AsyncIterator, Iterator
from typing import Any

import lxml.html
import scrapy
from scrapy.http import Request, Response, TextResponse

from newscrawl.sina.feed import feed_url, parse_feed


class BareSpider(scrapy.Spider):
    """Feed pages → article pages, nothing else."""

    name = "bare"
    parse_pages = False

    async def start(self) -> AsyncIterator[Any]:
        yield self.feed_request(1)

    def feed_request(self, page: int) -> Request:
        settings = self.crawler.settings
        return Request(
            feed_url(settings.get("SINA_FEED_URL"), 155, 1686, page),
            callback=self.parse_feed,
            cb_kwargs={"page": page},
            dont_filter=True,
        )

    def parse_feed(self, response: Response, page: int) -> Iterator[Request]:
        assert isinstance(response, TextResponse)
        hosts = frozenset(self.crawler.settings.getlist("SINA_ARTICLE_HOSTS"))
        parsed = parse_feed(response.text, hosts)
        # The same order as sina_finance: a page's articles before the next page.
        for entry in parsed.entries:
            yield Request(entry.url, callback=self.parse_article, priority=1)
        pages = self.crawler.settings.getint("SINA_FEED_PAGES")
        if parsed.entries and page < pages:
            yield self.feed_request(page + 1)

    def parse_article(self, response: Response) -> None:
        if self.parse_pages:
            lxml.html.fromstring(response.body)


class BareLxmlSpider(BareSpider):
    """The bare spider plus one lxml parse of each page: the floor."""

    name = "bare_lxml"
    parse_pages = True


class BareLxmlGzipSpider(BareSpider):
    """The floor of a capturing crawler: one lxml parse and one gzip of each page
    (as a WARC writer compresses what it keeps)."""

    name = "bare_lxml_gzip"

    def parse_article(self, response: Response) -> None:
        lxml.html.fromstring(response.body)
        zlib.compress(response.body, 6)
