"""Request meta keys the spider sets and the archive middleware reads."""

from __future__ import annotations

#: On feed page requests: the page number.
FEED_PAGE = "newscrawl_feed_page"
#: On article requests from the feed: the doc id and the feed item's mtime.
DOC_ID = "newscrawl_doc_id"
FEED_MTIME = "newscrawl_feed_mtime"
#: On every captured request's response: where its WARC response record is (a
#: Capture as a dict; newscrawl/capture.py).
WARC_CAPTURE = "newscrawl_warc_capture"
#: Distributed mode, on an article page's response: the fetch itself (JSON text,
#: the body in base64), until the article or a ``withdrawn`` note takes it to the
#: writer; left there, it is handed over alone (newscrawl/distributed/capture.py).
WARC_FETCH = "newscrawl_warc_fetch"
#: On feed window requests (backfill): the Beijing day, YYYY-MM-DD.
FEED_DAY = "newscrawl_feed_day"
