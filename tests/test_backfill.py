"""Backfill by date (the spider's ``-a backfill=FROM[:TO]``) against the replica."""

from __future__ import annotations

import importlib.util
import json
import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from datetime import date, datetime, timedelta
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

from replica.crawl import PROJECT_ROOT, archived_count, crawl_command, run_crawl
from replica.server import Fault, Replica
from replica.site import BEIJING, Site, dated_site
from tests.conftest import crawl_stats, scrapy

DAYS = 10
#: No live reads unless a test asks: they would add feed requests to the counts.
QUIET = {"SINA_BACKFILL_LIVE_EVERY": "0"}


def today() -> date:
    return datetime.now(BEIJING).date()


def span(days: int = DAYS) -> str:
    return f"{today() - timedelta(days=days - 1)}:{today()}"


def per_day(site: Site) -> Counter[str]:
    return Counter(
        datetime.fromtimestamp(a.intime, BEIJING).date().isoformat() for a in site
    )


def window_days(replica: Replica) -> list[str]:
    days = []
    for request in replica.feed_requests():
        query = parse_qs(urlsplit(request).query)
        if "date" in query:
            days.append(query["date"][0])
    return days


def backfill(replica: Replica, archive: Path) -> subprocess.CompletedProcess[str]:
    """A backfill of the last DAYS days, without live reads."""
    return run_crawl(replica.feed_url, archive, f"backfill={span()}", settings=QUIET)


@pytest.fixture
def site() -> Site:
    return dated_site(DAYS, seed=3)


def test_a_backfill_archives_every_article_once_then_reads_only_two_days(
    tmp_path: Path, site: Site
) -> None:
    with Replica(site) as replica:
        first = run_crawl(
            replica.feed_url, tmp_path, f"backfill={span()}", settings=QUIET
        )
        assert first.returncode == 0, first.stderr[-3000:]
        fetched = Counter(replica.article_requests())
        assert len(fetched) == len(site) and set(fetched.values()) == {1}
        # The live feed reaches two pages: most of these days came by the window.
        assert len(site) > 100
        assert set(window_days(replica)) == set(per_day(site))
        replica.clear_log()
        second = backfill(replica, tmp_path)
        assert second.returncode == 0, second.stderr[-3000:]
        assert replica.article_requests() == []
        recent = {today().isoformat(), (today() - timedelta(days=1)).isoformat()}
        assert set(window_days(replica)) == recent
        assert len(replica.feed_requests()) == len(window_days(replica))
    stats = crawl_stats(second)
    assert stats["backfill/days/complete_before"] == DAYS - 2


def test_a_killed_backfill_resumes_without_fetching_twice(
    tmp_path: Path, site: Site
) -> None:
    rng = random.Random(12)
    in_flight = 0
    with Replica(site) as replica:
        argv = crawl_command(
            replica.feed_url, tmp_path, f"backfill={span()}", settings=QUIET
        )
        for _kill in range(3):
            before = len(replica.article_requests())
            target = before + rng.randint(5, 40)
            process = subprocess.Popen(
                argv,
                cwd=PROJECT_ROOT,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            deadline = time.monotonic() + 60
            while (
                len(replica.article_requests()) < target
                and process.poll() is None
                and time.monotonic() < deadline
            ):
                time.sleep(0.005)
            process.send_signal(signal.SIGKILL)
            process.wait()
            # Fetched but not archived when killed: the next run fetches them again.
            in_flight += len(replica.article_requests()) - archived_count(tmp_path)
        last = backfill(replica, tmp_path)
        assert last.returncode == 0, last.stderr[-3000:]
        fetched = Counter(replica.article_requests())
    assert set(fetched) == {f"{a.path}" for a in site}
    twice = sum(n - 1 for n in fetched.values())
    assert twice <= in_flight, fetched.most_common(5)
    # Scrapy holds at most 16 downloads and a few responses at a time, and the
    # archive its open batch of the group commit (ARCHIVE_COMMIT_BATCH, 50).
    assert in_flight <= 3 * (40 + 50)
    report = scrapy("coverage", tmp_path, "--json")
    days = [json.loads(line) for line in report.stdout.splitlines()]
    assert {d["day"]: d["archived"] for d in days} == per_day(site)


def test_coverage_reports_the_feeds_totals_and_the_gaps(
    tmp_path: Path, site: Site
) -> None:
    counts = per_day(site)
    old_day = (today() - timedelta(days=5)).isoformat()
    gone = [
        a
        for a in site
        if datetime.fromtimestamp(a.intime, BEIJING).date().isoformat() == old_day
    ][:2]
    other_day = (today() - timedelta(days=6)).isoformat()
    refused = next(
        a
        for a in site
        if datetime.fromtimestamp(a.intime, BEIJING).date().isoformat() == other_day
    )
    with Replica(site) as replica:
        for article in gone:
            replica.faults[article.path] = Fault(status=404)
        # A page with no article in it: read, then dropped.
        replica.faults[refused.path] = Fault(
            body=b"<html><head><title>x</title></head><body><p>x</p></body></html>"
        )
        run = backfill(replica, tmp_path)
    assert run.returncode == 0, run.stderr[-3000:]
    report = scrapy("coverage", tmp_path, "--json")
    assert report.returncode == 0, report.stderr
    days = {d["day"]: d for d in map(json.loads, report.stdout.splitlines())}
    assert {day: d["total"] for day, d in days.items()} == counts
    assert days[other_day]["dropped"] == 1
    assert days[other_day]["gaps"] == [refused.doc_id]
    for day, found in days.items():
        missing = 2 if day == old_day else 1 if day == other_day else 0
        assert found["archived"] == counts[day] - missing
        assert found["failed"] == (2 if day == old_day else 0)
        recent = day >= str(today() - timedelta(days=1))
        assert found["complete"] == (missing == 0 and not recent)
    assert sorted(days[old_day]["gaps"]) == sorted(a.doc_id for a in gone)
    text = scrapy("coverage", tmp_path, "--since", old_day, "--until", old_day)
    assert text.returncode == 0, text.stderr
    assert f"{old_day}" in text.stdout and "gaps: " in text.stdout
    assert gone[0].doc_id in text.stdout


def test_a_feed_that_ignores_the_window_stops_the_backfill(
    tmp_path: Path, site: Site
) -> None:
    with Replica(site) as replica:
        replica.ignore_window = True
        run = run_crawl(
            replica.feed_url,
            tmp_path,
            f"backfill={today() - timedelta(days=6)}:{today() - timedelta(days=5)}",
            settings=QUIET,
        )
        assert replica.article_requests() == []
    assert run.returncode == 3
    lines = [
        line for line in run.stderr.splitlines() if "ignored the date window" in line
    ]
    assert len(lines) == 1, run.stderr[-3000:]


def test_a_backfill_reads_the_live_feed_and_cron_runs_leave_it_the_archive(
    tmp_path: Path, site: Site
) -> None:
    # Old days only: today's articles arrive through the live reads alone.
    old = f"{today() - timedelta(days=DAYS - 1)}:{today() - timedelta(days=4)}"
    newest = max(a.intime for a in site)
    with Replica(site) as replica:
        # Slow pages keep the backfill running while the cron run tries.
        for article in site:
            replica.faults[article.path] = Fault(delay=0.05)
        process = subprocess.Popen(
            crawl_command(
                replica.feed_url,
                tmp_path,
                f"backfill={old}",
                settings={"SINA_BACKFILL_LIVE_EVERY": "1", "CONCURRENT_REQUESTS": "2"},
            ),
            cwd=PROJECT_ROOT,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        deadline = time.monotonic() + 30
        while not replica.article_requests() and time.monotonic() < deadline:
            time.sleep(0.05)
        cron = run_crawl(replica.feed_url, tmp_path)
        _, stderr = process.communicate(timeout=120)
    assert process.returncode == 0, stderr[-3000:]
    assert cron.returncode == 0, cron.stderr[-2000:]
    assert "a backfill (pid" in cron.stderr and "nothing to do" in cron.stderr
    newest_path = next(a.path for a in site if a.intime == newest)
    assert newest_path in replica.article_requests()
    assert (
        crawl_stats(subprocess.CompletedProcess([], 0, "", stderr))[
            "backfill/live_reads"
        ]
        >= 1
    )


@pytest.mark.parametrize(
    "argument",
    ["backfill=2026-13-01", "backfill=2026-01-05:2026-01-01", "backfill=2999-01-01"],
)
def test_bad_backfill_arguments_are_usage_errors(tmp_path: Path, argument: str) -> None:
    run = run_crawl("http://127.0.0.1:9/api/roll/get", tmp_path, argument)
    assert run.returncode == 2
    assert "backfill=" in run.stderr.splitlines()[-1]


def _has_matplotlib() -> bool:
    return importlib.util.find_spec("matplotlib") is not None


#: --plot needs the optional extra (requirements-plot.txt), which CI installs.
needs_matplotlib = pytest.mark.skipif(
    not _has_matplotlib() and not os.environ.get("CI"),
    reason="matplotlib (requirements-plot.txt) is not installed",
)


@pytest.fixture
def backfilled(tmp_path: Path) -> Path:
    with Replica(dated_site(DAYS, seed=8)) as replica:
        run = backfill(replica, tmp_path)
    assert run.returncode == 0, run.stderr[-3000:]
    return tmp_path


def test_reindex_keeps_what_backfill_knew_of_the_days(backfilled: Path) -> None:
    before = scrapy("coverage", backfilled, "--json").stdout
    assert len(before.splitlines()) == DAYS
    assert scrapy("reindex", backfilled).returncode == 0
    assert scrapy("coverage", backfilled, "--json").stdout == before


@needs_matplotlib
def test_coverage_plots_a_picture(backfilled: Path, tmp_path: Path) -> None:
    picture = tmp_path / "coverage.png"
    run = scrapy("coverage", backfilled, "--plot", str(picture))
    assert run.returncode == 0, run.stderr
    assert picture.read_bytes().startswith(b"\x89PNG")


def test_coverage_without_matplotlib_says_how_to_get_it(
    backfilled: Path, tmp_path: Path
) -> None:
    # A folder that shadows matplotlib with a module that cannot be imported.
    shadow = tmp_path / "shadow"
    (shadow / "matplotlib").mkdir(parents=True)
    (shadow / "matplotlib" / "__init__.py").write_text("raise ImportError('no')\n")
    argv = [sys.executable, "-m", "scrapy", "coverage"]
    argv += ["-s", f"ARCHIVE_DIR={backfilled}", "--plot", str(tmp_path / "x.png")]
    run = subprocess.run(
        argv,
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "PYTHONPATH": str(shadow)},
        check=False,
    )
    assert run.returncode == 1
    assert "pip install -r requirements-plot.txt" in run.stderr
