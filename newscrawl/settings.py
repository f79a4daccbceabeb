"""Scrapy settings of newscrawl: polite defaults for the real site, one comment each.

Project settings are prefixed by component: SINA_* (the site), ARCHIVE_* (the
archive on disk), CLEAN_* (the body cleaner), RUN_* (the outcome of a run).
"""

from __future__ import annotations

from newscrawl.archive import DEFAULT_PATH_TEMPLATE
from newscrawl.sina.channels import DEFAULT_CHANNELS

BOT_NAME = "newscrawl"
SPIDER_MODULES = ["newscrawl.spiders"]
NEWSPIDER_MODULE = "newscrawl.spiders"
# `scrapy crawl` with an exit status for cron (see newscrawl/commands/crawl.py).
COMMANDS_MODULE = "newscrawl.commands"

# --- The site -----------------------------------------------------------------
# The roll feed endpoint; tests and the demo point it at the local replica.
SINA_FEED_URL = "https://feed.mix.sina.com.cn/api/roll/get"
# Hosts whose article URLs the feed may hand us (and redirects may lead to); ".x"
# admits every host under x. Mobile pages are on finance.sina.cn.
SINA_ARTICLE_HOSTS = [".sina.com.cn", ".sina.cn"]
# Channels by name: pageid, lid, three archive categories, author, default image.
SINA_CHANNELS = DEFAULT_CHANNELS
# Channels read when the run names none (-a channels=a,b).
SINA_DEFAULT_CHANNELS = ["china"]
# Feed pages read per channel at most (-a pages=N), 50 items each; a run stops
# earlier at a page that holds nothing new (see ArchivedArticlesMiddleware).
SINA_FEED_PAGES = 10
# Items asked per feed page; Sina caps it at 50.
SINA_FEED_NUM = 50
# A backfill (-a backfill=FROM[:TO]) reads the live feed this often, in seconds, so
# that new articles still arrive while it holds the archive (0: never).
SINA_BACKFILL_LIVE_EVERY = 300
# Longest time, in seconds, a run spends failing to read its first feed page
# (robots.txt and the feed, retries included) before it gives up with exit 3.
SINA_FEED_GIVE_UP = 60
# A long run logs "N of M articles, R/s, ETA" this often, in seconds (0: never).
PROGRESS_INTERVAL = 10

# --- The archive --------------------------------------------------------------
# Where the archive lives; a relative path is relative to the project's folder (that
# of scrapy.cfg), not to the working directory: cron from any folder writes the one
# archive.
ARCHIVE_DIR = "archive"
# Where an article goes inside it (FORMAT.md); every component is validated.
ARCHIVE_PATH_TEMPLATE = DEFAULT_PATH_TEMPLATE
# Header keys added after `thumbnail`, in this order, for Hexo sites that want them:
# "tags" (the page's keywords), "source" (the outlet), "original_url". Empty: the
# seed's format exactly (FORMAT.md). Every field is in the index anyway
# (`scrapy export`).
ARCHIVE_EXTRA_FIELDS: list[str] = []

# One INFO line per article written ("Archived <path> (<url>)"); off by default:
# a cron run logs its summary, and the stats count every article.
ARCHIVE_LOG_ARTICLES = False

# Group commit: articles are made durable in batches (their files, folders, WARC
# records and index rows: one fsync each per batch, not per article). A batch is
# committed once it holds this many articles, or this many seconds after its first,
# and at the end of the run; an article counts as archived (stats, `changes`, the
# run record, the distributed hand-over) only then. A kill -9 re-fetches at most
# the open batch, and loses nothing. Batch 1: every article durable on its own;
# interval 0: no time limit.
ARCHIVE_COMMIT_BATCH = 50
ARCHIVE_COMMIT_INTERVAL = 1.0

# The raw capture: every fetched page as WARC/1.1 records (newscrawl/capture.py),
# the archive's source of truth (`scrapy rebuild`, `scrapy history`).
ARCHIVE_WARC_ENABLED = True
# Where the WARC files go; empty: <ARCHIVE_DIR>/.newscrawl/warc/ (relative: to
# ARCHIVE_DIR).
ARCHIVE_WARC_DIR = ""
# A WARC file is closed and the next one started past this many bytes.
ARCHIVE_WARC_MAX_SIZE = 100 * 1024 * 1024

# The spider hands over articles already cleaned (newscrawl/page.py); those it
# refused are dropped first, with their reason.
ITEM_PIPELINES = {
    "newscrawl.pipelines.ValidatePipeline": 200,
    "newscrawl.pipelines.ArchivePipeline": 300,
}

EXTENSIONS = {
    # One summary line and the exit status of the run.
    "newscrawl.extensions.RunOutcome": 500,
    # "N of M articles, R/s, ETA" every PROGRESS_INTERVAL s; a bar on a terminal.
    "newscrawl.progress.Progress": 510,
}
# A run fails (exit 4) when more than this share of its articles failed.
RUN_MAX_FAILED_RATIO = 0.2
# An article whose title and body text have more than this share of characters no
# encoding could read (U+FFFD) is not archived: its text is no longer the article.
CLEAN_MAX_REPLACEMENT_RATIO = 0.01

# --- Politeness towards the real site -------------------------------------------
USER_AGENT = "newscrawl/0.1 (+https://github.com/newscrawl/newscrawl; news archiver)"
ROBOTSTXT_OBEY = True
SPIDER_MIDDLEWARES = {
    # Archived, unchanged articles are not requested at all.
    "newscrawl.middlewares.ArchivedArticlesMiddleware": 950,
}
DOWNLOADER_MIDDLEWARES = {
    # Before robots.txt: a run gives up on an unreachable feed after SINA_FEED_GIVE_UP.
    "newscrawl.middlewares.FeedDeadlineMiddleware": 50,
    # Scrapy's, with a one-line log instead of a traceback when robots.txt fails.
    "scrapy.downloadermiddlewares.robotstxt.RobotsTxtMiddleware": None,
    "newscrawl.middlewares.QuietRobotsTxtMiddleware": 100,
    # Scrapy's, waiting as long as a 429/503's Retry-After asks (RETRY_AFTER_MAX).
    "scrapy.downloadermiddlewares.retry.RetryMiddleware": None,
    "newscrawl.retry.RetryAfterMiddleware": 550,
    # Scrapy's, refusing redirects off the site's hosts and ending loops in an error.
    "scrapy.downloadermiddlewares.redirect.MetaRefreshMiddleware": None,
    "newscrawl.retry.SiteMetaRefreshMiddleware": 580,
    "scrapy.downloadermiddlewares.redirect.RedirectMiddleware": None,
    "newscrawl.retry.SiteRedirectMiddleware": 600,
    # After HttpCompressionMiddleware (590) for responses: sees the bytes as sent.
    "newscrawl.capture.WarcCaptureMiddleware": 950,
}
CONCURRENT_REQUESTS = 8
# An article page gives one item: Scrapy's default (100) starts 100 asyncio workers
# per page to process it, the crawl's largest cost after parsing.
CONCURRENT_ITEMS = 4
# Scrapy reads the source of a callback before every call to warn about a generator
# that returns a value; its cache misses on bound methods, so it parsed the spider's
# source once per page (about 4 % of a crawl's CPU). None of the spider's
# callbacks returns a value.
WARN_ON_GENERATOR_RETURN_VALUE = False
CONCURRENT_REQUESTS_PER_DOMAIN = 2
DOWNLOAD_DELAY = 0.5
AUTOTHROTTLE_ENABLED = True
AUTOTHROTTLE_START_DELAY = 1.0
AUTOTHROTTLE_MAX_DELAY = 30.0
AUTOTHROTTLE_TARGET_CONCURRENCY = 1.0
DOWNLOAD_TIMEOUT = 30
RETRY_ENABLED = True
RETRY_TIMES = 3
RETRY_HTTP_CODES = [429, 500, 502, 503, 504, 522, 524, 408]
# Longest wait, in seconds, that a Retry-After header gets before a retry.
RETRY_AFTER_MAX = 60
# Sina moves a page once, to its new section or host; a chain longer than this loops.
REDIRECT_MAX_TIMES = 5
# The spider's errbacks log the one ERROR line that names what failed and why.
RETRY_GIVE_UP_LOG_LEVEL = "WARNING"
# Sina's pages are 100-400 KB; anything past this is not an article.
DOWNLOAD_MAXSIZE = 16 * 1024 * 1024
DOWNLOAD_WARNSIZE = 4 * 1024 * 1024
DEFAULT_REQUEST_HEADERS = {
    "Accept": "text/html,application/xhtml+xml,application/json;q=0.9,*/*;q=0.8",
    "Accept-Language": "zh-CN,zh;q=0.9",
}
COOKIES_ENABLED = False
# No listening ports: a cron job needs neither a telnet console nor remote control.
TELNETCONSOLE_ENABLED = False
REMOTE_CONTROL_ENABLED = False

# Opt-in HTTP cache for development: scrapy crawl sina_finance -s HTTPCACHE_ENABLED=1
HTTPCACHE_ENABLED = False
HTTPCACHE_DIR = "httpcache"
HTTPCACHE_EXPIRATION_SECS = 3600

# --- Distributed mode (README.md, "Distributed mode") ---------------------------
ADDONS = {
    # With REDIS_URL set: scrapy-redis scheduler, hand-over to `scrapy writer`.
    "newscrawl.distributed.addon.DistributedMode": 0,
}
# The Redis server workers and the writer share (redis://host:6379/0); empty: one
# machine, no Redis.
REDIS_URL = ""
# Prefix of every Redis key of this deployment: one per archive on a shared Redis.
REDIS_KEY_PREFIX = "newscrawl"
# Seconds without a heartbeat after which a worker counts as dead (its requests
# are then left to the next run).
REDIS_WORKER_TIMEOUT = 30
# Workers wait while this many hand-overs wait for the writer: each holds the raw
# page (README.md, "Distributed mode", for Redis memory per waiting article).
REDIS_HANDOFF_MAX_WAITING = 500

# --- Logs ------------------------------------------------------------------------
LOG_LEVEL = "INFO"
# Drops are logged as one line with the reason, not with the whole item.
LOG_FORMATTER = "newscrawl.logformatter.ArticleLogFormatter"

FEED_EXPORT_ENCODING = "utf-8"
