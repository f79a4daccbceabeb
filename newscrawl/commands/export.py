"""``scrapy export``: the archive as one table (Parquet, JSON lines or CSV)."""

from __future__ import annotations

import contextlib
import os
import sqlite3
import sys
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from scrapy.exceptions import UsageError

from newscrawl.archive.changes import UnknownPointError, changes_since
from newscrawl.archive.dataset import (
    FORMATS,
    Article,
    TableWriter,
    UnreadableError,
    record,
    tombstone,
    writer,
)
from newscrawl.archive.files import fsync_dir
from newscrawl.archive_command import ArchiveCommand
from newscrawl.extensions import ExitStatus

if TYPE_CHECKING:
    import argparse
    from collections.abc import Iterator

    from newscrawl.archive.owner import Archive

#: Unreadable files named one by one; past this many, only counted.
NAMED = 10
#: An incremental export reads the changed articles this many at a time.
CHUNK = 500


class Command(ArchiveCommand):
    """Writes every archived article (or what changed since a point) as one row."""

    def syntax(self) -> str:
        return "[--format parquet|jsonl|csv] [--since <run | date | time>] -o FILE|-"

    def short_desc(self) -> str:
        return "Export the archive as one table: Parquet, JSON lines or CSV"

    def add_options(self, parser: argparse.ArgumentParser) -> None:
        super().add_options(parser)
        parser.add_argument(
            "--format",
            choices=FORMATS,
            default=None,
            help="parquet, jsonl or csv (default: the output's extension, else"
            " parquet)",
        )
        parser.add_argument(
            "-o",
            "--output",
            required=True,
            help="the file to write (written whole or not at all), or - for stdout",
        )
        parser.add_argument(
            "--since",
            default=None,
            help="only what changed since a run id, a date (a Beijing day) or a"
            " time, as `scrapy changes`; each row gets its change, removed articles"
            " a tombstone row",
        )

    def run(self, args: list[str], opts: argparse.Namespace) -> None:
        if args:
            raise UsageError(f"unexpected argument(s): {' '.join(args)}")
        fmt = opts.format or _format_of(opts.output)
        index = self.open_index()
        if index is None:
            return
        index.close()
        owner = self.owner()
        try:
            changes = None
            if opts.since is not None:
                try:
                    changes = changes_since(self.archive, owner.index, opts.since)
                except UnknownPointError as exc:
                    raise UsageError(str(exc)) from exc
            with _output(opts.output) as stream:
                table = writer(fmt, stream, incremental=changes is not None)
                rows, unreadable = self.write(owner, table, changes)
                table.close()
        except (sqlite3.DatabaseError, OSError) as exc:
            self.say(f"newscrawl: export failed, nothing written: {exc}")
            self.exitcode = int(ExitStatus.ARCHIVE_FAILED)
            return
        finally:
            owner.close()
        for line in unreadable[:NAMED]:
            self.say(f"not exported: {line}")
        more = len(unreadable) - NAMED
        if more > 0:
            self.say(f"… and {more} more not exported")
        where = "stdout" if opts.output == "-" else opts.output
        self.say(
            f"export: {rows} rows ({fmt}) to {where}"
            + (f", {len(unreadable)} article(s) unreadable" if unreadable else "")
        )
        self.exitcode = 1 if unreadable else 0

    def write(
        self,
        owner: Archive,
        table: TableWriter,
        changes: list[dict[str, Any]] | None,
    ) -> tuple[int, list[str]]:
        """Write the rows; their number and the articles that could not be read."""
        rows = 0
        unreadable: list[str] = []
        for found, change in self.articles(owner, changes):
            try:
                if found is not None:
                    row = record(found, owner.rules, change)
                elif change is not None:
                    row = tombstone(change)
                else:
                    continue
            except UnreadableError as exc:
                unreadable.append(str(exc))
                continue
            table.write(row)
            rows += 1
            self.progress(rows)
        return rows, unreadable

    def articles(
        self, owner: Archive, changes: list[dict[str, Any]] | None
    ) -> Iterator[tuple[Article | None, dict[str, Any] | None]]:
        """Every article, or those of ``changes`` in their order (None: removed)."""
        if changes is None:
            for row, meta, versions, data in owner.dataset():
                yield Article(row, meta, versions, data), None
            return
        # In chunks, in the journal's order: the files of a chunk are in memory.
        for start in range(0, len(changes), CHUNK):
            chunk = changes[start : start + CHUNK]
            wanted = [c["doc_id"] for c in chunk if c["change"] != "removed"]
            found = {
                row.doc_id: Article(row, meta, versions, data)
                for row, meta, versions, data in owner.dataset(wanted)
            }
            for change in chunk:
                article = found.pop(change["doc_id"], None)
                if change["change"] == "removed" or article is not None:
                    yield article, change


def _format_of(output: str) -> str:
    suffix = Path(output).suffix.lower().lstrip(".")
    return {"parquet": "parquet", "pq": "parquet", "jsonl": "jsonl", "csv": "csv"}.get(
        suffix, "parquet"
    )


@contextlib.contextmanager
def _output(output: str) -> Iterator[IO[bytes]]:
    """stdout, or a temporary file beside ``output`` renamed onto it once whole:
    a failed or killed export leaves the previous file as it was."""
    if output == "-":
        yield sys.stdout.buffer
        sys.stdout.buffer.flush()
        return
    target = Path(output)
    temp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    try:
        with temp.open("wb") as stream:
            yield stream
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(temp, target)
        fsync_dir(target.parent)
    finally:
        temp.unlink(missing_ok=True)
