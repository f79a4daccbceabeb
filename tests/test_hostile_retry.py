"""newscrawl/retry.py in process: Retry-After honoured and bounded; redirects kept
on the site's hosts; redirect loops end in an error. (End to end, the same cases
are in the hostile corpus: net_429_*, net_redirect_*.)"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime
from typing import Any

import pytest
from scrapy import Spider
from scrapy.exceptions import IgnoreRequest
from scrapy.http import HtmlResponse, Request, Response
from scrapy.utils.test import get_crawler

from newscrawl import retry
from newscrawl.retry import (
    RetryAfterMiddleware,
    SiteMetaRefreshMiddleware,
    SiteRedirectMiddleware,
    retry_after_seconds,
)

NOW = datetime(2015, 10, 21, 7, 27, tzinfo=UTC)
URL = "https://finance.sina.com.cn/roll/2021-04-20/doc-ikmvwzxq0000001.shtml"


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        ("120", 120.0),
        (b" 5 ", 5.0),
        ("0", 0.0),
        ("Wed, 21 Oct 2015 07:28:00 GMT", 60.0),
        ("Wed, 21 Oct 2015 07:28:00 -0000", 60.0),
        ("Wed, 21 Oct 2015 07:00:00 GMT", 0.0),  # already past
        ("-5", None),
        ("1.5", None),
        ("soon", None),
        ("", None),
        (None, None),
    ],
)
def test_retry_after_header(value: str | bytes | None, seconds: float | None) -> None:
    assert retry_after_seconds(value, NOW) == seconds


def crawler_with(**settings: Any) -> Any:
    crawler = get_crawler(settings_dict=settings)
    crawler.spider = Spider.from_crawler(crawler, name="test")
    return crawler


@pytest.fixture
def slept(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    waits: list[float] = []

    async def sleep(seconds: float) -> None:
        waits.append(seconds)

    monkeypatch.setattr(retry, "sleep", sleep)
    return waits


def respond(
    middleware: RetryAfterMiddleware, request: Request, status: int, **headers: str
) -> Request | Response:
    response = Response(request.url, status=status, headers=headers, request=request)
    return asyncio.run(middleware.process_response(request, response))


@pytest.mark.parametrize(
    ("status", "header", "waits", "capped"),
    [
        (429, "7", [5.0], 1),
        (503, "2", [2.0], 0),
        (503, "Wed, 21 Oct 2015 07:28:00 GMT", [], 0),  # a date in the past: now
        (429, "soon", [], 0),
        (500, None, [], 0),
    ],
)
def test_retry_waits_as_asked_up_to_the_bound(
    slept: list[float],
    caplog: pytest.LogCaptureFixture,
    status: int,
    header: str | None,
    waits: list[float],
    capped: int,
) -> None:
    caplog.set_level(logging.INFO)
    crawler = crawler_with(RETRY_AFTER_MAX=5, RETRY_TIMES=2)
    middleware = RetryAfterMiddleware.from_crawler(crawler)
    request = Request(URL)
    headers = {"Retry-After": header} if header else {}
    result = respond(middleware, request, status, **headers)
    assert isinstance(result, Request)
    assert result.url == URL
    assert result.meta["retry_times"] == 1
    assert slept == waits
    stats = crawler.stats
    assert stats.get_value("retry/count") == 1
    assert stats.get_value("retry/retry_after/waited", 0) == len(waits)
    assert stats.get_value("retry/retry_after/capped", 0) == capped
    if waits:
        bound = " (RETRY_AFTER_MAX)" if capped else ""
        assert (
            f"{URL} answered {status} with Retry-After {header}:"
            f" retrying in {waits[0]:g} s{bound}"
        ) in caplog.text


def test_no_retry_no_wait(slept: list[float]) -> None:
    crawler = crawler_with(RETRY_AFTER_MAX=5, RETRY_TIMES=1)
    middleware = RetryAfterMiddleware.from_crawler(crawler)
    # Not a status to retry.
    request = Request(URL)
    response = respond(middleware, request, 404, **{"Retry-After": "3"})
    assert isinstance(response, Response) and response.status == 404
    # Retries used up: the answer goes to the spider, without waiting for nothing.
    tired = Request(URL, meta={"retry_times": 1})
    response = respond(middleware, tired, 429, **{"Retry-After": "3"})
    assert isinstance(response, Response) and response.status == 429
    # dont_retry.
    response = respond(
        middleware, Request(URL, meta={"dont_retry": True}), 503, **{"Retry-After": "3"}
    )
    assert isinstance(response, Response) and response.status == 503
    assert slept == []
    assert crawler.stats.get_value("retry/max_reached") == 1


# --- Redirects ---------------------------------------------------------------------


def redirect_middleware(**settings: Any) -> SiteRedirectMiddleware:
    crawler = crawler_with(
        SINA_ARTICLE_HOSTS=["finance.sina.com.cn", ".news.sina.com.cn"],
        SINA_FEED_URL="https://feed.mix.sina.com.cn/api/roll/get",
        REDIRECT_MAX_TIMES=3,
        **settings,
    )
    return SiteRedirectMiddleware.from_crawler(crawler)


def redirect(
    middleware: SiteRedirectMiddleware, location: str, request: Request | None = None
) -> Request | Response:
    request = request or Request(URL)
    response = Response(
        request.url, status=301, headers={"Location": location}, request=request
    )
    return middleware.process_response(request, response)


@pytest.mark.parametrize(
    "location",
    [
        "https://finance.sina.com.cn/china/2021-04-20/doc-ikmvwzxq0000001.shtml",
        "/china/2021-04-20/doc-ikmvwzxq0000001.shtml",
        "//k.news.sina.com.cn/c/2021-04-20/doc-ikmvwzxq0000001.shtml",
        "https://feed.mix.sina.com.cn/api/roll/get?page=2",
    ],
)
def test_redirects_on_the_site_are_followed_even_back(location: str) -> None:
    middleware = redirect_middleware()
    followed = redirect(middleware, location)
    assert isinstance(followed, Request)
    assert followed.meta["redirect_urls"] == [URL]
    # Not filtered as a duplicate when it leads back: a loop ends at the limit.
    assert followed.dont_filter


@pytest.mark.parametrize(
    "location",
    [
        "https://evil.example.com/roll/2021-04-20/doc-ikmvwzxq0000001.shtml",
        "https://finance.sina.com.cn.evil.example/x.shtml",
        "https://sina.com.cn/",
        "https://tech.sina.com.cn/x.shtml",  # a Sina host, but not allowed here
        "http://127.0.0.1/x.shtml",
    ],
)
def test_redirects_off_the_site_are_refused(location: str) -> None:
    middleware = redirect_middleware()
    with pytest.raises(IgnoreRequest, match=r"^redirected off-site \(301\) to .*"):
        redirect(middleware, location)
    assert middleware.crawler.stats.get_value("redirect/refused/offsite") == 1


def test_a_redirect_to_the_mobile_page_is_followed_by_default() -> None:
    from newscrawl import settings

    crawler = crawler_with(
        SINA_ARTICLE_HOSTS=settings.SINA_ARTICLE_HOSTS,
        SINA_FEED_URL=settings.SINA_FEED_URL,
    )
    middleware = SiteRedirectMiddleware.from_crawler(crawler)
    mobile = "https://finance.sina.cn/2021-04-20/detail-ikmvwzxq0000001.d.html"
    followed = redirect(middleware, mobile)
    assert isinstance(followed, Request) and followed.url == mobile


def test_a_loop_ends_at_the_limit() -> None:
    middleware = redirect_middleware()
    request = Request(URL)
    other = URL.replace("roll", "china")
    for hop in range(3):
        followed = redirect(middleware, other if hop % 2 == 0 else URL, request)
        assert isinstance(followed, Request)
        request = followed
    with pytest.raises(IgnoreRequest, match="max redirections reached"):
        redirect(middleware, other, request)


def test_meta_refresh_off_the_site_is_refused() -> None:
    crawler = crawler_with(SINA_ARTICLE_HOSTS=[".sina.com.cn"])
    middleware = SiteMetaRefreshMiddleware.from_crawler(crawler)
    request = Request(URL)
    page = b'<html><head><meta http-equiv="refresh" content="0;url=https://evil.example/x"></head></html>'
    response = HtmlResponse(URL, body=page, request=request)
    with pytest.raises(IgnoreRequest, match=r"off-site \(meta refresh\)"):
        middleware.process_response(request, response)
    on_site = page.replace(b"https://evil.example/x", b"/roll/x.shtml")
    followed = middleware.process_response(
        request, HtmlResponse(URL, body=on_site, request=request)
    )
    assert isinstance(followed, Request)
    assert followed.url == "https://finance.sina.com.cn/roll/x.shtml"
