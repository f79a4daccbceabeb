"""Progress of long runs: the log line, and the bar only on a terminal."""

from __future__ import annotations

import fcntl
import os
import pty
import struct
import subprocess
import sys
import termios
from datetime import datetime, timedelta
from pathlib import Path

from newscrawl.progress import describe
from replica.crawl import PROJECT_ROOT, crawl_command, run_crawl
from replica.server import Fault, Replica
from replica.site import BEIJING, dated_site

SCRAPY = Path(sys.executable).parent / "scrapy"


def test_the_line_says_done_of_total_rate_and_eta() -> None:
    assert describe(50, 200, False, 10.0) == "50 of 200 articles, 10.0/s, ETA 0:00:15"
    assert describe(0, 0, True, 0.0) == "0 of ~0 articles, 0.0/s, ETA -"
    assert describe(10, 7210, True, 2.0).endswith("ETA 1:00:00")


def _slow_backfill(replica: Replica, archive: Path) -> list[str]:
    today = datetime.now(BEIJING).date()
    for article in replica.site:
        replica.faults[article.path] = Fault(delay=0.02)
    return crawl_command(
        replica.feed_url,
        archive,
        f"backfill={today - timedelta(days=4)}:{today - timedelta(days=2)}",
        settings={
            "PROGRESS_INTERVAL": "0.3",
            "SINA_BACKFILL_LIVE_EVERY": "0",
            "CONCURRENT_REQUESTS": "2",
        },
    )


def test_a_backfill_logs_its_progress_and_draws_no_bar_in_a_log(
    tmp_path: Path,
) -> None:
    with Replica(dated_site(5, seed=4)) as replica:
        argv = _slow_backfill(replica, tmp_path)
        run = subprocess.run(
            argv, cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=120
        )
    assert run.returncode == 0, run.stderr[-3000:]
    lines = [line for line in run.stderr.splitlines() if "Progress: " in line]
    assert lines, run.stderr[-3000:]
    assert " of " in lines[-1] and "articles, " in lines[-1] and "ETA" in lines[-1]
    assert "\r" not in run.stderr and "it/s" not in run.stderr


def _on_a_terminal(argv: list[str]) -> tuple[int, str]:
    """Run ``argv`` with stderr on a pseudo-terminal; (status, what it drew)."""
    leader, follower = pty.openpty()
    # A terminal has a size; a new pseudo-terminal has 0 columns, too narrow a bar.
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))
    process = subprocess.Popen(
        argv, cwd=PROJECT_ROOT, stdout=subprocess.DEVNULL, stderr=follower
    )
    os.close(follower)
    chunks = []
    while True:
        try:
            chunk = os.read(leader, 65536)
        except OSError:  # EIO: the child closed the terminal
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(leader)
    return process.wait(timeout=120), b"".join(chunks).decode("utf-8", "replace")


def test_a_backfill_on_a_terminal_draws_a_bar(tmp_path: Path) -> None:
    with Replica(dated_site(5, seed=4)) as replica:
        status, drawn = _on_a_terminal(_slow_backfill(replica, tmp_path))
    assert status == 0, drawn[-3000:]
    assert "backfill:" in drawn and "\r" in drawn and " articles" in drawn


def test_verify_on_a_terminal_draws_a_bar_and_not_in_a_log(tmp_path: Path) -> None:
    with Replica(dated_site(3, (60, 60), seed=4, live_pages=None)) as replica:
        run = run_crawl(replica.feed_url, tmp_path, "pages=5")
    assert run.returncode == 0, run.stderr[-3000:]
    argv = [str(SCRAPY), "verify", "-s", f"ARCHIVE_DIR={tmp_path}"]
    status, drawn = _on_a_terminal([str(SCRAPY), *argv[1:]])
    assert status == 0, drawn
    assert "verify:" in drawn and "files" in drawn and "verify ok" in drawn
    plain = subprocess.run(
        argv, cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=60
    )
    assert "\r" not in plain.stderr and "verify ok" in plain.stderr
