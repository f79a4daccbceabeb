"""The project's own Scrapy signals."""

from __future__ import annotations

#: Sent by the archive pipeline after an article's file and index row are durable.
#: Arguments: ``path`` (archive-relative), ``change`` ("created", "updated" or
#: "moved") and ``old_path`` (where a moved article was, else None).
article_archived = object()
