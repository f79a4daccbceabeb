"""End-to-end crawl cost against its floors, capture off and on, in one run.

    python -m benchmarks.crawl [--sizes 300,2000] [--repeat 3] [--profile 1000]
                               [--memory 2000,20000] [--plain]

For each size N, serves ``python -m replica --articles N --gzip`` (gzip-encoded
answers, as Sina's servers send them; ``--plain`` for identity) in a process of its
own, measures it alone (to show it is not the bottleneck), then crawls it
``--repeat`` times with four crawls, interleaved so that drift of the shared
machine hits each alike:

- ``floor (capture off)``: ``bare_lxml``, Scrapy alone fetching the same feed and
  article pages (decompressing them) plus one ``lxml.html.fromstring`` of each page
  (benchmarks/bare_spider.py);
- ``capture off``: ``scrapy crawl sina_finance`` with ``ARCHIVE_WARC_ENABLED=False``;
- ``floor (capture on)``: ``bare_lxml_gzip``, the same floor plus one
  ``zlib.compress`` of each page, as a WARC writer compresses what it keeps;
- ``capture on``: ``scrapy crawl sina_finance`` as configured (the default).

Every crawl is a subprocess at the project's log level (INFO, as cron runs it),
writing an archive of its own, kept until the benchmark ends (``crawl``: removing
thousands of files right before the next crawl slows its file creation here);
its CPU time (user + sys, start-up included) and peak RSS come from ``os.wait4``.
The medians of each crawl and their ratios are printed (and each crawl against
the floor of its own turn), targets beside them
(issue 14: capture off ≤ 1.15× its floor, capture on ≤ 1.25× its floor).

``--profile N`` then crawls N articles once more under cProfile with a per-thread
CPU clock (benchmarks/profiled.py) and prints, per article, the functions with
the most cumulative CPU and the most CPU of their own: where the time above the
floor goes. ``--memory`` crawls each
size once more and compares peak RSS (target: 20,000 ≤ 1.2× 2,000).

Results go to benchmarks/results/crawl.json (and the profile to
benchmarks/results/crawl.prof); with matplotlib and ``--memory``,
benchmarks/crawl.png. With ``--memory 2000,20000`` it took 43 minutes on the
shared 2-CPU machine under a load average of 7-10 (22 of them the 20,000-article
crawl).
"""

from __future__ import annotations

import argparse
import json
import os
import pstats
import resource
import statistics
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

#: What a bare spider runs with: Scrapy alone, none of the project's components.
BARE = {
    "SPIDER_MODULES": "newscrawl.spiders,benchmarks.bare_spider",
    "SPIDER_MIDDLEWARES": "{}",
    "ITEM_PIPELINES": "{}",
    "EXTENSIONS": "{}",
}

#: name: (spider, settings), in the order they run within a turn.
CRAWLS: dict[str, tuple[str, dict[str, str]]] = {
    "floor (capture off)": ("bare_lxml", {}),
    "capture off": ("sina_finance", {"ARCHIVE_WARC_ENABLED": "False"}),
    "floor (capture on)": ("bare_lxml_gzip", {}),
    "capture on": ("sina_finance", {}),
}
#: crawl: (its floor, target ratio).
TARGETS = {
    "capture off": ("floor (capture off)", 1.15),
    "capture on": ("floor (capture on)", 1.25),
}


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
def replica(articles: int, *, gzip: bool = True) -> Iterator[tuple[str, int]]:
    """``python -m replica`` in its own process: (feed URL, pid)."""
    argv = [sys.executable, "-m", "replica", "--articles", str(articles)]
    process = subprocess.Popen(
        [*argv, "--gzip"] if gzip else argv,
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
        local.conn.request(
            "GET", "/" + url.split("/", 3)[3], headers={"Accept-Encoding": "gzip"}
        )
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
        "mean_kb_sent": size / len(urls) / 1024,
    }


def crawl_argv(
    spider: str, feed: str, articles: int, archive: Path, settings: dict[str, str]
) -> list[str]:
    """The command line of one crawl of ``articles`` articles."""
    pages = str(articles // 50 + 2)
    settings = {"SINA_FEED_PAGES": pages, **settings}
    if spider != "sina_finance":
        settings |= BARE
    argv = crawl_command(feed, archive, f"pages={pages}", settings=settings)
    argv[argv.index("sina_finance")] = spider
    if spider != "sina_finance":
        argv = argv[: argv.index("-a")]  # the bare spiders take no arguments
    return argv


def crawl(
    spider: str,
    feed: str,
    articles: int,
    workspace: Path,
    settings: dict[str, str] | None = None,
) -> Run:
    """One measured crawl subprocess, into an archive of its own in ``workspace``.

    The archive is kept until the whole benchmark ends (``main``): an archive only
    grows, and thousands of files removed right before the next crawl would make
    its files slow to create. On this machine's ext4, which has no journal, the
    file system skips each recently deleted inode of the folder's block group
    when it allocates one (its ``recently_deleted`` check, minutes long):
    creating 2,000 files took 18-22 us each in fresh folders, 323-333 us right
    after 2,000 others of the same block group were removed.
    """
    archive = Path(tempfile.mkdtemp(dir=workspace)) / "archive"
    wall, usage = measured(crawl_argv(spider, feed, articles, archive, settings or {}))
    written = sum(
        1
        for p in archive.rglob("*.md")
        if not p.relative_to(archive).parts[0].startswith(".")
    )
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


def measured(argv: list[str]) -> tuple[float, resource.struct_rusage]:
    """Run ``argv`` from the project root to its end: its wall seconds and its
    resource usage from ``os.wait4`` (CPU, peak RSS). RuntimeError with the end
    of its log if it fails."""
    started = time.perf_counter()
    process = subprocess.Popen(
        argv,
        cwd=PROJECT_ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stderr is not None
    log = process.stderr.read()
    _, status, usage = os.wait4(process.pid, 0)
    wall = time.perf_counter() - started
    code = os.waitstatus_to_exitcode(status)
    if code != 0:
        raise RuntimeError(f"{' '.join(argv[:5])} … exited {code}:\n{log[-3000:]}")
    return wall, usage


def median_run(runs: list[Run]) -> Run:
    """The run of median CPU time."""
    return sorted(runs, key=lambda r: r.cpu_s)[len(runs) // 2]


def compare(
    articles: int, repeat: int, workspace: Path, *, gzip: bool
) -> dict[str, object]:
    """The four crawls of one size, interleaved, ``repeat`` times: medians, ratios."""
    # The replica serves the fixture site too: its 3 listed articles are crawled.
    total = articles + 3
    with replica(articles, gzip=gzip) as (feed, pid):
        server = serve_alone(feed, pid)
        print(
            f"\n{total} articles. Replica alone: {server['pages_per_s']:.0f} pages/s"
            f" to 16 clients, {server['server_cpu_ms_per_page']:.2f} ms of its CPU"
            f" per page ({server['mean_kb_sent']:.0f} KB sent)"
        )
        runs: dict[str, list[Run]] = {name: [] for name in CRAWLS}
        for _ in range(repeat):
            for name, (spider, settings) in CRAWLS.items():
                runs[name].append(crawl(spider, feed, total, workspace, settings))
    medians = {name: median_run(measured) for name, measured in runs.items()}
    ratios: dict[str, float] = {}
    turns: dict[str, list[float]] = {}
    for name, run in medians.items():
        line = (
            f"{name:>20}: {run.cpu_s:6.2f} s CPU, {run.cpu_s / total * 1000:5.2f} ms"
            f" per article, {run.per_second:6.1f} articles/s, peak RSS"
            f" {run.max_rss_mb:.0f} MB"
        )
        if name in TARGETS:
            floor, target = TARGETS[name]
            ratios[name] = run.cpu_s / medians[floor].cpu_s
            verdict = "met" if ratios[name] <= target else "NOT met"
            line += f", {ratios[name]:.2f}× its floor (target ≤ {target}: {verdict})"
            # Each crawl against the floor of its own turn: what the interleaving
            # is for, when the machine's speed drifts between turns.
            turns[name] = [
                crawl.cpu_s / floor_crawl.cpu_s
                for crawl, floor_crawl in zip(runs[name], runs[floor], strict=True)
            ]
            line += "; by turn " + ", ".join(f"{r:.2f}" for r in turns[name])
        print(line)
    return {
        "articles": total,
        "server": server,
        "runs": {
            name: [asdict(r) for r in measured] for name, measured in runs.items()
        },
        "medians": {name: asdict(run) for name, run in medians.items()},
        "ratios": ratios,
        "ratios_by_turn": turns,
    }


def profile(articles: int, *, gzip: bool, top: int = 25) -> dict[str, object]:
    """One capture-on crawl under cProfile (per-thread CPU): the functions with
    the most cumulative CPU time, the run's frame and the event loop left out."""
    out = RESULTS / "crawl.prof"
    total = articles + 3
    with (
        replica(articles, gzip=gzip) as (feed, _),
        tempfile.TemporaryDirectory(prefix="newscrawl-bench-") as folder,
    ):
        argv = crawl_argv("sina_finance", feed, total, Path(folder) / "archive", {})
        argv[1:3] = ["-m", "benchmarks.profiled", str(out)]  # instead of -m scrapy
        subprocess.run(argv, cwd=PROJECT_ROOT, check=True, capture_output=True)
    return report_profile(out, total, top)


def report_profile(out: Path, total: int, top: int = 25) -> dict[str, object]:
    """Print where the CPU of a profiled crawl of ``total`` articles went."""
    stats = pstats.Stats(str(out))
    entries = stats.stats  # type: ignore[attr-defined]
    whole = max(cumulative for _, _, _, cumulative, _ in entries.values())
    startup = sum(
        cumulative
        for (path, _, name), (*_, cumulative, _) in entries.items()
        if name == "_find_and_load" and "importlib" in path
    )
    rows = []
    for (path, line, name), (_, calls, own, cumulative, _) in entries.items():
        # Frames that wrap the whole run or every callback (runpy, the command,
        # the event loop, Deferreds) and imports say nothing about where the
        # time of an article goes.
        if cumulative > 0.5 * whole or any(part in path for part in _WRAPPERS):
            continue
        short = path.split("site-packages/")[-1].replace(str(PROJECT_ROOT) + "/", "")
        rows.append((cumulative, own, calls, f"{short}:{line}({name})"))
    print(
        f"\nProfile of a capture-on crawl of {total} articles (cProfile, CPU of the"
        f" crawling thread: {whole:.1f} s, start-up imports {startup:.1f} s of it;"
        " profiled code runs two to three times as slow). Per article:"
    )
    for title, key in (("cumulative", 0), ("own time", 1)):
        rows.sort(key=lambda row: row[key], reverse=True)
        print(f"\nby {title}:\n{'cumulative':>10} {'own':>7} {'calls':>7}  function")
        for cumulative, own, calls, where in rows[:top]:
            print(
                f"{cumulative / total * 1000:8.2f}ms {own / total * 1000:5.2f}ms"
                f" {calls:7d}  {where}"
            )
    rows.sort(reverse=True)
    return {
        "articles": total,
        "cpu_s": whole,
        "startup_imports_s": startup,
        "top": [
            {"function": where, "cumulative_s": c, "own_s": o, "calls": n}
            for c, o, n, where in rows[: 3 * top]
        ],
    }


# Path parts of the frames the profile's tables leave out.
_WRAPPERS = ("<frozen", "importlib", "runpy", "asyncio", "/twisted/", "cmdline.py")


def main(argv: list[str] | None = None) -> dict[str, object]:
    """Run the benchmark; print and save the figures."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.crawl")
    parser.add_argument("--sizes", default="300,2000", help="articles per crawl")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--profile", type=int, default=1000, help="0: no profile")
    parser.add_argument("--memory", default="", help="e.g. 2000,20000")
    parser.add_argument("--plain", action="store_true", help="no gzip encoding")
    args = parser.parse_args(argv)
    gzip = not args.plain
    RESULTS.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    results: dict[str, object] = {
        "settings": REPLICA_SETTINGS,
        "date": time.strftime("%F"),
        "gzip": gzip,
        "load_before": os.getloadavg(),
    }
    with tempfile.TemporaryDirectory(prefix="newscrawl-bench-") as folder:
        workspace = Path(folder)
        results["sizes"] = [
            compare(int(n), args.repeat, workspace, gzip=gzip)
            for n in args.sizes.split(",")
        ]
        if args.profile:
            results["profile"] = profile(args.profile, gzip=gzip)
        if args.memory:
            results |= memory_runs(args.memory, workspace, gzip=gzip)
    results["load_after"] = os.getloadavg()
    results["minutes"] = (time.perf_counter() - started) / 60
    print(
        f"\n{results['minutes']:.0f} min; load average"
        f" {statistics.mean(results['load_before']):.1f} before,"  # type: ignore[arg-type]
        f" {statistics.mean(results['load_after']):.1f} after"  # type: ignore[arg-type]
    )
    (RESULTS / "crawl.json").write_text(json.dumps(results, indent=2))
    return results


def memory_runs(sizes: str, workspace: Path, *, gzip: bool) -> dict[str, object]:
    """One crawl of each size (``--memory``): peak RSS against N, and its chart."""
    memory: list[dict[str, float]] = []
    for n in (int(x) for x in sizes.split(",")):
        with replica(n, gzip=gzip) as (feed, _):
            run = crawl("sina_finance", feed, n + 3, workspace)
        memory.append(asdict(run))
        print(
            f"memory: {n + 3} articles, peak RSS {run.max_rss_mb:.0f} MB,"
            f" {run.per_second:.0f}/s"
        )
    found: dict[str, object] = {"memory": memory}
    if len(memory) >= 2:
        ratio = memory[-1]["max_rss_mb"] / memory[0]["max_rss_mb"]
        found["rss_ratio"] = ratio
        print(f"peak RSS ratio {ratio:.2f} (target ≤ 1.2)")
    chart(memory)
    return found


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
