"""The offline demo: the real ``scrapy crawl sina_finance`` against a local replica.

``python -m replica.demo`` serves the fixture articles plus generated ones on
127.0.0.1, crawls them into ``archive/`` exactly as a cron run would crawl Sina,
and prints one line that says what was written.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from replica.crawl import PROJECT_ROOT, run_crawl
from replica.server import Replica
from replica.site import GENERATED_INTERVAL, SEED_PATH, add_generated, fixture_site


def main(argv: list[str] | None = None) -> int:
    """Run the demo; return the crawl's exit status."""
    parser = argparse.ArgumentParser(prog="python -m replica.demo", description=__doc__)
    parser.add_argument(
        "--articles", type=int, default=200, help="generated articles (200)"
    )
    parser.add_argument(
        "--archive", type=Path, default=PROJECT_ROOT / "archive", help="archive folder"
    )
    args = parser.parse_args(argv)

    site = fixture_site()
    seed_article = site.find(SEED_PATH)
    newest = seed_article.intime if seed_article else int(time.time())
    add_generated(site, args.articles, seed=0, start=newest - GENERATED_INTERVAL)
    pages = len(site) // 50 + 1

    started = time.monotonic()
    with Replica(site) as replica:
        print(
            f"demo: replica of {len(site)} articles at {replica.base_url}", flush=True
        )
        run = run_crawl(replica.feed_url, args.archive.resolve(), f"pages={pages}")
        fetched = len(replica.article_requests())
    summary = [
        line
        for line in run.stderr.splitlines()
        if "Run done" in line or "Run FAILED" in line
    ]
    if run.returncode != 0 or not summary:
        sys.stderr.write(run.stderr[-5000:])
    files = [p for p in args.archive.rglob("*.md") if p.name != "README.md"]
    print(
        f"demo: {fetched} article pages fetched in {time.monotonic() - started:.1f} s;"
        f" {summary[-1].split('] ', 1)[-1] if summary else 'no summary'};"
        f" {len(files)} files in {args.archive} (exit status {run.returncode})"
    )
    return run.returncode


if __name__ == "__main__":
    sys.exit(main())
