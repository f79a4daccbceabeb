"""The revisit check against a big index, run by hand (issue 11).

    python -m benchmarks.revisit_lookup [--versions 1000000]

Builds an index of ``--versions`` captured versions (a thousand articles' worth
of rows per second, in one transaction), then captures, in a new archive session
as a new run would, the page of one of those articles with the payload of its
last version: a revisit. Reports the memory the session's capture took
(tracemalloc peak, Python allocations) and the time of the first capture and of
one index lookup, and, for comparison, the memory of the dict of every version
that the capture built before (url → digest and date).
"""

from __future__ import annotations

import argparse
import tempfile
import time
import tracemalloc
from datetime import UTC, datetime
from pathlib import Path

from newscrawl.archive import DEFAULT_PATH_TEMPLATE
from newscrawl.archive.index import Version
from newscrawl.archive.owner import Archive
from newscrawl.archive.warc import Fetched, payload_digest

BODY = b"<html><body><p>" + "正文".encode() * 2000 + b"</p></body></html>"


def url_of(n: int) -> str:
    return f"https://finance.sina.com.cn/roll/2021-04-20/doc-i{n:014d}.shtml"


def build(root: Path, count: int) -> None:
    owner = Archive(root, DEFAULT_PATH_TEMPLATE)
    now = datetime.now(UTC).isoformat(timespec="microseconds")
    digest = payload_digest(BODY)
    try:
        owner.index.add_versions(
            Version(
                0,
                f"i{n:014d}",
                url_of(n),
                "old.warc.gz",
                n * 100,
                100,
                now,
                n,
                digest,
                None,
            )
            for n in range(count)
        )
    finally:
        owner.close()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.revisit_lookup")
    parser.add_argument("--versions", type=int, default=1_000_000)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="newscrawl-revisit-") as folder:
        root = Path(folder) / "archive"
        started = time.perf_counter()
        build(root, args.versions)
        print(
            f"index of {args.versions:,} versions built in"
            f" {time.perf_counter() - started:.1f} s"
        )
        target = args.versions // 2
        fetched = Fetched(url_of(target), 200, [], BODY, [])
        owner = Archive(root, DEFAULT_PATH_TEMPLATE)
        try:
            tracemalloc.start()
            started = time.perf_counter()
            capture = owner.capture(fetched, None, [f"i{target:014d}"])
            first = time.perf_counter() - started
            _, peak = tracemalloc.get_traced_memory()
            tracemalloc.stop()
            assert capture.revisit
            started = time.perf_counter()
            for _ in range(1000):
                owner.index.last_capture(url_of(target), [f"i{target:014d}"])
            lookup = (time.perf_counter() - started) / 1000
        finally:
            owner.close()
        print(
            f"first capture (a revisit found in the index): {first * 1000:.1f} ms,"
            f" peak Python memory {peak / 1024:.0f} KiB"
        )
        print(f"one index lookup: {lookup * 1e6:.0f} µs")
        # What the capture built before: every version's url -> (digest, date).
        owner = Archive(root, DEFAULT_PATH_TEMPLATE)
        try:
            tracemalloc.start()
            started = time.perf_counter()
            every = {
                v.url: (v.payload_digest, v.fetched) for v in owner.index.versions()
            }
            built = time.perf_counter() - started
            size, _ = tracemalloc.get_traced_memory()
            tracemalloc.stop()
        finally:
            owner.close()
        print(
            f"before: the dict of every version ({len(every):,} URLs) took"
            f" {size / 1024 / 1024:.0f} MiB and {built:.1f} s"
        )


if __name__ == "__main__":
    main()
