"""The WARC files (newscrawl/archive/warc.py): records, revisits, rotation, reading
back, a truncated last record cut off, damage detected."""

from __future__ import annotations

import gzip
import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

import pytest

from newscrawl.archive.warc import (
    WRITING_MARKER,
    DamagedRecordError,
    Fetched,
    WarcWriter,
    payload_digest,
    read_capture,
    repair,
    scan,
    warc_files,
)

URL = "http://127.0.0.1:8000/china/gncj/2021-04-20/doc-ikmvwzxq0000001.shtml"
PAGE = "<html><body><div id='artibody'><p>正文</p></div></body></html>".encode()


def fetched(body: bytes = PAGE, *, encoded: bool = True) -> Fetched:
    headers = [("Content-Type", "text/html; charset=utf-8")]
    if encoded:
        body = gzip.compress(body, mtime=0)
        headers += [("Content-Encoding", "gzip"), ("Transfer-Encoding", "chunked")]
    return Fetched(URL, 200, headers, body, [("Accept-Encoding", "gzip")])


def warcio_check(files: list[Path]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(Path(sys.executable).with_name("warcio")), "check", *map(str, files)],
        capture_output=True,
        text=True,
        check=False,
    )


def test_a_fetch_reads_back_as_sent(tmp_path: Path) -> None:
    writer = WarcWriter(tmp_path)
    capture = writer.write(fetched(), {"kind": "article", "channel": "china"})
    writer.close()
    assert not (tmp_path / WRITING_MARKER).exists()
    record = read_capture(tmp_path, capture.file, capture.offset, capture.length)
    assert record.payload == gzip.compress(PAGE, mtime=0)
    assert record.content() == PAGE
    assert (
        record.payload_digest
        == capture.payload_digest
        == payload_digest(record.payload)
    )
    assert record.metadata == {"kind": "article", "channel": "china"}
    # Scrapy undid the chunking: the record says so by a length of its own.
    assert not record.header("Transfer-Encoding")
    assert record.header("Content-Length") == str(len(record.payload))
    assert warcio_check(warc_files(tmp_path)).returncode == 0


def test_the_same_payload_again_is_a_revisit(tmp_path: Path) -> None:
    writer = WarcWriter(tmp_path)
    first = writer.write(fetched())
    again = writer.write(fetched())
    changed = writer.write(fetched(PAGE + b"<!-- edited -->"))
    writer.close()
    assert (first.revisit, again.revisit, changed.revisit) == (False, True, False)
    assert again.payload_digest == first.payload_digest
    with pytest.raises(DamagedRecordError, match="revisit"):
        read_capture(tmp_path, again.file, again.offset, again.length)
    assert [s.capture.offset for s in scan(tmp_path)] == [
        first.offset,
        changed.offset,
    ]


def test_files_rotate_by_size_with_conventional_names(tmp_path: Path) -> None:
    writer = WarcWriter(tmp_path, prefix="test", max_size=1000)
    captures = [writer.write(fetched(PAGE * n, encoded=False)) for n in (20, 21, 22)]
    writer.close()
    names = [p.name for p in warc_files(tmp_path)]
    assert len(names) == 3
    assert names == sorted({c.file for c in captures})
    for name in names:
        prefix, stamp, serial, _pid = name.removesuffix(".warc.gz").split("-")
        assert prefix == "test"
        assert len(stamp) == 17
        assert stamp.isdigit()
        assert len(serial) == 5
    assert warcio_check(warc_files(tmp_path)).returncode == 0


def test_a_truncated_last_record_is_cut_off_by_the_next_writer(
    tmp_path: Path,
) -> None:
    writer = WarcWriter(tmp_path)
    whole = writer.write(fetched())
    torn = writer.write(fetched(PAGE * 50))
    # Killed in the middle of the second fetch's write: half of it on disk, the
    # file still named by the marker.
    path = tmp_path / whole.file
    assert writer._fd is not None
    os.ftruncate(writer._fd, torn.offset + torn.length // 2)
    os.close(writer._fd)
    assert [s.capture.offset for s in scan(tmp_path)] == [whole.offset]
    assert repair(tmp_path) == [whole.file]
    assert path.stat().st_size == torn.offset
    assert warcio_check([path]).returncode == 0
    read_capture(tmp_path, whole.file, whole.offset, whole.length)


def test_a_damaged_record_is_detected(tmp_path: Path) -> None:
    writer = WarcWriter(tmp_path)
    capture = writer.write(fetched(encoded=False))
    writer.close()
    path = tmp_path / capture.file
    data = bytearray(path.read_bytes())
    data[capture.offset + capture.length // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(DamagedRecordError):
        read_capture(tmp_path, capture.file, capture.offset, capture.length)
    with pytest.raises(DamagedRecordError, match="No such file"):
        read_capture(tmp_path, "gone.warc.gz", 0, 10)


def test_a_writer_remembers_its_recent_captures_and_asks_for_older_ones(
    tmp_path: Path,
) -> None:
    asked: list[tuple[str, tuple[str, ...]]] = []
    earlier = (payload_digest(gzip.compress(PAGE, mtime=0)), "2021-04-20T00:00:00Z")

    def previous(url: str, doc_ids: Sequence[str]) -> tuple[str, str] | None:
        asked.append((url, tuple(doc_ids)))
        return earlier if url == URL else None

    writer = WarcWriter(tmp_path, previous=previous, recent=2)
    # Captured in an earlier run: a revisit of the record the lookup names.
    first = writer.write(fetched(), doc_ids=["ikmvwzxq0000001"])
    assert first.revisit
    assert asked == [(URL, ("ikmvwzxq0000001",))]
    others = [f"http://127.0.0.1:8000/api/roll/get?page={n}" for n in (1, 2)]
    for url in others:
        writer.write(Fetched(url, 200, [], b"{}", []))
    # Two URLs remembered at most: the page's capture was forgotten, and looked up.
    assert list(writer.recent) == others
    again = writer.write(fetched())
    writer.close()
    assert again.revisit
    assert asked[-1] == (URL, ())
    assert len(writer.recent) == 2
    assert warcio_check(warc_files(tmp_path)).returncode == 0
