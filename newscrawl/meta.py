"""Request meta keys the spider sets and the archive middleware reads."""

from __future__ import annotations

#: On feed page requests: the page number.
FEED_PAGE = "newscrawl_feed_page"
#: On article requests from the feed: the doc id and the feed item's mtime.
DOC_ID = "newscrawl_doc_id"
FEED_MTIME = "newscrawl_feed_mtime"
#: On feed window requests (backfill): the Beijing day, YYYY-MM-DD.
FEED_DAY = "newscrawl_feed_day"
