"""The offline demo: the real ``scrapy crawl sina_finance`` against a local replica.

``python -m replica.demo`` serves the fixture articles plus generated ones on
127.0.0.1, crawls them into ``archive/`` exactly as a cron run would crawl Sina,
shows the crawl's progress, says what was written and what to try next.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from collections import deque
from pathlib import Path

from replica.crawl import PROJECT_ROOT, crawl_command
from replica.server import Replica
from replica.site import GENERATED_INTERVAL, SEED_PATH, add_generated, fixture_site

#: The demo crawl's progress line comes this often, in seconds.
PROGRESS_EVERY = 2
#: The longest a demo crawl may take before the demo stops it and says so.
DEADLINE = 300


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
    archive = args.archive.resolve()

    site = fixture_site()
    seed_article = site.find(SEED_PATH)
    newest = seed_article.intime if seed_article else int(time.time())
    add_generated(site, args.articles, seed=0, start=newest - GENERATED_INTERVAL)
    listed = sum(1 for a in site if a.listed)
    pages = listed // 50 + 1

    started = time.monotonic()
    with Replica(site) as replica:
        print(
            f"demo: replica of {len(site)} articles at {replica.base_url}"
            f" ({listed} in its roll feed; {len(site) - listed} old page served but"
            " listed nowhere, as on Sina)",
            flush=True,
        )
        status, summary, tail = crawl(replica.feed_url, archive, pages)
        fetched = len(replica.article_requests())
    if status != 0 or not summary:
        sys.stderr.write("".join(tail))
    files = [p for p in archive.rglob("*.md") if p.name != "README.md"]
    print(
        f"demo: {fetched} article pages fetched in {time.monotonic() - started:.1f} s;"
        f" {summary or 'no summary'}; {len(files)} files in {archive}"
        f" (exit status {status})"
    )
    if "skipped" in summary and not summary.endswith(" 0 skipped, 0 failed"):
        print(
            "demo: skipped = articles of the feed's first page(s) already archived"
            " and unchanged (same feed mtime): not requested at all; a page of only"
            " those ends the run, as what follows was read before."
        )
    what_next(archive)
    return status


def crawl(feed_url: str, archive: Path, pages: int) -> tuple[int, str, list[str]]:
    """Run the crawl, echoing its progress; (exit status, summary, last log lines)."""
    argv = crawl_command(
        feed_url,
        archive,
        f"pages={pages}",
        settings={"PROGRESS_INTERVAL": str(PROGRESS_EVERY)},
    )
    tail: deque[str] = deque(maxlen=60)
    summary = ""
    process = subprocess.Popen(
        argv,
        cwd=PROJECT_ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    assert process.stderr is not None
    deadline = time.monotonic() + DEADLINE
    for line in process.stderr:
        tail.append(line)
        if "Progress: " in line:
            print(f"demo: {line.split('Progress: ', 1)[1].rstrip()}", flush=True)
        elif "Run done" in line or "Run FAILED" in line:
            summary = line.split("] ", 1)[-1].strip()
        if time.monotonic() > deadline:
            process.terminate()
            print(
                f"demo: the crawl took more than {DEADLINE} s; stopped it (a slow"
                " machine? try --articles 50)",
                file=sys.stderr,
            )
    return process.wait(), summary, list(tail)


def what_next(archive: Path) -> None:
    """What to try after the demo, as commands that work as printed."""
    default = archive == (PROJECT_ROOT / "archive").resolve()
    where = "" if default else f" -s ARCHIVE_DIR={archive}"
    today = time.strftime("%Y-%m-%d")
    print(
        "demo: what next:\n"
        f"  browse   {archive}/ (one Markdown file per article;"
        " archive/README.md says how to read them)\n"
        f"  check    scrapy verify{where}\n"
        f"  count    scrapy stats{where}\n"
        f"  changes  scrapy changes{where} --since {today}\n"
        "  again    python -m replica.demo (nothing new: every article is skipped)\n"
        "  backfill python -m replica --days 10, then its printed command with"
        " -a backfill=FROM:TO; scrapy coverage\n"
        "  real     scrapy crawl sina_finance (needs internet; cron: README.md,"
        " From cron)"
    )


if __name__ == "__main__":
    sys.exit(main())
