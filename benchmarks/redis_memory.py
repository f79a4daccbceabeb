"""What the distributed mode leaves in Redis, run after run (issue 15).

    python -m benchmarks.redis_memory [--runs 3] [--articles 1000]

Starts its own redis-server (on a free loopback port, in a temporary folder), a
replica of the site on 127.0.0.1 and one archive writer; then ``--runs`` times:
adds ``--articles`` new articles to the replica (newer than any before), runs
three workers together (``pages`` enough for them and one page more), waits for
the writer to write everything, and lists every key Redis holds with its size
(``MEMORY USAGE … SAMPLES 0``) and ``used_memory``. Target: after each run the
only keys are ``archived`` and the running writer's claim (``writer``, a few
bytes), and only ``archived`` grows (about 80 bytes per article).
Prints the table (Markdown) for benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import cast

import redis

from replica.crawl import PROJECT_ROOT, crawl_command
from replica.server import Replica
from replica.site import DEFAULT_START, Site, add_generated

#: Seconds between the first articles of two runs: more than 1,000 articles span.
_RUN_SPAN = 500_000


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait(condition: object, what: str, patience: float = 600) -> None:
    deadline = time.monotonic() + patience
    while not condition():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise SystemExit(f"gave up waiting for {what}")
        time.sleep(0.1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--articles", type=int, default=1000)
    args = parser.parse_args()
    binary = shutil.which("redis-server")
    if binary is None:
        raise SystemExit("redis-server is not installed")
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    with (
        tempfile.TemporaryDirectory(prefix="redis-memory-") as tmp,
        Replica(Site()) as replica,
    ):
        folder = Path(tmp)
        port = free_port()
        url = f"redis://127.0.0.1:{port}/0"
        argv = [binary, "--port", str(port), "--bind", "127.0.0.1", "--dir", tmp]
        server = subprocess.Popen(
            [*argv, "--save", "", "--appendonly", "no"], stdout=subprocess.DEVNULL
        )
        client = redis.Redis.from_url(url)
        writer: subprocess.Popen[bytes] | None = None
        try:
            wait(lambda: _answers(client), "redis-server")
            writer_log = (folder / "writer.log").open("wb")
            archive = f"ARCHIVE_DIR={folder / 'archive'}"
            command = [sys.executable, "-m", "scrapy", "writer"]
            writer = subprocess.Popen(
                [*command, "-s", f"REDIS_URL={url}", "-s", archive],
                cwd=PROJECT_ROOT,
                stderr=writer_log,
                env=env,
            )
            pages = args.articles // 50 + 1
            rows = []
            for run in range(1, args.runs + 1):
                add_generated(
                    replica.site,
                    args.articles,
                    seed=run,
                    start=DEFAULT_START + run * _RUN_SPAN,
                )
                started = time.monotonic()
                workers = [
                    subprocess.Popen(
                        crawl_command(
                            replica.feed_url,
                            folder / f"worker{i}",
                            f"pages={pages}",
                            settings={"REDIS_URL": url},
                        ),
                        cwd=PROJECT_ROOT,
                        stdout=subprocess.DEVNULL,
                        stderr=subprocess.DEVNULL,
                        env=env,
                    )
                    for i in range(3)
                ]
                codes = [w.wait() for w in workers]
                if any(codes):
                    raise SystemExit(f"run {run}: workers exited with {codes}")
                wait(
                    lambda: (
                        client.llen("newscrawl:items")
                        + client.llen("newscrawl:items:processing")
                        == 0
                    ),
                    "the writer",
                )
                seconds = time.monotonic() - started
                keys = sorted(k.decode() for k in cast("list[bytes]", client.keys("*")))
                sizes = {k: int(client.memory_usage(k, samples=0) or 0) for k in keys}
                used = int(client.info("memory")["used_memory"])
                archived = int(client.hlen("newscrawl:archived"))
                rows.append((run, archived, keys, sizes, used, seconds))
        finally:
            if writer is not None:
                writer.send_signal(signal.SIGTERM)
                writer.wait(timeout=120)
            server.terminate()
            server.wait(timeout=60)
    print("| after run | articles archived | keys | `archived` | used_memory | run |")
    print("|---:|---:|---|---:|---:|---:|")
    for run, total, keys, sizes, used, seconds in rows:
        listed = ", ".join(f"`{k.split(':', 1)[-1]}`" for k in keys)
        archived = sizes.get("newscrawl:archived", 0)
        print(
            f"| {run} | {total:,} | {listed} | {archived:,} B"
            f" | {used / 1e6:.2f} MB | {seconds:.0f} s |"
        )


def _answers(client: redis.Redis) -> bool:
    try:
        return bool(client.ping())
    except redis.ConnectionError:
        return False


if __name__ == "__main__":
    main()
