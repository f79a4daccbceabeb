"""The raw capture: what the server sent, as WARC/1.1 files (ISO 28500), via warcio.

Every page the crawl fetches is written as a ``response`` record (or a ``revisit``
when its payload is the one last captured for its URL), a ``request`` record and,
for an article page, a ``metadata`` record (the feed item and channel it was
fetched for: what ``scrapy rebuild`` needs to re-derive the article from the
capture alone). The three go to disk in one write, gzip per record, before the
page goes on to the spider; they are made durable (fsync, ``sync``) once per batch
of the archive owner's group commit, before the index rows of that batch: an
article is counted as archived only after its capture is on disk.

Files are rotated by size and named ``<prefix>-<UTC timestamp>-<serial>-<pid>.warc.gz``.
While a file is being written, ``<warc dir>/.writing`` names it; a run that was
killed leaves that marker, and the next writer cuts the file back to its last whole
record (a kill leaves at most a truncated last record, never indexed).
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import io
import json
import logging
import os
import zlib
from collections import OrderedDict
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from http import HTTPStatus
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from warcio.archiveiterator import ArchiveIterator
from warcio.recordloader import ArcWarcRecord
from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

from newscrawl.archive.files import STATE_DIR, fsync_dir

logger = logging.getLogger(__name__)

WARC_SUFFIX = ".warc.gz"
#: Names the file being written; left behind by a killed run.
WRITING_MARKER = ".writing"
#: ARCHIVE_WARC_MAX_SIZE's default: a file is closed past this many bytes.
DEFAULT_MAX_SIZE = 100 * 1024 * 1024
# Metadata as WARC fields, as Heritrix writes it: replay tools (pywb) skip such
# records instead of replaying them for the URL. One field holds our JSON.
METADATA_TYPE = "application/warc-fields"
METADATA_FIELD = "newscrawl-fetch"
#: How many URLs' last captures a writer remembers itself (the most recent ones);
#: the index answers for the rest, so a writer's memory stays the same however
#: many versions the archive holds, and however long a distributed writer runs.
RECENT_URLS = 1024
# Headers that describe the transfer, not the payload: Scrapy hands over the body
# de-chunked, so a stored "Transfer-Encoding: chunked" would lie about it.
_TRANSFER_HEADERS = frozenset({"transfer-encoding"})


@dataclass(frozen=True, slots=True)
class Capture:
    """Where one fetch's response (or revisit) record is, and what it holds."""

    file: str  # the WARC file's name, in the WARC folder
    offset: int
    length: int  # of the gzip member of the record
    fetched: str  # ISO 8601, UTC, microseconds: the record's WARC-Date
    payload_digest: str  # "sha1:<base32>", as WARC-Payload-Digest
    url: str
    status: int
    revisit: bool = False  # the payload is that of the URL's previous capture

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Capture:
        return cls(**{k: data[k] for k in cls.__dataclass_fields__ if k in data})


@dataclass(frozen=True, slots=True)
class Fetched:
    """A response as the server sent it: the status, headers and body bytes."""

    url: str
    status: int
    headers: list[tuple[str, str]]
    body: bytes
    request_headers: list[tuple[str, str]]
    method: str = "GET"
    protocol: str = "HTTP/1.1"


def fetch_to_json(fetched: Fetched, metadata: Mapping[str, Any] | None) -> str:
    """A fetch and its metadata as JSON text (the body in base64): the distributed
    mode hands it over with the article."""
    values = asdict(fetched)
    values["body"] = base64.b64encode(fetched.body).decode("ascii")
    return json.dumps({"fetch": values, "metadata": metadata}, ensure_ascii=False)


def fetch_from_json(text: str) -> tuple[Fetched, dict[str, Any] | None]:
    """The fetch and metadata of ``fetch_to_json``; ValueError if it is not one."""
    try:
        found = json.loads(text)
        values = dict(found["fetch"])
        values["body"] = base64.b64decode(values["body"], validate=True)
        values["headers"] = [(str(k), str(v)) for k, v in values["headers"]]
        values["request_headers"] = [
            (str(k), str(v)) for k, v in values["request_headers"]
        ]
        fetched = Fetched(**values)
        metadata = found["metadata"]
    except (KeyError, TypeError, ValueError) as exc:
        raise ValueError(f"not a handed-over fetch ({exc!r})") from exc
    if (
        type(fetched.status) is not int  # nor a bool
        or not 100 <= fetched.status <= 999
        or not all(
            isinstance(v, str) for v in (fetched.url, fetched.method, fetched.protocol)
        )
    ):
        raise ValueError("not a handed-over fetch (status, url, method, protocol)")
    return fetched, metadata if isinstance(metadata, dict) else None


def payload_digest(body: bytes) -> str:
    """WARC-Payload-Digest of ``body``: SHA-1, base32, as warcio and pywb write it."""
    return "sha1:" + base64.b32encode(hashlib.sha1(body).digest()).decode("ascii")


def warc_dir(archive_root: Path, setting: str = "") -> Path:
    """``ARCHIVE_WARC_DIR``, or ``<archive>/.newscrawl/warc`` when empty."""
    if not setting:
        return archive_root / STATE_DIR / "warc"
    folder = Path(setting)
    return folder if folder.is_absolute() else archive_root / folder


def warc_files(folder: Path) -> list[Path]:
    """The WARC files of ``folder``, oldest first (their names sort by time)."""
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if p.name.endswith(WARC_SUFFIX))


def _warc_date(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


#: The last capture of a URL the writer does not remember itself: (payload
#: digest, WARC-Date) or None, given the URL and the doc ids it may be filed under.
LastCapture = Callable[[str, Sequence[str]], "tuple[str, str] | None"]


def _never_captured(url: str, doc_ids: Sequence[str]) -> tuple[str, str] | None:
    return None


class WarcWriter:
    """Appends fetches to rotating WARC files in ``folder``; one per process."""

    def __init__(
        self,
        folder: Path,
        *,
        prefix: str = "newscrawl",
        max_size: int = DEFAULT_MAX_SIZE,
        previous: LastCapture = _never_captured,
        recent: int = RECENT_URLS,
    ) -> None:
        self.folder = folder
        self.prefix = prefix
        self.max_size = max_size
        self._fd: int | None = None
        self._name = ""
        self._size = 0
        #: Bytes written since the last fsync (``sync``).
        self._unsynced = False
        self._serial = 0
        #: Where the last capture of a URL not in ``recent`` is looked up.
        self.previous = previous
        #: url -> (payload digest, WARC-Date) of the last captures this writer
        #: wrote, the ``recent_size`` most recent only: revisits.
        self.recent: OrderedDict[str, tuple[str, str]] = OrderedDict()
        self.recent_size = recent
        self.repaired: list[str] = []

    # --- Files ------------------------------------------------------------------------

    def _open(self) -> None:
        if not self.repaired and not self._serial:
            self.folder.mkdir(parents=True, exist_ok=True)
            self.repaired = repair(self.folder)
        stamp = datetime.now(UTC).strftime("%Y%m%d%H%M%S%f")[:17]
        name = f"{self.prefix}-{stamp}-{self._serial:05d}-{os.getpid()}{WARC_SUFFIX}"
        self._serial += 1
        marker = self.folder / WRITING_MARKER
        marker.write_text(name + "\n", encoding="utf-8")
        fd = os.open(
            self.folder / name,
            os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_EXCL,
            0o644,
        )
        self._fd, self._name, self._size = fd, name, 0
        try:
            self._append(self._warcinfo(name))
        except OSError:
            self.close()
            raise
        fsync_dir(self.folder)

    def _warcinfo(self, name: str) -> bytes:
        buffer = io.BytesIO()
        writer = WARCWriter(buffer, gzip=True, warc_version="1.1")
        writer.write_record(
            writer.create_warcinfo_record(
                name,
                {"software": "newscrawl (warcio)", "format": "WARC File Format 1.1"},
            )
        )
        return buffer.getvalue()

    def _append(self, data: bytes) -> int:
        """Write ``data`` at the end of the current file; its offset. Durable
        only once ``sync`` returned (the archive owner's batch commit).

        A failed write is cut off again, so the file ends with a whole record.
        """
        assert self._fd is not None
        offset = self._size
        try:
            view = memoryview(data)
            while view:
                written = os.write(self._fd, view)
                view = view[written:]
        except OSError:
            with contextlib.suppress(OSError):  # else the next run's repair cuts it
                os.ftruncate(self._fd, offset)
            raise
        self._size = offset + len(data)
        self._unsynced = True
        return offset

    def sync(self) -> None:
        """Make every record written so far durable (one fsync of the file)."""
        if self._fd is not None and self._unsynced:
            os.fsync(self._fd)
            self._unsynced = False

    def close(self) -> None:
        """Close the current file, durable; it is whole, so the marker goes."""
        if self._fd is None:
            return
        try:
            self.sync()
        finally:
            os.close(self._fd)
            self._fd = None
        (self.folder / WRITING_MARKER).unlink(missing_ok=True)

    # --- Records ----------------------------------------------------------------------

    def last_capture(
        self, url: str, doc_ids: Sequence[str] = ()
    ) -> tuple[str, str] | None:
        """(payload digest, WARC-Date) of the last response record of ``url``."""
        found = self.recent.get(url)
        if found is not None:
            self.recent.move_to_end(url)
            return found
        return self.previous(url, doc_ids)

    def _remember(self, url: str, last: tuple[str, str]) -> None:
        self.recent[url] = last
        self.recent.move_to_end(url)
        while len(self.recent) > self.recent_size:
            self.recent.popitem(last=False)

    def write(
        self,
        fetched: Fetched,
        metadata: Mapping[str, Any] | None = None,
        doc_ids: Sequence[str] = (),
    ) -> Capture:
        """Write one fetch (response or revisit, request, metadata); durable once
        ``sync`` returned. OSError if the disk refuses (nothing of it is kept).

        ``doc_ids``: the articles the page may be filed under in the index (the
        feed's, the URL's), where its last capture is looked up for a revisit.
        """
        if self._fd is None or self._size >= self.max_size:
            self.close()
            self._open()
        now = datetime.now(UTC)
        date = _warc_date(now)
        digest = payload_digest(fetched.body)
        before = self.last_capture(fetched.url, doc_ids)
        revisit = before is not None and before[0] == digest
        buffer = io.BytesIO()
        writer = WARCWriter(buffer, gzip=True, warc_version="1.1")
        http = StatusAndHeaders(
            f"{fetched.status} {_reason(fetched.status)}",
            [(k, v) for k, v in fetched.headers if k.lower() not in _TRANSFER_HEADERS],
            protocol=fetched.protocol,
        )
        if revisit:
            assert before is not None
            record = writer.create_revisit_record(
                fetched.url, digest, fetched.url, before[1], http_headers=http
            )
            record.rec_headers.replace_header("WARC-Date", date)
        else:
            if not any(k.lower() == "content-length" for k, _ in http.headers):
                http.headers.append(("Content-Length", str(len(fetched.body))))
            record = writer.create_warc_record(
                fetched.url,
                "response",
                payload=io.BytesIO(fetched.body),
                length=len(fetched.body),
                http_headers=http,
                warc_headers_dict={"WARC-Date": date, "WARC-Payload-Digest": digest},
            )
        response_id = record.rec_headers.get_header("WARC-Record-ID")
        writer.write_record(record)
        length = buffer.tell()
        parts = urlsplit(fetched.url)
        target = parts.path or "/"
        if parts.query:
            target += "?" + parts.query
        request = writer.create_warc_record(
            fetched.url,
            "request",
            payload=io.BytesIO(b""),
            length=0,
            http_headers=StatusAndHeaders(
                f"{fetched.method} {target} {fetched.protocol}",
                [("Host", parts.netloc), *fetched.request_headers],
                is_http_request=True,
            ),
            warc_headers_dict={"WARC-Date": date, "WARC-Concurrent-To": response_id},
        )
        writer.write_record(request)
        if metadata is not None:
            body = (
                f"{METADATA_FIELD}: {json.dumps(metadata, sort_keys=True)}\r\n"
            ).encode("ascii")
            writer.write_record(
                writer.create_warc_record(
                    fetched.url,
                    "metadata",
                    payload=io.BytesIO(body),
                    length=len(body),
                    warc_content_type=METADATA_TYPE,
                    warc_headers_dict={
                        "WARC-Date": date,
                        "WARC-Concurrent-To": response_id,
                    },
                )
            )
        offset = self._append(buffer.getvalue())
        self._remember(
            fetched.url, (digest, before[1]) if revisit and before else (digest, date)
        )
        return Capture(
            file=self._name,
            offset=offset,
            length=length,
            fetched=now.isoformat(timespec="microseconds"),
            payload_digest=digest,
            url=fetched.url,
            status=fetched.status,
            revisit=revisit,
        )


def _reason(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Unknown"


# --- Reading -----------------------------------------------------------------------


class DamagedRecordError(ValueError):
    """A record cannot be read where the index says it is, or is not what it says."""


@dataclass(frozen=True, slots=True)
class Record:
    """A response record read back: what the server sent, and the fetch's notes."""

    url: str
    date: str
    status: int
    headers: list[tuple[str, str]]
    payload: bytes  # the body as sent (Content-Encoding still applied)
    payload_digest: str
    metadata: dict[str, Any] | None = None

    def header(self, name: str) -> str:
        for key, value in self.headers:
            if key.lower() == name.lower():
                return value
        return ""

    def content(self) -> bytes:
        """The body with its Content-Encoding undone: the page the spider read."""
        encoding = self.header("content-encoding").strip().lower()
        if encoding in ("gzip", "x-gzip"):
            return zlib.decompress(self.payload, 31)
        if encoding == "deflate":
            try:
                return zlib.decompress(self.payload)
            except zlib.error:
                return zlib.decompress(self.payload, -15)
        return self.payload


def _record_of(record: ArcWarcRecord) -> Record:
    payload = record.raw_stream.read()
    http = record.http_headers
    status = int(http.get_statuscode()) if http is not None else 0
    return Record(
        url=record.rec_headers.get_header("WARC-Target-URI") or "",
        date=record.rec_headers.get_header("WARC-Date") or "",
        status=status,
        headers=list(http.headers) if http is not None else [],
        payload=payload,
        payload_digest=record.rec_headers.get_header("WARC-Payload-Digest") or "",
    )


def read_capture(folder: Path, file: str, offset: int, length: int) -> Record:
    """The response record at ``offset`` of ``file``, checked against its digest,
    with the metadata record written after it. DamagedRecordError if unreadable.

    Read by hand rather than through warcio's iterator: ``rebuild`` reads one
    record per article, and the three gzip members of a fetch are all we need.
    """
    path = folder / file
    try:
        with path.open("rb") as stream:
            stream.seek(offset)
            # The request and metadata records that follow are well under 16 KB.
            data = stream.read(length + 16 * 1024)
    except OSError as exc:
        raise DamagedRecordError(f"{file}: {exc.strerror or exc}") from exc
    where = f"{file}@{offset}"
    try:
        members = _members(data, 3)
        kind, fields, block = members[0]
    except (zlib.error, ValueError, IndexError) as exc:
        raise DamagedRecordError(f"{where}: unreadable ({exc})") from exc
    if kind != "response":
        raise DamagedRecordError(f"{where}: a {kind} record")
    head, sep, payload = block.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status_line = lines[0].split(" ", 2)
    if not sep or len(status_line) < 2 or not status_line[1].isdigit():
        raise DamagedRecordError(f"{where}: no HTTP response in the record")
    headers = []
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers.append((name.strip(), value.strip()))
    metadata = None
    for other_kind, _, other in members[1:]:
        if other_kind == "metadata":
            metadata = _metadata(other)
    found = Record(
        url=fields.get("warc-target-uri", ""),
        date=fields.get("warc-date", ""),
        status=int(status_line[1]),
        headers=headers,
        payload=payload,
        payload_digest=fields.get("warc-payload-digest", ""),
        metadata=metadata,
    )
    if payload_digest(found.payload) != found.payload_digest:
        raise DamagedRecordError(f"{where}: payload digest mismatch")
    return found


def _members(data: bytes, most: int) -> list[tuple[str, dict[str, str], bytes]]:
    """Up to ``most`` whole records at the start of ``data``: (WARC-Type, WARC
    headers by lower-case name, block). The first must be whole (ValueError)."""
    found: list[tuple[str, dict[str, str], bytes]] = []
    position = 0
    while len(found) < most and position < len(data):
        inflate = zlib.decompressobj(31)
        try:
            record = inflate.decompress(data[position:])
        except zlib.error:
            if not found:
                raise
            break
        if not inflate.eof or not _whole_record(record):
            if not found:
                raise ValueError("a truncated record")
            break
        position = len(data) - len(inflate.unused_data)
        head, _, rest = record.partition(b"\r\n\r\n")
        fields = {}
        for line in head.decode("utf-8", "replace").split("\r\n")[1:]:
            name, _, value = line.partition(":")
            fields[name.strip().lower()] = value.strip()
        size = int(fields.get("content-length", "0"))
        found.append((fields.get("warc-type", ""), fields, rest[:size]))
    return found


@dataclass(frozen=True, slots=True)
class Scanned:
    """A response record found by scanning a WARC file."""

    capture: Capture
    record: Record


def scan(folder: Path) -> Iterator[Scanned]:
    """Every readable response record of the WARC files in ``folder`` with the
    metadata written after it, oldest first; a damaged tail ends a file."""
    for path in warc_files(folder):
        with path.open("rb") as stream:
            iterator = ArchiveIterator(stream, check_digests=False)
            pending: Scanned | None = None
            try:
                for record in iterator:
                    if record.rec_type == "response":
                        if pending is not None:
                            yield pending
                        found = _record_of(record)
                        iterator.read_to_end(record)
                        pending = Scanned(
                            Capture(
                                file=path.name,
                                offset=iterator.get_record_offset(),
                                length=iterator.get_record_length(),
                                fetched=_iso(found.date),
                                payload_digest=found.payload_digest,
                                url=found.url,
                                status=found.status,
                            ),
                            found,
                        )
                    elif record.rec_type == "metadata" and pending is not None:
                        meta = _metadata(record.content_stream().read())
                        yield Scanned(
                            pending.capture,
                            Record(**{**asdict(pending.record), "metadata": meta}),
                        )
                        pending = None
            except Exception as exc:  # noqa: BLE001 - warcio's and zlib's many kinds
                logger.warning(
                    "WARC file %s: unreadable from a record on (%s)", path, exc
                )
            if pending is not None:
                yield pending


def _metadata(block: bytes) -> dict[str, Any] | None:
    """Our JSON in a metadata record's WARC fields, if it holds it."""
    for line in block.decode("utf-8", "replace").splitlines():
        name, _, value = line.partition(":")
        if name.strip().lower() == METADATA_FIELD:
            found = json.loads(value)
            return found if isinstance(found, dict) else None
    return None


def _iso(warc_date: str) -> str:
    try:
        moment = datetime.fromisoformat(warc_date.replace("Z", "+00:00"))
    except ValueError:
        return warc_date
    return moment.astimezone(UTC).isoformat(timespec="microseconds")


# --- Whole records -------------------------------------------------------------------


def whole_length(path: Path) -> int:
    """How many bytes from the start of ``path`` are whole gzip members holding
    whole WARC records: where a truncated last record starts, or the file size."""
    data = path.read_bytes()
    position = 0
    while position < len(data):
        inflate = zlib.decompressobj(31)
        try:
            record = inflate.decompress(data[position:])
        except zlib.error:
            return position
        if not inflate.eof or not _whole_record(record):
            return position
        position = len(data) - len(inflate.unused_data)
    return position


def _whole_record(record: bytes) -> bool:
    head, sep, rest = record.partition(b"\r\n\r\n")
    if not sep or not head.startswith(b"WARC/"):
        return False
    for line in head.split(b"\r\n"):
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            try:
                return len(rest) == int(value.strip()) + 4
            except ValueError:
                return False
    return False


def repair(folder: Path) -> list[str]:
    """Cut the file a killed writer left (named by the marker) back to its last
    whole record; the names of the files cut."""
    marker = folder / WRITING_MARKER
    try:
        name = marker.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        return []
    cut = []
    path = folder / name
    if name and "/" not in name and path.is_file():
        size = path.stat().st_size
        whole = whole_length(path)
        if whole == 0:
            path.unlink()  # killed before its first record: nothing to keep
        elif whole < size:
            with path.open("r+b") as stream:
                stream.truncate(whole)
                os.fsync(stream.fileno())
            logger.warning(
                "WARC file %s ended in a truncated record (%d bytes, from a run that"
                " was killed): cut off; the records before it are whole",
                path,
                size - whole,
            )
            cut.append(name)
    marker.unlink()
    return cut


__all__ = [
    "Capture",
    "DamagedRecordError",
    "Fetched",
    "Record",
    "WarcWriter",
    "payload_digest",
    "read_capture",
    "repair",
    "scan",
    "warc_dir",
    "warc_files",
]
