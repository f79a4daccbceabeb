"""The capture middleware (newscrawl/capture.py) in real crawls: a disk that refuses
the WARC files stops the run with nothing archived; kill -9 at random points of a
capturing crawl leaves an archive that verifies, and no article without its record."""

from __future__ import annotations

import random
import subprocess
import time
from pathlib import Path

from newscrawl.archive.index import ArchiveIndex
from newscrawl.archive.warc import warc_dir, warc_files
from replica.crawl import PROJECT_ROOT, crawl_command, run_crawl
from replica.server import Replica
from replica.site import generated_site
from tests.conftest import crawl_stats, scrapy
from tests.test_archive_warc import warcio_check


def test_a_refused_warc_folder_stops_the_run_with_nothing_archived(
    tmp_path: Path,
) -> None:
    archive = tmp_path / "archive"
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the WARC folder should be\n")
    with Replica(generated_site(20, seed=2)) as replica:
        run = run_crawl(
            replica.feed_url,
            archive,
            settings={"ARCHIVE_WARC_DIR": str(blocker / "warc")},
        )
    assert run.returncode == 7, run.stderr[-3000:]
    assert run.stderr.count("cannot write the capture of") == 1
    assert "Traceback" not in run.stderr
    assert crawl_stats(run)["archive/failed"] == 1
    assert not [p for p in archive.rglob("*.md") if ".newscrawl" not in p.parts]


def test_capture_off_writes_no_warc(tmp_path: Path) -> None:
    archive = tmp_path / "archive"
    with Replica(generated_site(3, seed=2)) as replica:
        run = run_crawl(
            replica.feed_url, archive, settings={"ARCHIVE_WARC_ENABLED": "False"}
        )
    assert run.returncode == 0, run.stderr[-3000:]
    assert crawl_stats(run)["archive/written"] == 3
    assert warc_files(warc_dir(archive)) == []


def test_kill_9_at_random_points_never_counts_an_article_without_its_record(
    tmp_path: Path,
) -> None:
    archive = tmp_path / "archive"
    archive.mkdir()  # the archive folder exists, as it does for a cron job
    rng = random.Random(9)
    site = generated_site(200, seed=4)
    with Replica(site) as replica:
        replica.gzip = True
        argv = crawl_command(
            replica.feed_url,
            archive,
            "pages=4",
            settings={
                "CONCURRENT_REQUESTS": "4",
                "CONCURRENT_REQUESTS_PER_DOMAIN": "4",
            },
        )
        for point in range(10):
            # Every run has work: some articles edited since the last one.
            for article in rng.sample(site.articles(), 20):
                site.touch(article.doc_id, article.mtime + 60 * (point + 1))
            crawl = subprocess.Popen(
                argv,
                cwd=PROJECT_ROOT,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            # Kill points count from the moment the crawl holds the archive, not
            # from its start: Scrapy's start-up takes 1-3 s, more on a loaded
            # machine, and a kill before it reaches the archive tests nothing.
            wait_for_lock(archive, crawl)
            time.sleep(rng.uniform(0, 1.7))
            crawl.kill()
            crawl.wait()
            verify = scrapy("verify", archive)
            assert verify.returncode == 0, (point, verify.stdout, verify.stderr)
        last = run_crawl(replica.feed_url, archive, "pages=4")
    assert last.returncode == 0, last.stderr[-3000:]
    verify = scrapy("verify", archive)
    assert verify.returncode == 0, verify.stdout + verify.stderr
    assert warcio_check(warc_files(warc_dir(archive))).returncode == 0
    index = ArchiveIndex.for_archive(archive, create=False)
    try:
        rows = [row for row in index.rows() if row.archived]
        assert len(rows) == 200
        hashes: dict[str, set[str | None]] = {}
        for version in index.versions():
            hashes.setdefault(version.doc_id, set()).add(version.sha256)
        # Each article's file is one of its captured versions.
        assert all(row.sha256 in hashes.get(row.doc_id, set()) for row in rows)
    finally:
        index.close()


def wait_for_lock(archive: Path, crawl: subprocess.Popen[bytes]) -> None:
    """Until ``crawl`` holds the archive's lock (its pid is in the lock file)."""
    lock = archive / ".newscrawl" / "lock"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and crawl.poll() is None:
        try:
            if lock.read_text().startswith(f"{crawl.pid}\n"):
                return
        except OSError:
            pass
        time.sleep(0.02)
    raise AssertionError(f"the crawl never took the lock (exit {crawl.returncode})")
