"""Downloader middlewares: Scrapy's own, adjusted where their logs mislead a user."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from scrapy.downloadermiddlewares import robotstxt
from scrapy.downloadermiddlewares.robotstxt import RobotsTxtMiddleware

if TYPE_CHECKING:
    from scrapy.crawler import Crawler


class _OneLine(logging.Filter):
    """Turns the robots.txt download error into one WARNING line, no traceback.

    An unreachable robots.txt means the site is unreachable; the request that needed
    it fails next with its own, clearer error. A traceback here only buries that.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno >= logging.ERROR and record.exc_info:
            record.exc_info = None
            record.exc_text = None
            record.levelno, record.levelname = logging.WARNING, "WARNING"
        return True


class QuietRobotsTxtMiddleware(RobotsTxtMiddleware):
    """Scrapy's robots.txt middleware with a one-line log when robots.txt fails."""

    _filter = _OneLine()

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> QuietRobotsTxtMiddleware:
        robotstxt.logger.addFilter(cls._filter)  # idempotent for the same filter
        return cls(crawler)
