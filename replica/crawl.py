"""How to point ``scrapy crawl sina_finance`` at a replica: the settings to override.

The real-site defaults in newscrawl/settings.py are polite (AutoThrottle, two
requests per host, half a second between them). Against our own server on
127.0.0.1 that politeness only slows tests, the demo and the benchmarks down, so
these runs lift it; nothing else changes.
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

from newscrawl.archive.index import index_path

#: Settings of every crawl against a replica, besides the feed URL and hosts.
REPLICA_SETTINGS: dict[str, str] = {
    "AUTOTHROTTLE_ENABLED": "False",
    "DOWNLOAD_DELAY": "0",
    "CONCURRENT_REQUESTS": "16",
    "CONCURRENT_REQUESTS_PER_DOMAIN": "16",
    "RETRY_TIMES": "1",
    "DOWNLOAD_TIMEOUT": "10",
}

#: The project's root: where scrapy.cfg is, so `scrapy crawl` finds the project.
PROJECT_ROOT = Path(__file__).resolve().parent.parent


def crawl_command(
    feed_url: str,
    archive_dir: Path | str,
    *spider_args: str,
    settings: dict[str, str] | None = None,
) -> list[str]:
    """The argv of ``scrapy crawl sina_finance`` against the replica at ``feed_url``.

    ``spider_args`` are ``name=value`` spider arguments (``pages=3``).
    """
    host = feed_url.split("/")[2].split(":")[0]
    overrides = {
        **REPLICA_SETTINGS,
        "SINA_FEED_URL": feed_url,
        "SINA_ARTICLE_HOSTS": host,
        "ARCHIVE_DIR": str(archive_dir),
        **(settings or {}),
    }
    argv = [sys.executable, "-m", "scrapy", "crawl", "sina_finance"]
    for name, value in overrides.items():
        argv += ["-s", f"{name}={value}"]
    for arg in spider_args:
        argv += ["-a", arg]
    return argv


def run_crawl(
    feed_url: str,
    archive_dir: Path | str,
    *spider_args: str,
    settings: dict[str, str] | None = None,
    timeout: float = 300,
) -> subprocess.CompletedProcess[str]:
    """Run the crawl in a subprocess from the project root; capture its output."""
    return subprocess.run(
        crawl_command(feed_url, archive_dir, *spider_args, settings=settings),
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
        check=False,
    )


def archived_count(archive: Path) -> int:
    """Articles the index of ``archive`` counts as archived (0 before it exists),
    read without the archive's owner: tests and benchmarks watch a crawl that
    another process is running."""
    path = index_path(archive)
    if not path.exists():
        return 0
    db = sqlite3.connect(path)
    try:
        found = db.execute("SELECT count(*) FROM articles WHERE sha256 IS NOT NULL")
        return int(found.fetchone()[0])
    finally:
        db.close()
