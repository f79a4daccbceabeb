"""The archive as one table (``scrapy export``): its columns, rows and writers.

One row per archived article: the metadata the index keeps of its current file
(``meta``, schema 5), its path, cleaned HTML, plain text, hash, times and number
of captured versions; an incremental export (``--since``) adds each row's change,
and a removed article is a tombstone row (its doc id, path and change; the rest
null).

Pure: values in, bytes out to a stream the caller owns (never closed here), in
Parquet (pyarrow: timestamps in UTC, lists as lists, row groups of bounded size so
that memory stays flat however big the archive), JSON lines or CSV (lists as JSON
arrays). The owner (archive/owner.py ``Archive.dataset``) reads the files and
the index.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import IO, TYPE_CHECKING, Any, Protocol

from newscrawl.archive.fileformat import read_body
from newscrawl.archive.owner import sha256
from newscrawl.text import plain_text, text_length

if TYPE_CHECKING:
    from newscrawl.archive.files import PathRules
    from newscrawl.archive.index import ArticleMeta, IndexRow

FORMATS = ("parquet", "jsonl", "csv")
#: A Parquet row group holds at most this many rows ...
ROW_GROUP_ROWS = 10_000
#: ... and this many characters of HTML and text (about 3 bytes each in UTF-8):
#: the export holds one row group in memory, in Python and again in Arrow.
ROW_GROUP_BYTES = 4 * 1024 * 1024
#: Columns worth a dictionary (few distinct values); not the HTML or the text.
_DICTIONARY = ["channel", "categories", "outlet", "editor", "editor_code", "change"]

# Column name → kind: "str", "list", "time", "int". The order is the table's.
COLUMNS: dict[str, str] = {
    "doc_id": "str",
    "url": "str",
    "channel": "str",
    "categories": "list",
    "title": "str",
    "published": "time",
    "updated": "time",
    "outlet": "str",
    "original_title": "str",
    "editor": "str",
    "editor_code": "str",
    "keywords": "list",
    "stocks": "list",
    "length": "int",
    "path": "str",
    "html": "str",
    "text": "str",
    "sha256": "str",
    "first_archived": "time",
    "last_updated": "time",
    "versions": "int",
    "withdrawn_at": "time",
}
#: The columns an incremental export adds: what changed, when, by which run.
CHANGE_COLUMNS: dict[str, str] = {
    "change": "str",
    "old_path": "str",
    "changed_at": "time",
    "run": "str",
}


@dataclass(frozen=True, slots=True)
class Article:
    """One archived article as the owner reads it: index row, metadata, versions
    and the file's bytes (None if it could not be read)."""

    row: IndexRow
    meta: ArticleMeta | None
    versions: int
    data: bytes | None


class UnreadableError(ValueError):
    """An article file missing or not in the archive format: not exported."""


def columns(incremental: bool) -> dict[str, str]:
    """The table's columns, with the change columns if ``incremental``."""
    return {**COLUMNS, **CHANGE_COLUMNS} if incremental else dict(COLUMNS)


def record(
    article: Article, rules: PathRules, change: dict[str, Any] | None = None
) -> dict[str, Any]:
    """The table row of an article (Python values: datetimes, lists, None).

    The file gives the HTML and text (and so the length); the index its path,
    hash, times and title; the metadata the rest, None where it is not known.
    UnreadableError if the file cannot give its body.
    """
    row, meta = article.row, article.meta
    if article.data is not None and row.sha256 and sha256(article.data) != row.sha256:
        # The export reads the index as it was when it started; a crawl running
        # beside it has rewritten the file since. Exporting these bytes with the
        # older row would mix two versions: the next export has the new one.
        raise UnreadableError(
            f"{row.path}: changed while exporting (a crawl is writing the archive);"
            " export again"
        )
    body = None if article.data is None else read_body(article.data)
    if body is None:
        raise UnreadableError(
            f"{row.path}: "
            + ("file missing" if article.data is None else "not in the archive format")
        )
    # What Hexo needed (FORMAT.md), undone: the text has its braces back.
    text = plain_text(body)
    categories = meta.categories if meta is not None else None
    if categories is None:
        parsed = rules.parse(row.path)
        categories = parsed.categories if parsed and parsed.categories else None
    found: dict[str, Any] = {
        "doc_id": row.doc_id,
        "url": row.url or (meta.url if meta else None) or None,
        "channel": meta.channel if meta else None,
        "categories": None if categories is None else list(categories),
        "title": row.title or (meta.title if meta else None),
        "published": _time(row.published),
        "updated": _time(meta.updated) if meta else None,
        "outlet": _text(meta.outlet) if meta else None,
        "original_title": _text(meta.original_title) if meta else None,
        "editor": _text(meta.editor) if meta else None,
        "editor_code": _text(meta.editor_code) if meta else None,
        "keywords": _list(meta.keywords) if meta else None,
        "stocks": _list(meta.stocks) if meta else None,
        "length": text_length(text),
        "path": row.path,
        "html": body,
        "text": text,
        "sha256": row.sha256,
        "first_archived": _time(row.first_archived),
        "last_updated": _time(row.last_updated),
        "versions": max(article.versions, 1),
        "withdrawn_at": _time(row.withdrawn_at),
    }
    if change is not None:
        found.update(_change(change))
    return found


def tombstone(change: dict[str, Any]) -> dict[str, Any]:
    """The row of an article removed since the point: who it was and where."""
    found: dict[str, Any] = dict.fromkeys(COLUMNS)
    found.update(doc_id=change["doc_id"], path=change["path"])
    found.update(_change(change))
    return found


def _change(change: dict[str, Any]) -> dict[str, Any]:
    return {
        "change": change["change"],
        "old_path": change.get("old_path"),
        "changed_at": _time(change.get("at")),
        "run": change.get("run"),
    }


def _time(value: str | None) -> datetime | None:
    if not value:
        return None
    moment = datetime.fromisoformat(value)
    if moment.tzinfo is None:  # the index writes UTC
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def _text(value: str | None) -> str | None:
    # The page said none ("") and the page is not known (None) read the same to
    # an analyst: null; the index keeps the difference.
    return value or None


def _list(value: tuple[str, ...] | None) -> list[str] | None:
    return None if value is None else list(value)


# --- Writers ---------------------------------------------------------------------


class TableWriter(Protocol):
    """Writes rows to a binary stream it does not own."""

    def write(self, row: dict[str, Any]) -> None: ...

    def close(self) -> None: ...


def writer(fmt: str, stream: IO[bytes], *, incremental: bool) -> TableWriter:
    """The writer of ``fmt`` ("parquet", "jsonl", "csv") onto ``stream``."""
    names = columns(incremental)
    if fmt == "parquet":
        return ParquetWriter(stream, names)
    if fmt == "jsonl":
        return JsonLinesWriter(stream, names)
    if fmt == "csv":
        return CsvWriter(stream, names)
    raise ValueError(f"unknown format {fmt!r}; one of {', '.join(FORMATS)}")


def arrow_schema(names: dict[str, str]) -> Any:
    """The Parquet schema: timestamps in UTC (microseconds), lists of strings."""
    import pyarrow as pa

    kinds = {
        "str": pa.string(),
        "list": pa.list_(pa.string()),
        "time": pa.timestamp("us", tz="UTC"),
        "int": pa.int32(),
    }
    return pa.schema([pa.field(name, kinds[kind]) for name, kind in names.items()])


class ParquetWriter:
    """Parquet, a row group each ``ROW_GROUP_ROWS`` rows or ``ROW_GROUP_BYTES`` of
    text: only one row group is ever held in memory."""

    def __init__(
        self,
        stream: IO[bytes],
        names: dict[str, str],
        *,
        rows: int = ROW_GROUP_ROWS,
        size: int = ROW_GROUP_BYTES,
    ) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        self.schema = arrow_schema(names)
        self.names = list(names)
        self.rows, self.size = rows, size
        self._pending: dict[str, list[Any]] = {name: [] for name in self.names}
        self._count = self._bytes = 0
        # The stream may be a pipe (stdout): written in order, never sought.
        self._sink = pa.PythonFile(stream, mode="w")
        self._writer = pq.ParquetWriter(
            self._sink,
            self.schema,
            compression="zstd",
            use_dictionary=[name for name in _DICTIONARY if name in names],
        )

    def write(self, row: dict[str, Any]) -> None:
        for name in self.names:
            self._pending[name].append(row.get(name))
        self._count += 1
        self._bytes += len(row.get("html") or "") + len(row.get("text") or "")
        if self._count >= self.rows or self._bytes >= self.size:
            self._flush()

    def _flush(self) -> None:
        if not self._count:
            return
        import pyarrow as pa

        batch = pa.RecordBatch.from_pydict(self._pending, schema=self.schema)
        self._writer.write_batch(batch, row_group_size=self._count)
        self._pending = {name: [] for name in self.names}
        self._count = self._bytes = 0

    def close(self) -> None:
        """Write the last row group and the footer (the stream stays open)."""
        self._flush()
        self._writer.close()
        # PythonFile.close would close the caller's stream: flush it only.
        self._sink.flush()


def _plain(value: Any) -> Any:
    """A value as JSON and CSV write it: times in ISO 8601 (UTC)."""
    if isinstance(value, datetime):
        return value.isoformat()
    return value


class JsonLinesWriter:
    """One JSON object a line, UTF-8, lists as arrays, times in ISO 8601."""

    def __init__(self, stream: IO[bytes], names: dict[str, str]) -> None:
        self.stream = stream
        self.names = list(names)

    def write(self, row: dict[str, Any]) -> None:
        line = json.dumps(
            {name: _plain(row.get(name)) for name in self.names}, ensure_ascii=False
        )
        self.stream.write(line.encode("utf-8") + b"\n")

    def close(self) -> None:
        self.stream.flush()


class CsvWriter:
    """CSV (RFC 4180, UTF-8, a header line); lists as JSON arrays, null as empty."""

    def __init__(self, stream: IO[bytes], names: dict[str, str]) -> None:
        self.stream = stream
        self.names = names
        self._text = io.TextIOWrapper(stream, encoding="utf-8", newline="")
        self._csv = csv.writer(self._text)
        self._csv.writerow(list(names))

    def write(self, row: dict[str, Any]) -> None:
        values = []
        for name, kind in self.names.items():
            value = row.get(name)
            if value is None:
                values.append("")
            elif kind == "list":
                values.append(json.dumps(value, ensure_ascii=False))
            else:
                values.append(_plain(value))
        self._csv.writerow(values)

    def close(self) -> None:
        self._text.flush()
        # The wrapper would close the caller's stream when collected.
        self._text.detach()
