"""``python -m replica``: serve the fixture site and generated articles."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from typing import TYPE_CHECKING

from replica.server import Replica
from replica.site import GENERATED_INTERVAL, SEED_PATH, add_generated, fixture_site

if TYPE_CHECKING:
    from types import FrameType


def main(argv: list[str] | None = None) -> int:
    """Serve until SIGINT or SIGTERM; print the feed URL as the first stdout line."""
    parser = argparse.ArgumentParser(
        prog="python -m replica", description="Serve a local replica of Sina Finance."
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
    args = parser.parse_args(argv)
    if args.articles < 0:
        parser.error("--articles must be 0 or more")

    site = fixture_site()
    # Generated articles start one interval before the seed's, so the seed's own
    # article stays the newest item of the feed's first page.
    newest = site.find(SEED_PATH)
    start = (newest.intime if newest else 0) - GENERATED_INTERVAL
    add_generated(site, args.articles, seed=args.seed, start=start)

    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    with Replica(site, port=args.port) as replica:
        replica.gzip, replica.chunked = args.gzip, args.chunked
        # A parent process reads this line to learn the URL: flush it now.
        print(f"replica serving {replica.feed_url} ({len(site)} articles)", flush=True)
        # A timed wait, so that the main thread gets to run the signal handler.
        while not stop.wait(0.5):
            pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
