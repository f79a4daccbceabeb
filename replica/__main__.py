"""``python -m replica``: serve the fixture site and generated articles."""

from __future__ import annotations

import argparse
import shlex
import signal
import sys
import threading
from typing import TYPE_CHECKING

from replica.crawl import crawl_command
from replica.server import FEED_PATH, Replica
from replica.site import (
    GENERATED_INTERVAL,
    SEED_PATH,
    Site,
    add_generated,
    dated_site,
    fixture_site,
)

if TYPE_CHECKING:
    from types import FrameType


def main(argv: list[str] | None = None) -> int:
    """Serve until SIGINT or SIGTERM; print the feed URL as the first stdout line."""
    parser = argparse.ArgumentParser(
        prog="python -m replica",
        description="Serve a local replica of Sina Finance.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="To crawl it by hand, serve it on a known port and, in another shell,"
        " run the command it prints on its second line, e.g.:\n\n"
        "  python -m replica --port 8000 --articles 200\n"
        f"  {hand_command('http://127.0.0.1:8000' + FEED_PATH)}\n\n"
        "With --days, the feed's date window serves those days (for"
        " -a backfill=FROM:TO) and its live feed reaches two pages back, as Sina's.",
    )
    parser.add_argument(
        "--articles", type=int, default=0, help="generated articles to add (0)"
    )
    parser.add_argument("--port", type=int, default=0, help="port (0: any free one)")
    parser.add_argument("--seed", type=int, default=0, help="generation seed (0)")
    parser.add_argument(
        "--gzip", action="store_true", help="gzip-encode answers, as Sina's servers do"
    )
    parser.add_argument(
        "--chunked", action="store_true", help="send bodies chunked, with no length"
    )
    parser.add_argument(
        "--days",
        type=int,
        default=0,
        help="serve articles of the last N days instead (backfill; 0: no)",
    )
    parser.add_argument(
        "--per-day",
        default="10-20",
        help="with --days: articles a day, as MIN-MAX (10-20)",
    )
    args = parser.parse_args(argv)
    if args.articles < 0:
        parser.error("--articles must be 0 or more")
    if args.days:
        low, _, high = args.per_day.partition("-")
        try:
            per_day = (int(low), int(high or low))
        except ValueError:
            parser.error("--per-day wants MIN-MAX, e.g. 100-300")
        site = dated_site(args.days, per_day, seed=args.seed)
    else:
        site = demo_site(args.articles, args.seed)
    serve(site, args.port, gzip=args.gzip, chunked=args.chunked)
    return 0


def hand_command(feed_url: str) -> str:
    """The shell command that crawls the replica at ``feed_url`` (replica-archive/)."""
    argv = crawl_command(feed_url, "replica-archive")
    return shlex.join(["scrapy", *argv[argv.index("crawl") :]])


def demo_site(articles: int, seed: int) -> Site:
    """The fixture articles and ``articles`` generated ones, the seed's newest."""
    site = fixture_site()
    # Generated articles start one interval before the seed's, so the seed's own
    # article stays the newest item of the feed's first page.
    newest = site.find(SEED_PATH)
    start = (newest.intime if newest else 0) - GENERATED_INTERVAL
    add_generated(site, articles, seed=seed, start=start)
    return site


def serve(site: Site, port: int, *, gzip: bool = False, chunked: bool = False) -> None:
    """Serve ``site`` until SIGINT or SIGTERM."""
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    with Replica(site, port=port) as replica:
        replica.gzip, replica.chunked = gzip, chunked
        # A parent process reads this line to learn the URL: flush it now.
        print(f"replica serving {replica.feed_url} ({len(site)} articles)", flush=True)
        print(f"crawl it with: {hand_command(replica.feed_url)}", flush=True)
        # A timed wait, so that the main thread gets to run the signal handler.
        while not stop.wait(0.5):
            pass


if __name__ == "__main__":
    sys.exit(main())
