"""The project's own Scrapy signals."""

from __future__ import annotations

#: Sent by the archive pipeline after an article's file and index row are durable.
#: Arguments: ``path`` (archive-relative), ``change`` ("created" or "updated").
article_archived = object()
