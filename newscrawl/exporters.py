"""The item exporter of the archive format (newscrawl/archive/fileformat.py)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import IO, Any

from itemadapter import ItemAdapter
from scrapy.exporters import BaseItemExporter

from newscrawl.archive.fileformat import (
    EXTRA_FIELDS,
    FormatError,
    escape_braces,
    format_article,
    header_value,
    quote_title,
    read_article,
)

__all__ = [
    "FormatError",
    "FrontMatterItemExporter",
    "escape_braces",
    "format_article",
    "header_value",
    "quote_title",
    "read_article",
]


class FrontMatterItemExporter(BaseItemExporter):
    """Writes each article as one front-matter document (FORMAT.md), UTF-8 bytes.

    The stream belongs to the caller: the exporter writes to it and never closes it.
    ``extra_fields`` (``ARCHIVE_EXTRA_FIELDS``, checked) adds header keys after
    ``thumbnail``: ``tags`` (the keywords), ``source`` (the outlet),
    ``original_url``.
    """

    def __init__(
        self, file: IO[bytes], *, extra_fields: Sequence[str] = (), **kwargs: Any
    ) -> None:
        super().__init__(dont_fail=True, **kwargs)
        self.file = file
        self.extra_fields = tuple(extra_fields)
        if not self.encoding:
            self.encoding = "utf-8"

    def export_item(self, item: Any) -> None:
        """Write ``item`` (an Article or any item with the same fields)."""
        adapter = ItemAdapter(item)
        text = format_article(
            title=adapter["title"],
            categories=adapter["categories"],
            image=adapter["image"] or adapter["default_image"],
            author=adapter["author"],
            published=adapter["published"],
            body=adapter["body"],
            extra=[
                (name, adapter.get(EXTRA_FIELDS[name]) or ())
                if name == "tags"
                else (name, adapter.get(EXTRA_FIELDS[name]) or "")
                for name in self.extra_fields
            ],
        )
        self.file.write(text.encode(self.encoding or "utf-8"))
