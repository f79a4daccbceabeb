"""The item exporter of the archive format (newscrawl/archive/fileformat.py)."""

from __future__ import annotations

from typing import IO, Any

from itemadapter import ItemAdapter
from scrapy.exporters import BaseItemExporter

from newscrawl.archive.fileformat import (
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
    """

    def __init__(self, file: IO[bytes], **kwargs: Any) -> None:
        super().__init__(dont_fail=True, **kwargs)
        self.file = file
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
        )
        self.file.write(text.encode(self.encoding or "utf-8"))
