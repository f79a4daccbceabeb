"""End-to-end crawl cost and memory, against Scrapy's own cost, in one run.

    python -m benchmarks.crawl [--articles 2000] [--repeat 3] [--memory 2000,20000]

Serves ``python -m replica --articles N`` in a process of its own (first measured
alone, to show it is not the bottleneck), then crawls it with:

- ``bare``: Scrapy fetching the same feed and article pages, doing nothing else;
- ``bare_lxml``: the same plus one ``lxml.html.fromstring`` per page — the floor;
- ``sina_finance``: the real crawl, archive and all (``scrapy crawl sina_finance``).

Each crawl is a subprocess; its CPU time (user + sys) and peak RSS come from
``os.wait4``. Reports medians over ``--repeat`` runs and ratios from the same run.
``--memory`` crawls each N once more and compares peak RSS (target: 20,000 ≤ 1.2×
2,000). Results go to benchmarks/results/crawl.json and, with matplotlib,
benchmarks/results/crawl.png.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path

from newscrawl.sina.feed import feed_url, parse_feed
from replica.crawl import PROJECT_ROOT, REPLICA_SETTINGS, crawl_command

RESULTS = PROJECT_ROOT / "benchmarks" / "results"
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


@dataclass
class Run:
    """One crawl subprocess, measured."""

    spider: str
    articles: int
    wall_s: float
    cpu_s: float
    max_rss_mb: float
    responses: int

    @property
    def per_second(self) -> float:
        return self.articles / self.wall_s


@contextmanager
def replica(articles: int) -> Iterator[tuple[str, int]]:
    """``python -m replica`` in its own process: (feed URL, pid)."""
    process = subprocess.Popen(
        [sys.executable, "-m", "replica", "--articles", str(articles)],
        cwd=PROJECT_ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()  # "replica serving <feed url> (n articles)"
        yield line.split()[2], process.pid
    finally:
        process.terminate()
        process.wait(timeout=30)


def process_cpu(pid: int) -> float:
    """CPU seconds (user + sys) a live process has used so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def article_urls(feed: str) -> list[str]:
    """Every article URL the feed lists."""
    host = feed.split("/")[2].split(":")[0]
    urls: list[str] = []
    page = 1
    while True:
        with urllib.request.urlopen(feed_url(feed, 155, 1686, page)) as answer:
            entries = parse_feed(answer.read().decode(), frozenset({host})).entries
        if not entries:
            return urls
        urls += [e.url for e in entries]
        page += 1


def serve_alone(feed: str, pid: int, clients: int = 16) -> dict[str, float]:
    """The replica's own speed: every page fetched by ``clients`` threads."""
    urls = article_urls(feed)
    local = threading.local()

    def fetch(url: str) -> int:
        # One keep-alive connection per thread, as Scrapy keeps them.
        import http.client

        if not hasattr(local, "conn"):
            host, port = url.split("/")[2].split(":")
            local.conn = http.client.HTTPConnection(host, int(port))
        local.conn.request("GET", "/" + url.split("/", 3)[3])
        return len(local.conn.getresponse().read())

    cpu_before, started = process_cpu(pid), time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        size = sum(pool.map(fetch, urls))
    wall = time.perf_counter() - started
    cpu = process_cpu(pid) - cpu_before
    return {
        "pages": len(urls),
        "pages_per_s": len(urls) / wall,
        "server_cpu_ms_per_page": cpu / len(urls) * 1000,
        "mean_kb": size / len(urls) / 1024,
    }


def crawl(spider: str, feed: str, articles: int) -> Run:
    """One measured crawl subprocess."""
    with tempfile.TemporaryDirectory(prefix="newscrawl-bench-") as folder:
        pages = str(articles // 50 + 2)
        settings = {"SINA_FEED_PAGES": pages, "LOG_LEVEL": "WARNING"}
        if spider != "sina_finance":
            # Scrapy alone: none of the project's middlewares, pipelines, extensions.
            settings |= {
                "SPIDER_MODULES": "newscrawl.spiders,benchmarks.bare_spider",
                "SPIDER_MIDDLEWARES": "{}",
                "ITEM_PIPELINES": "{}",
                "EXTENSIONS": "{}",
            }
        argv = crawl_command(
            feed, Path(folder) / "archive", f"pages={pages}", settings=settings
        )
        argv[argv.index("sina_finance")] = spider
        if spider != "sina_finance":
            argv = argv[: argv.index("-a")]  # the bare spiders take no arguments
        started = time.perf_counter()
        process = subprocess.Popen(
            argv, cwd=PROJECT_ROOT, stderr=subprocess.PIPE, text=True
        )
        assert process.stderr is not None
        log = process.stderr.read()
        _, status, usage = os.wait4(process.pid, 0)
        wall = time.perf_counter() - started
        process.returncode = os.waitstatus_to_exitcode(status)
        if process.returncode != 0:
            raise RuntimeError(f"{spider} exited {process.returncode}:\n{log[-3000:]}")
        written = len(list((Path(folder) / "archive").rglob("*.md")))
    if spider == "sina_finance" and written != articles:
        raise RuntimeError(f"sina_finance archived {written} of {articles} articles")
    return Run(
        spider=spider,
        articles=articles,
        wall_s=wall,
        cpu_s=usage.ru_utime + usage.ru_stime,
        max_rss_mb=usage.ru_maxrss / 1024,
        responses=articles,
    )


def median_run(runs: list[Run]) -> Run:
    """The run of median CPU time."""
    return sorted(runs, key=lambda r: r.cpu_s)[len(runs) // 2]


def main(argv: list[str] | None = None) -> dict[str, object]:
    """Run the benchmark; print and save the figures."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.crawl")
    parser.add_argument("--articles", type=int, default=2000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--memory", default="", help="e.g. 2000,20000")
    args = parser.parse_args(argv)
    results: dict[str, object] = {
        "settings": REPLICA_SETTINGS,
        "date": time.strftime("%F"),
    }

    # The replica serves the fixture site too: its 3 listed articles are crawled.
    total = args.articles + 3
    with replica(args.articles) as (feed, pid):
        server = serve_alone(feed, pid)
        print(
            f"replica alone: {server['pages_per_s']:.0f} pages/s to 16 clients,"
            f" {server['server_cpu_ms_per_page']:.2f} ms server CPU per"
            f" {server['mean_kb']:.0f} KB page"
        )
        results["server"] = server
        runs: dict[str, list[Run]] = {"bare": [], "bare_lxml": [], "sina_finance": []}
        for _ in range(args.repeat):
            # Interleaved, so that drift of the machine hits every variant alike.
            for spider, measured in runs.items():
                measured.append(crawl(spider, feed, total))
    medians = {spider: median_run(measured) for spider, measured in runs.items()}
    floor = medians["bare_lxml"].cpu_s
    for spider, run in medians.items():
        print(
            f"{spider:>13}: {run.cpu_s:6.2f} s CPU ({run.cpu_s / total * 1000:.2f} ms"
            f" per article), {run.per_second:6.1f} articles/s, peak RSS"
            f" {run.max_rss_mb:.0f} MB, {run.cpu_s / floor:.2f}× floor"
        )
    results["runs"] = {s: [asdict(r) for r in measured] for s, measured in runs.items()}
    results["ratio_to_floor"] = medians["sina_finance"].cpu_s / floor
    print(f"sina_finance / floor = {results['ratio_to_floor']:.2f} (target ≤ 1.15)")

    if args.memory:
        memory: list[dict[str, float]] = []
        for n in (int(x) for x in args.memory.split(",")):
            with replica(n) as (feed, _):
                run = crawl("sina_finance", feed, n + 3)
            memory.append(asdict(run))
            print(
                f"memory: {n + 3} articles, peak RSS {run.max_rss_mb:.0f} MB,"
                f" {run.per_second:.0f}/s"
            )
        results["memory"] = memory
        if len(memory) >= 2:
            ratio = memory[-1]["max_rss_mb"] / memory[0]["max_rss_mb"]
            results["rss_ratio"] = ratio
            print(f"peak RSS ratio {ratio:.2f} (target ≤ 1.2)")
        chart(memory)

    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "crawl.json").write_text(json.dumps(results, indent=2))
    return results


def chart(memory: list[dict[str, float]]) -> None:
    """Throughput and peak RSS against N, as a PNG (needs matplotlib)."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print(
            "matplotlib missing: no chart (pip install -r benchmarks/requirements.txt)"
        )
        return
    n = [m["articles"] for m in memory]
    figure, (left, right) = plt.subplots(1, 2, figsize=(9, 3.5))
    left.plot(n, [m["articles"] / m["wall_s"] for m in memory], marker="o")
    left.set(xlabel="articles crawled", ylabel="articles / s", ylim=(0, None))
    right.plot(n, [m["max_rss_mb"] for m in memory], marker="o", color="tab:red")
    right.set(xlabel="articles crawled", ylabel="peak RSS (MB)", ylim=(0, None))
    for axes in (left, right):
        axes.set_xscale("log")
        axes.set_xticks(n, [f"{x:,}" for x in n])
        axes.minorticks_off()
    figure.suptitle("scrapy crawl sina_finance against the replica")
    figure.tight_layout()
    figure.savefig(PROJECT_ROOT / "benchmarks" / "crawl.png", dpi=100)


if __name__ == "__main__":
    main()
