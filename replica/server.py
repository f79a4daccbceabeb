"""The replica served over HTTP on 127.0.0.1: roll feed, article pages, robots.txt."""

from __future__ import annotations

import contextlib
import gzip
import json
import re
import socket
import struct
import sys
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs

from replica.site import Site, fixture_site

if TYPE_CHECKING:
    from types import TracebackType

FEED_PATH = "/api/roll/get"
ROBOTS_TXT = b"User-agent: *\nDisallow: /private/\n"

JSON_TYPE = "application/json; charset=utf-8"
JSONP_TYPE = "application/javascript; charset=utf-8"
TEXT_TYPE = "text/plain; charset=utf-8"

# What the feed takes when a parameter is absent (the real default is unknown).
_DEFAULT_NUM = 10
# A JSONP callback is echoed into the response: accept names only.
_CALLBACK = re.compile(r"^[A-Za-z_$][\w$.]{0,63}$")


@dataclass
class Fault:
    """A wrong answer for one path: what a messy real server or network does.

    Every field left at its default keeps that part of the normal answer, so
    ``Fault(status=503, times=1)`` is "503 once, then the page", and
    ``Fault(status=301, headers={"Location": url})`` a redirect.
    """

    #: The status to answer instead of the normal one.
    status: int | None = None
    #: Headers to add, or to replace (``Content-Type``, ``Retry-After``, ``Location``).
    headers: dict[str, str] = field(default_factory=dict)
    #: The body to send instead of the normal one.
    body: bytes | None = None
    #: Seconds to wait before answering; stopping the replica cuts the wait short.
    delay: float = 0.0
    #: Announce this Content-Length instead of the body's; the connection is then
    #: closed after the body, so a larger value is a truncated response.
    content_length: int | None = None
    #: Send no Content-Length: the body ends when the connection closes.
    omit_length: bool = False
    #: Send the headers and this many bytes of the body, then reset the connection.
    reset_after: int | None = None
    #: Answer this way this many times, then normally again (None: always).
    times: int | None = None

    @property
    def closes(self) -> bool:
        """Whether the connection cannot be kept alive after this answer."""
        return (
            self.content_length is not None
            or self.omit_length
            or self.reset_after is not None
        )


class Replica:
    """A Site served on 127.0.0.1 at an ephemeral port, with a request log and
    fault hooks; use as a context manager."""

    def __init__(self, site: Site | None = None, *, port: int = 0) -> None:
        self.site = fixture_site() if site is None else site
        #: Answer every feed request with this HTTP status (and a short text body).
        self.fail_feed: int | None = None
        #: With fail_feed: fail only this many feed requests, then answer again.
        self.fail_feed_times: int | None = None
        #: Serve these bytes (as JSON) instead of the feed, e.g. invalid JSON.
        self.feed_body: bytes | None = None
        #: Faults by request target: a path (any query), or an exact path?query,
        #: which wins over its path. See Fault.
        self.faults: dict[str, Fault] = {}
        #: Answer a request that accepts gzip with a gzip-encoded body (pages and
        #: feed), as Sina's servers do.
        self.gzip = False
        #: Send bodies with Transfer-Encoding: chunked instead of Content-Length.
        self.chunked = False
        #: What was sent for each path?query, once sent (with gzip: the encoded
        #: bytes): tests compare the capture with it.
        self.sent: dict[str, bytes] = {}
        #: Answer a date window's query with the live feed, as an endpoint that
        #: does not know the window would.
        self.ignore_window = False
        self._port = port
        self._lock = threading.Lock()
        self._requests: list[str] = []
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> Replica:
        """Bind and serve in a daemon thread."""
        if self._server is not None:
            raise RuntimeError("the replica is already running")
        self._server = _Server(self, ("127.0.0.1", self._port))
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"replica:{self._server.server_address[1]}",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving, close open connections and the listening socket."""
        server, thread = self._server, self._thread
        if server is None or thread is None:
            return
        server.stopping.set()
        server.shutdown()
        server.close_connections()
        server.server_close()
        thread.join()
        self._server = self._thread = None

    def __enter__(self) -> Replica:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def port(self) -> int:
        """The port the replica listens on."""
        if self._server is None:
            raise RuntimeError("the replica is not running: call start() first")
        return int(self._server.server_address[1])

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:PORT``: what stands for the site's hosts."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def feed_url(self) -> str:
        """The roll feed endpoint, without its query."""
        return self.base_url + FEED_PATH

    @property
    def requests(self) -> list[str]:
        """Every request's path and query so far, in arrival order (a copy)."""
        with self._lock:
            return list(self._requests)

    def article_requests(self) -> list[str]:
        """The logged requests for article pages (paths ending ``.shtml``, or
        ``.d.html`` for mobile pages)."""
        return [
            r
            for r in self.requests
            if r.partition("?")[0].endswith((".shtml", ".d.html"))
        ]

    def feed_requests(self) -> list[str]:
        """The logged requests for the roll feed."""
        return [r for r in self.requests if r.partition("?")[0] == FEED_PATH]

    def clear_log(self) -> None:
        """Forget the requests logged so far."""
        with self._lock:
            self._requests.clear()

    def take_fault(self, target: str) -> Fault | None:
        """The fault to apply to a request of ``target``, counting it against
        ``times``; a fault whose times are used up is removed."""
        with self._lock:
            key = target if target in self.faults else target.partition("?")[0]
            fault = self.faults.get(key)
            if fault is None:
                return None
            if fault.times is not None:
                fault.times -= 1
                if fault.times <= 0:
                    del self.faults[key]
            return fault

    def respond(self, target: str) -> tuple[int, str, bytes]:
        """Status, content type and body for a GET of ``target`` (path?query)."""
        with self._lock:
            self._requests.append(target)
        path, _, query = target.partition("?")
        if path == FEED_PATH:
            return self._feed(query)
        if path == "/robots.txt":
            return 200, TEXT_TYPE, ROBOTS_TXT
        article = self.site.find(path)
        if article is None:
            return 404, TEXT_TYPE, b"Not Found\n"
        return 200, article.content_type, article.page

    def _feed(self, query: str) -> tuple[int, str, bytes]:
        with self._lock:
            status = self.fail_feed
            if status is not None and self.fail_feed_times is not None:
                self.fail_feed_times -= 1
                if self.fail_feed_times <= 0:
                    self.fail_feed = self.fail_feed_times = None
        if status is not None:
            return status, TEXT_TYPE, f"feed failure {status}\n".encode()
        if self.feed_body is not None:
            return 200, JSON_TYPE, self.feed_body
        params = {k: v[-1] for k, v in parse_qs(query, keep_blank_values=True).items()}
        try:
            pageid = _int_param(params, "pageid")
            lid = _int_param(params, "lid")
            num = _int_param(params, "num")
            page = _int_param(params, "page")
            window = None if self.ignore_window else _window(params)
        except ValueError as exc:
            envelope: dict[str, Any] = {
                "result": {"status": {"code": 1, "msg": str(exc)}, "data": []}
            }
        else:
            envelope = self.site.feed(
                pageid,
                lid,
                1 if page is None else page,
                _DEFAULT_NUM if num is None else num,
                self.base_url,
                window=window,
            )
        payload = json.dumps(envelope, ensure_ascii=False)
        callback = params.get("callback", "")
        if callback and _CALLBACK.match(callback):
            return 200, JSONP_TYPE, f"{callback}({payload});".encode()
        return 200, JSON_TYPE, payload.encode()


def _int_param(params: dict[str, str], name: str) -> int | None:
    value = params.get(name, "")
    if not value:
        return None
    try:
        return int(value)
    except ValueError:
        raise ValueError(f"invalid parameter {name}={value!r}") from None


def _window(params: dict[str, str]) -> tuple[int, int] | None:
    """Sina's date window (``etime`` start, ``stime`` end), if the query has one."""
    start, end = _int_param(params, "etime"), _int_param(params, "stime")
    if start is None or end is None:
        return None
    return start, end


class _Server(ThreadingHTTPServer):
    """ThreadingHTTPServer that knows its Replica and its open connections."""

    daemon_threads = True
    # Scrapy opens a burst of connections at once; the default backlog is 5.
    request_queue_size = 128

    def __init__(self, replica: Replica, address: tuple[str, int]) -> None:
        self.replica = replica
        self.connections: set[socket.socket] = set()
        self.connections_lock = threading.Lock()
        #: Set when the replica stops: delayed answers give up waiting.
        self.stopping = threading.Event()
        super().__init__(address, _Handler)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that hangs up mid-answer (a download cancelled for its size, a
        # timeout) is what some faults are for, not an error of the replica.
        if isinstance(sys.exc_info()[1], ConnectionError):
            return
        super().handle_error(request, client_address)

    def close_connections(self) -> None:
        # Keep-alive handler threads block reading the next request; shutting
        # their sockets ends them now rather than at their timeout.
        with self.connections_lock:
            for conn in self.connections:
                # OSError: the client closed it first.
                with contextlib.suppress(OSError):
                    conn.shutdown(socket.SHUT_RDWR)


class _Handler(BaseHTTPRequestHandler):
    """GET only; keep-alive, Content-Length on every answer, no stderr log."""

    server: _Server
    # HTTP/1.1 keeps connections open between requests: thousands of pages
    # without a TCP handshake each.
    protocol_version = "HTTP/1.1"
    # Headers and body go out in two writes; without this, Nagle holds the body's
    # last segment for the client's delayed ACK (~40 ms a page).
    disable_nagle_algorithm = True
    # An idle keep-alive connection ends after this many seconds.
    timeout = 30

    def setup(self) -> None:
        super().setup()
        with self.server.connections_lock:
            self.server.connections.add(self.connection)

    def finish(self) -> None:
        with self.server.connections_lock:
            self.server.connections.discard(self.connection)
        super().finish()

    def do_GET(self) -> None:
        replica = self.server.replica
        fault = replica.take_fault(self.path)
        status, content_type, body = replica.respond(self.path)
        if fault is None:
            self.answer(status, content_type, body)
            return
        self.answer_wrongly(fault, status, content_type, body)

    def answer(self, status: int, content_type: str, body: bytes) -> None:
        replica = self.server.replica
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        if replica.gzip and "gzip" in self.headers.get("Accept-Encoding", ""):
            # mtime=0: the same page gives the same bytes (a revisit when refetched).
            body = gzip.compress(body, compresslevel=6, mtime=0)
            self.send_header("Content-Encoding", "gzip")
        with replica._lock:
            replica.sent[self.path] = body
        if not replica.chunked:
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        for start in range(0, len(body), 8192):
            chunk = body[start : start + 8192]
            self.wfile.write(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
        self.wfile.write(b"0\r\n\r\n")

    def answer_wrongly(
        self, fault: Fault, status: int, content_type: str, body: bytes
    ) -> None:
        if fault.delay and self.server.stopping.wait(fault.delay):
            self.close_connection = True
            return
        body = body if fault.body is None else fault.body
        headers = {"Content-Type": content_type, "Content-Length": str(len(body))}
        headers.update(fault.headers)
        if fault.content_length is not None:
            headers["Content-Length"] = str(fault.content_length)
        if fault.omit_length:
            del headers["Content-Length"]
        if fault.closes:
            headers["Connection"] = "close"
            self.close_connection = True
        self.send_response(status if fault.status is None else fault.status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        if fault.reset_after is None:
            self.wfile.write(body)
            return
        self.wfile.write(body[: fault.reset_after])
        # SO_LINGER with a zero timeout: close() sends a RST, not a FIN, which the
        # client sees as "connection reset" in the middle of the body.
        self.connection.setsockopt(
            socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0)
        )
        self.connection.close()

    def log_message(self, format: str, *args: Any) -> None:
        # Tests and benchmarks would drown in one stderr line per request.
        return
