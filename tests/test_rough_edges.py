"""What a new user hit on a first try (issue 12's rough edges), each held here."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

from replica.crawl import PROJECT_ROOT, run_crawl
from replica.server import FEED_PATH, Fault, Replica
from replica.site import generated_site


def test_an_unknown_spider_argument_is_a_usage_error(tmp_path: Path) -> None:
    run = run_crawl("http://127.0.0.1:9/api/roll/get", tmp_path, "page=3")
    assert run.returncode == 2
    last = run.stderr.strip().splitlines()[-1]
    assert "unknown spider argument(s) page" in last
    assert "backfill, channels, pages, since, url" in last


def test_a_feed_that_never_answers_is_given_up_after_sina_feed_give_up(
    tmp_path: Path,
) -> None:
    with Replica(generated_site(3)) as replica:
        # Accepts the connection, never answers (within the run).
        replica.faults["/robots.txt"] = Fault(delay=600)
        replica.faults[FEED_PATH] = Fault(delay=600)
        started = time.monotonic()
        # Without the bound: robots.txt and the feed, 4 tries each at 30 s.
        run = run_crawl(
            replica.feed_url,
            tmp_path,
            settings={
                "SINA_FEED_GIVE_UP": "2",
                "DOWNLOAD_TIMEOUT": "30",
                "RETRY_TIMES": "3",
            },
            timeout=60,
        )
        elapsed = time.monotonic() - started
    assert run.returncode == 3, run.stderr[-3000:]
    assert "SINA_FEED_GIVE_UP (2 s): giving up" in run.stderr
    assert elapsed < 30


def test_the_archive_readme_snippet_runs_on_the_archive_itself(tmp_path: Path) -> None:
    readme = (PROJECT_ROOT / "archive" / "README.md").read_text(encoding="utf-8")
    snippet = readme.split("```python\n", 1)[1].split("```", 1)[0]
    archive = tmp_path / "archive"
    with Replica(generated_site(3)) as replica:
        run = run_crawl(replica.feed_url, archive)
    assert run.returncode == 0, run.stderr[-3000:]
    (archive / "README.md").write_text(readme, encoding="utf-8")
    done = subprocess.run(
        [sys.executable, "-c", snippet],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert len(done.stdout.splitlines()) == 3


def test_the_summary_is_the_last_line_of_a_runs_log(tmp_path: Path) -> None:
    with Replica(generated_site(3)) as replica:
        run = run_crawl(replica.feed_url, tmp_path)
    assert run.returncode == 0, run.stderr[-3000:]
    assert "Run done (ok): 3 new" in run.stderr.strip().splitlines()[-1]


def test_the_demo_shows_progress_explains_its_counts_and_what_next(
    tmp_path: Path,
) -> None:
    argv = [sys.executable, "-m", "replica.demo", "--articles", "120"]
    argv += ["--archive", str(tmp_path)]
    first = subprocess.run(
        argv, cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=120
    )
    assert first.returncode == 0, first.stderr[-3000:]
    assert "(123 in its roll feed; 1 old page served but listed nowhere" in first.stdout
    assert "demo: 123 article pages fetched" in first.stdout
    assert "demo: what next:" in first.stdout
    assert f"scrapy verify -s ARCHIVE_DIR={tmp_path}" in first.stdout
    second = subprocess.run(
        argv, cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=120
    )
    assert "50 skipped" in second.stdout and "demo: skipped = " in second.stdout


def test_replica_help_and_output_give_a_ready_crawl_command() -> None:
    shown = subprocess.run(
        [sys.executable, "-m", "replica", "--help"],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert "scrapy crawl sina_finance -s " in shown.stdout
    assert "SINA_FEED_URL=http://127.0.0.1:8000/api/roll/get" in shown.stdout
