"""Distributed mode: crawl workers on many machines, one archive writer, Redis between.

Workers are ordinary ``scrapy crawl sina_finance`` processes whose scheduler is
scrapy-redis's, on a shared Redis server; they hand finished articles over through
Redis to the one archive writer (``scrapy writer``), which writes them with the same
pipeline, exporter and index as a single-machine run. Everything is switched on by
the ``REDIS_URL`` setting alone (see addon.py): without it, nothing here is loaded
and no Redis is needed. README.md, "Distributed mode", tells how to run it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from scrapy.settings import BaseSettings


def enabled(settings: BaseSettings) -> bool:
    """Whether these settings ask for the distributed mode (``REDIS_URL`` is set)."""
    return bool(settings.get("REDIS_URL"))
