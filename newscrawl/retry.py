"""Downloader middlewares for answers that are not the page: "not now", "elsewhere".

``RetryAfterMiddleware`` is Scrapy's RetryMiddleware that waits as long as a 429 or
503 answer's ``Retry-After`` asks (at most ``RETRY_AFTER_MAX`` seconds) before
retrying, where Scrapy's own retries at once and meets the same refusal.

``SiteRedirectMiddleware`` and ``SiteMetaRefreshMiddleware`` are Scrapy's redirect
middlewares with two rules of the site: a redirect may only lead to the site's own
hosts (``SINA_ARTICLE_HOSTS`` and the feed's host), and a redirect loop ends at
``REDIRECT_MAX_TIMES`` with an error. (Scrapy's duplicate filter would otherwise
drop the request that closes the loop without a word, and the article would
vanish from the run's counts.)
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING, Any, Self
from urllib.parse import urlsplit

from scrapy.downloadermiddlewares.redirect import (
    MetaRefreshMiddleware,
    RedirectMiddleware,
)
from scrapy.downloadermiddlewares.retry import RetryMiddleware
from scrapy.exceptions import IgnoreRequest
from scrapy.utils.asyncio import sleep
from scrapy.utils.httpobj import urlparse_cached
from scrapy.utils.response import response_status_message

from newscrawl.sina.ids import host_allowed

if TYPE_CHECKING:
    from scrapy.crawler import Crawler
    from scrapy.http import Request, Response
    from scrapy.settings import BaseSettings

logger = logging.getLogger(__name__)


def retry_after_seconds(value: bytes | str | None, now: datetime) -> float | None:
    """The wait a ``Retry-After`` header asks for, in seconds; None if it asks none.

    RFC 9110: either a number of seconds (``120``) or an HTTP date. A date in the
    past asks for no wait (0); anything else is not a Retry-After and is ignored.
    """
    if value is None:
        return None
    text = value.decode("latin-1") if isinstance(value, bytes) else value
    text = text.strip()
    if text.isdigit():
        return float(int(text))
    try:
        moment = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if moment.tzinfo is None:  # "-0000": RFC 5322's "no zone", which HTTP calls GMT
        moment = moment.replace(tzinfo=UTC)
    return max((moment - now).total_seconds(), 0.0)


class RetryAfterMiddleware(RetryMiddleware):
    """Scrapy's RetryMiddleware, honouring ``Retry-After`` up to RETRY_AFTER_MAX."""

    def __init__(self, settings: BaseSettings) -> None:
        super().__init__(settings)
        self.max_wait = settings.getfloat("RETRY_AFTER_MAX", 60.0)

    async def process_response(  # type: ignore[override]
        self, request: Request, response: Response
    ) -> Request | Response:
        if (
            request.meta.get("dont_retry", False)
            or response.status not in self.retry_http_codes
        ):
            return response
        retry: Request | None = self._retry(
            request, response_status_message(response.status)
        )
        if retry is None:
            return response
        header = response.headers.get("Retry-After")
        asked = retry_after_seconds(header, datetime.now(UTC))
        if asked:
            wait = min(asked, self.max_wait)
            stats = self.crawler.stats
            assert stats is not None
            stats.inc_value("retry/retry_after/waited")
            if wait < asked:
                stats.inc_value("retry/retry_after/capped")
            logger.info(
                "%s answered %d with Retry-After %s: retrying in %g s%s",
                request.url,
                response.status,
                (header or b"").decode("latin-1"),
                wait,
                " (RETRY_AFTER_MAX)" if wait < asked else "",
            )
            await sleep(wait)
        return retry


class _StaysOnSite:
    """Refuses redirects off the site's hosts; lets a loop end in an error."""

    crawler: Crawler
    hosts: frozenset[str]

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> Self:
        middleware: Self = super().from_crawler(crawler)  # type: ignore[misc]
        middleware.hosts = middleware._site_hosts(crawler.settings)
        return middleware

    def _site_hosts(self, settings: BaseSettings) -> frozenset[str]:
        hosts = {h.lower() for h in settings.getlist("SINA_ARTICLE_HOSTS")}
        feed_host = urlsplit(settings.get("SINA_FEED_URL") or "").hostname
        if feed_host:
            hosts.add(feed_host.lower())
        return frozenset(hosts)

    def _redirect(self, redirected: Request, request: Request, reason: Any) -> Request:
        host = urlparse_cached(redirected).hostname or ""
        if not host_allowed(host, self.hosts):
            assert self.crawler.stats is not None
            self.crawler.stats.inc_value("redirect/refused/offsite")
            raise IgnoreRequest(
                f"redirected off-site ({reason}) to {redirected.url}: refused"
            )
        followed: Request = super()._redirect(  # type: ignore[misc]
            redirected, request, reason
        )
        # The request that closes a loop A → B → A is a duplicate of A: without
        # this the duplicate filter drops it silently instead of REDIRECT_MAX_TIMES
        # ending the loop with an error the spider's errback reports.
        followed.dont_filter = True
        return followed


class SiteRedirectMiddleware(_StaysOnSite, RedirectMiddleware):
    """Scrapy's RedirectMiddleware, kept on the site's hosts."""


class SiteMetaRefreshMiddleware(_StaysOnSite, MetaRefreshMiddleware):
    """Scrapy's MetaRefreshMiddleware, kept on the site's hosts."""
