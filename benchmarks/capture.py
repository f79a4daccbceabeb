"""The cost of the raw capture (issue 11), run by hand; prints what README wants.

``python -m benchmarks.capture --articles 1000 --repeat 3``:

1. CPU per article of three crawls of the same replica, serving gzip-encoded pages
   as Sina does, interleaved (medians): the floor (``bare_lxml_gzip``: Scrapy
   fetching + one lxml parse + one gzip of each page), ``sina_finance`` with the
   capture on, and with it off. (``benchmarks/crawl.py`` compares both against
   their floors at 300 and 2,000 articles, issue 14's end-to-end figures; this
   keeps issue 11's 1,000-article comparison beside the disk and rebuild figures.)
2. Disk: the WARC bytes per article page and per feed page of the capturing crawl.
3. ``scrapy rebuild``'s speed over that archive, in process: unchanged code
   (every article re-derived and compared), and every file missing (re-derived
   and written through the archive owner, with its group commit as
   ``scrapy rebuild`` has it: ``ARCHIVE_COMMIT_BATCH``, ``ARCHIVE_COMMIT_INTERVAL``);
   articles/s and CPU per article (this process and its fork pool).
   ``--only rebuild``: one capturing crawl to make the archive, then this alone.
4. Redis memory per waiting hand-over (distributed mode), on a real redis-server:
   an article with its raw fetch, and a feed page's raw fetch. Alone, over an
   archive a capturing crawl wrote: ``--handover ARCHIVE``.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from warcio.archiveiterator import ArchiveIterator

from benchmarks.crawl import Run, crawl_argv, measured
from newscrawl.archive.files import DEFAULT_PATH_TEMPLATE
from newscrawl.archive.owner import COMMIT_BATCH, COMMIT_INTERVAL, Archive
from newscrawl.archive.rebuild import rebuild
from newscrawl.archive.warc import fetch_to_json, warc_dir, warc_files
from newscrawl.sina.channels import DEFAULT_CHANNELS, load_channels
from replica.crawl import PROJECT_ROOT


def start_replica(articles: int) -> tuple[subprocess.Popen[str], str]:
    process = subprocess.Popen(
        [sys.executable, "-m", "replica", "--articles", str(articles), "--gzip"],
        cwd=PROJECT_ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    return process, process.stdout.readline().split()[2]


def crawl(
    name: str, spider: str, feed: str, articles: int, archive: Path, **extra: str
) -> Run:
    wall, usage = measured(
        crawl_argv(spider, feed, articles, archive, {"LOG_LEVEL": "WARNING", **extra})
    )
    return Run(
        spider=name,
        articles=articles,
        wall_s=wall,
        cpu_s=usage.ru_utime + usage.ru_stime,
        max_rss_mb=usage.ru_maxrss / 1024,
        responses=articles,
    )


def disk(archive: Path) -> dict[str, float]:
    """WARC bytes per article page and per feed page (response + request +
    metadata records, gzip per record)."""
    sizes: dict[str, list[int]] = {"article": [], "feed": []}
    for path in warc_files(warc_dir(archive)):
        with path.open("rb") as stream:
            iterator = ArchiveIterator(stream)
            kind = ""
            for record in iterator:
                iterator.read_to_end(record)
                length = iterator.get_record_length()
                uri = record.rec_headers.get_header("WARC-Target-URI") or ""
                if record.rec_type in ("response", "revisit"):
                    kind = "feed" if "/api/roll/get" in uri else "article"
                    if uri.endswith("robots.txt"):
                        kind = ""
                    if kind:
                        sizes[kind].append(length)
                elif kind and record.rec_type in ("request", "metadata"):
                    sizes[kind][-1] += length
    return {k: statistics.mean(v) for k, v in sizes.items() if v}


def cpu_seconds() -> float:
    """CPU (user + sys) of this process and of its children waited for (the
    rebuild's fork pool is, when it ends)."""
    total = 0.0
    for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN):
        usage = resource.getrusage(who)
        total += usage.ru_utime + usage.ru_stime
    return total


def rebuild_speed(
    archive: Path, repeat: int, batch: int = COMMIT_BATCH
) -> dict[str, float]:
    """Medians: articles/s and ms of CPU per article, unchanged and restoring."""
    channels = load_channels(DEFAULT_CHANNELS)
    results: dict[str, list[float]] = {
        "unchanged": [],
        "restore": [],
        "unchanged_cpu_ms": [],
        "restore_cpu_ms": [],
    }
    for _ in range(repeat):
        with tempfile.TemporaryDirectory(prefix="newscrawl-rebuild-") as folder:
            copy = Path(folder) / "archive"
            shutil.copytree(archive, copy)
            owner = Archive(
                copy,
                DEFAULT_PATH_TEMPLATE,
                commit_batch=batch,
                commit_interval=COMMIT_INTERVAL,
            )
            try:
                started, cpu = time.perf_counter(), cpu_seconds()
                report = rebuild(owner, channels)
                owner.commit()
                seconds = time.perf_counter() - started
                results["unchanged"].append(report.same / seconds)
                results["unchanged_cpu_ms"].append(
                    (cpu_seconds() - cpu) / report.same * 1000
                )
                for path in copy.rglob("*.md"):
                    if not path.relative_to(copy).parts[0].startswith("."):
                        path.unlink()
                started, cpu = time.perf_counter(), cpu_seconds()
                report = rebuild(owner, channels)
                owner.commit()
                seconds = time.perf_counter() - started
                results["restore"].append(len(report.appeared) / seconds)
                results["restore_cpu_ms"].append(
                    (cpu_seconds() - cpu) / len(report.appeared) * 1000
                )
            finally:
                owner.close()
    for name in ("unchanged", "restore"):
        print(
            f"  rebuild {name}: "
            + ", ".join(f"{v:.0f}" for v in sorted(results[name]))
            + " articles/s"
        )
    return {k: statistics.median(v) for k, v in results.items()}


def print_rebuild(speed: dict[str, float]) -> None:
    print(
        f"  rebuild: {speed['unchanged']:.0f} articles/s unchanged"
        f" ({speed['unchanged_cpu_ms']:.1f} ms CPU per article),"
        f" {speed['restore']:.0f} articles/s restoring every file"
        f" ({speed['restore_cpu_ms']:.1f} ms CPU per article);"
        f" load average {os.getloadavg()[0]:.1f}"
    )


def rebuild_only(articles: int, repeat: int, batch: int) -> None:
    """One capturing crawl of the replica, then the rebuild's speed over it."""
    replica, feed = start_replica(articles)
    keep = Path(tempfile.mkdtemp(prefix="newscrawl-capture-"))
    try:
        crawl("capture on", "sina_finance", feed, articles + 3, keep / "archive")
    finally:
        replica.terminate()
        replica.wait()
    try:
        print(f"{articles + 3} articles, {repeat} rebuilds each, medians:")
        print_rebuild(rebuild_speed(keep / "archive", repeat, batch))
    finally:
        shutil.rmtree(keep)


def handover_memory(archive: Path, count: int = 200) -> dict[str, float] | None:
    """Redis memory per waiting hand-over: real messages (an article and its raw
    fetch; a feed page's raw fetch) pushed onto a list of a fresh redis-server."""
    server = shutil.which("redis-server")
    if server is None:
        return None
    import redis

    from newscrawl.archive.rebuild import derive
    from newscrawl.archive.warc import Fetched, scan
    from newscrawl.distributed.codec import encode_fetch, encode_item

    owner = Archive(archive, DEFAULT_PATH_TEMPLATE)
    channels = load_channels(DEFAULT_CHANNELS)
    messages: list[bytes] = []
    plain: list[bytes] = []
    try:
        for row in list(owner.index.rows())[:count]:
            (version,) = owner.versions(row.doc_id)
            record = owner.read(version)
            article = derive(record, channels).article
            assert article is not None
            plain.append(encode_item(article))
            article.fetch = fetch_to_json(
                Fetched(record.url, record.status, record.headers, record.payload, []),
                record.metadata,
            )
            messages.append(encode_item(article))
    finally:
        owner.close()
    feeds = [
        encode_fetch(
            fetch_to_json(
                Fetched(r.url, r.status, r.headers, r.payload, []), r.metadata
            )
        )
        for r in (found.record for found in scan(warc_dir(archive)))
        if r.metadata and r.metadata.get("kind") == "feed"
    ]
    # As many as the articles, for a figure as steady as theirs.
    feeds = (feeds * (count // max(len(feeds), 1) + 1))[:count]
    with tempfile.TemporaryDirectory(prefix="newscrawl-redis-") as folder:
        port = 16379 + os.getpid() % 1000
        process = subprocess.Popen(
            [server, "--port", str(port), "--save", "", "--dir", folder],
            stdout=subprocess.DEVNULL,
        )
        try:
            client = redis.Redis(port=port)
            for _ in range(50):
                try:
                    client.ping()
                    break
                except redis.ConnectionError:
                    time.sleep(0.1)
            used = []
            for batch in (messages, feeds):
                before = int(client.info("memory")["used_memory"])
                for message in batch:
                    client.lpush("items", message)
                used.append(int(client.info("memory")["used_memory"]) - before)
                client.delete("items")
        finally:
            process.terminate()
            process.wait()
    return {
        "message_before_kb": statistics.mean(map(len, plain)) / 1024,
        "message_kb": statistics.mean(map(len, messages)) / 1024,
        "redis_kb_per_waiting": used[0] / len(messages) / 1024,
        "feed_message_kb": statistics.mean(map(len, feeds)) / 1024 if feeds else 0,
        "redis_kb_per_feed": used[1] / len(feeds) / 1024 if feeds else 0,
    }


def print_handover(memory: dict[str, float]) -> None:
    print(
        f"  hand-over: {memory['message_before_kb']:.1f} KB without the fetch,"
        f" {memory['message_kb']:.1f} KB with it;"
        f" Redis {memory['redis_kb_per_waiting']:.1f} KB per waiting article"
    )
    print(
        f"  feed page hand-over: {memory['feed_message_kb']:.1f} KB;"
        f" Redis {memory['redis_kb_per_feed']:.1f} KB per waiting feed page"
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.capture")
    parser.add_argument("--articles", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument(
        "--handover",
        type=Path,
        metavar="ARCHIVE",
        help="only measure the hand-overs (4.), from this capturing archive",
    )
    parser.add_argument(
        "--only", choices=["rebuild"], help="only this part (after one crawl)"
    )
    parser.add_argument(
        "--commit-batch",
        type=int,
        default=COMMIT_BATCH,
        help="the rebuild's ARCHIVE_COMMIT_BATCH (1: every file committed alone)",
    )
    args = parser.parse_args(argv)
    if args.handover:
        memory = handover_memory(args.handover)
        if memory:
            print_handover(memory)
        return
    if args.only == "rebuild":
        rebuild_only(args.articles, args.repeat, args.commit_batch)
        return
    replica, feed = start_replica(args.articles)
    # The replica serves its fixture pages too: the feed lists them all.
    total = args.articles + 3
    runs: dict[str, list[Run]] = {"floor": [], "capture on": [], "capture off": []}
    keep = Path(tempfile.mkdtemp(prefix="newscrawl-capture-"))
    try:
        for turn in range(args.repeat):
            with tempfile.TemporaryDirectory(prefix="newscrawl-bench-") as folder:
                runs["floor"].append(
                    crawl("floor", "bare_lxml_gzip", feed, total, Path(folder) / "a")
                )
            with tempfile.TemporaryDirectory(prefix="newscrawl-bench-") as folder:
                runs["capture off"].append(
                    crawl(
                        "capture off",
                        "sina_finance",
                        feed,
                        total,
                        Path(folder) / "a",
                        ARCHIVE_WARC_ENABLED="False",
                    )
                )
            target = keep / "archive" if turn == 0 else None
            with tempfile.TemporaryDirectory(prefix="newscrawl-bench-") as folder:
                runs["capture on"].append(
                    crawl(
                        "capture on",
                        "sina_finance",
                        feed,
                        total,
                        target or Path(folder) / "a",
                    )
                )
    finally:
        replica.terminate()
        replica.wait()
    floor = statistics.median(r.cpu_s for r in runs["floor"])
    print(f"{total} articles, {args.repeat} runs each, medians (CPU = user + sys):")
    for name, crawls in runs.items():
        cpu = statistics.median(r.cpu_s for r in crawls)
        print(
            f"  {name:>12}: {cpu:6.2f} s CPU, {cpu / total * 1000:5.2f} ms/article,"
            f" {cpu / floor:.2f}× floor,"
            f" {statistics.median(r.max_rss_mb for r in crawls):.0f} MB"
        )
    archive = keep / "archive"
    sizes = disk(archive)
    print(f"  WARC per article page: {sizes['article'] / 1024:.1f} KB")
    print(f"  WARC per feed page:    {sizes['feed'] / 1024:.1f} KB")
    print_rebuild(rebuild_speed(archive, args.repeat, args.commit_batch))
    memory = handover_memory(archive)
    if memory:
        print_handover(memory)
    shutil.rmtree(keep)


if __name__ == "__main__":
    main()
