"""Backfill by date against the replica: speed, kill-and-resume, a second pass, memory.

    python -m benchmarks.backfill [--days 60] [--per-day 100-300] [--kills 3]
                                  [--memory 1000,5000,20000]

The replica (``dated_site``: ``--days`` days of ``--per-day`` articles, its live
feed two pages deep) is served in this process, so its request log counts what
each crawl fetched; every crawl is the real ``scrapy crawl sina_finance -a
backfill=FROM:TO`` in a subprocess with politeness off (replica/crawl.py), its
peak RSS from ``os.wait4``. Figures: benchmarks/README.md; raw results in
benchmarks/results/backfill.json.
"""

from __future__ import annotations

import argparse
import json
import random
import signal
import subprocess
import tempfile
import time
from collections import Counter
from datetime import datetime, timedelta
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from benchmarks.crawl import measured
from replica.crawl import PROJECT_ROOT, archived_count, crawl_command
from replica.server import Replica
from replica.site import BEIJING, dated_site

RESULTS = PROJECT_ROOT / "benchmarks" / "results"
#: No live reads (they would add feed requests), and quiet logs.
SETTINGS = {"SINA_BACKFILL_LIVE_EVERY": "0", "LOG_LEVEL": "WARNING"}


def span(days: int) -> str:
    today = datetime.now(BEIJING).date()
    return f"backfill={today - timedelta(days=days - 1)}:{today}"


def run(replica: Replica, archive: Path, days: int) -> tuple[float, float]:
    """One backfill to its end: (wall seconds, peak RSS MB)."""
    wall, usage = measured(
        crawl_command(replica.feed_url, archive, span(days), settings=SETTINGS)
    )
    return wall, usage.ru_maxrss / 1024


def window_days(requests: list[str]) -> set[str]:
    return {
        parse_qs(urlsplit(r).query)["date"][0]
        for r in requests
        if "date=" in r and r.startswith("/api/roll/get")
    }


def full_and_second(days: int, per_day: tuple[int, int]) -> dict[str, object]:
    """A whole backfill, then the same days again."""
    site = dated_site(days, per_day, seed=1)
    with Replica(site) as replica, tempfile.TemporaryDirectory() as folder:
        archive = Path(folder) / "archive"
        wall, rss = run(replica, archive, days)
        fetched = Counter(replica.article_requests())
        first_feed = len(replica.feed_requests())
        replica.clear_log()
        second_wall, _ = run(replica, archive, days)
        second_days = sorted(window_days(replica.requests))
        result = {
            "days": days,
            "articles": len(site),
            "fetched": sum(fetched.values()),
            "fetched_twice": sum(n - 1 for n in fetched.values()),
            "feed_requests": first_feed,
            "wall_s": wall,
            "articles_per_s": len(site) / wall,
            "peak_rss_mb": rss,
            "second_wall_s": second_wall,
            "second_article_requests": len(replica.article_requests()),
            "second_feed_requests": len(replica.feed_requests()),
            "second_days_read": second_days,
        }
    print(
        f"backfill of {days} days, {len(site)} articles: {wall:.1f} s,"
        f" {len(site) / wall:.1f} articles/s, {first_feed} feed requests,"
        f" fetched twice {result['fetched_twice']}, peak RSS {rss:.0f} MB;"
        f" second pass {second_wall:.1f} s: {result['second_article_requests']}"
        f" article and {result['second_feed_requests']} feed requests, days"
        f" {', '.join(second_days)}"
    )
    return result


def killed(days: int, per_day: tuple[int, int], kills: int) -> dict[str, object]:
    """A backfill killed ``kills`` times at random points, then run to its end."""
    rng = random.Random(7)
    site = dated_site(days, per_day, seed=1)
    with Replica(site) as replica, tempfile.TemporaryDirectory() as folder:
        archive = Path(folder) / "archive"
        argv = crawl_command(replica.feed_url, archive, span(days), settings=SETTINGS)
        started = time.perf_counter()
        points = []
        in_flight = 0
        for _ in range(kills):
            target = len(replica.article_requests()) + rng.randint(
                1, len(site) // (kills + 1)
            )
            process = subprocess.Popen(
                argv,
                cwd=PROJECT_ROOT,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            while len(replica.article_requests()) < target and process.poll() is None:
                time.sleep(0.01)
            process.send_signal(signal.SIGKILL)
            process.wait()
            points.append(len(replica.article_requests()))
            # Fetched but not archived when killed: the next run fetches them again.
            in_flight += points[-1] - archived_count(archive)
        run(replica, archive, days)
        wall = time.perf_counter() - started
        fetched = Counter(replica.article_requests())
        archived = len([p for p in archive.rglob("*.md") if p.name != "README.md"])
    twice = sum(n - 1 for n in fetched.values())
    print(
        f"killed {kills} times (after {points} article requests), then resumed:"
        f" {archived} of {len(site)} archived, {twice} fetched twice ({in_flight}"
        f" fetched and not archived at the kills), {wall:.1f} s in all"
    )
    return {
        "kills": kills,
        "kill_points": points,
        "articles": len(site),
        "archived": archived,
        "fetched_twice": twice,
        "in_flight_at_kills": in_flight,
        "wall_s": wall,
    }


def memory(sizes: list[int]) -> list[dict[str, float]]:
    """Peak RSS of backfills of ``n`` articles (200 a day)."""
    found = []
    for n in sizes:
        days = max(1, n // 200)
        site = dated_site(days + 2, (200, 200), seed=2)
        with Replica(site) as replica, tempfile.TemporaryDirectory() as folder:
            wall, rss = run(replica, Path(folder) / "archive", days + 2)
        print(f"memory: {len(site)} articles backfilled, peak RSS {rss:.0f} MB")
        found.append({"articles": len(site), "peak_rss_mb": rss, "wall_s": wall})
    return found


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.backfill")
    parser.add_argument("--days", type=int, default=60)
    parser.add_argument("--per-day", default="100-300")
    parser.add_argument("--kills", type=int, default=3)
    parser.add_argument("--memory", default="1000,5000,20000")
    parser.add_argument(
        "--no-full", action="store_true", help="skip the whole backfill and 2nd pass"
    )
    args = parser.parse_args(argv)
    low, _, high = args.per_day.partition("-")
    per_day = (int(low), int(high or low))
    results: dict[str, object] = {}
    if not args.no_full:
        results["full"] = full_and_second(args.days, per_day)
    if args.kills:
        results["killed"] = killed(args.days, per_day, args.kills)
    if args.memory:
        sizes = [int(n) for n in args.memory.split(",")]
        results["memory"] = steps = memory(sizes)
        ratio = steps[-1]["peak_rss_mb"] / steps[0]["peak_rss_mb"]
        results["rss_ratio"] = ratio
        print(f"peak RSS ratio {ratio:.2f}, {sizes[-1]} over {sizes[0]} articles")
    RESULTS.mkdir(exist_ok=True)
    saved = RESULTS / "backfill.json"
    old = json.loads(saved.read_text()) if saved.exists() else {}
    saved.write_text(json.dumps({**old, **results}, indent=1) + "\n")


if __name__ == "__main__":
    main()
