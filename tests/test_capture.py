"""The capture middleware (newscrawl/capture.py) in real crawls: a disk that refuses
the WARC files (a file in the folder's place, a full tmpfs) stops the run with
nothing archived without its capture; kill -9 at random points of a
capturing crawl leaves an archive that verifies, and no article without its record."""

from __future__ import annotations

import random
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from newscrawl.archive.index import ArchiveIndex
from newscrawl.archive.warc import warc_dir, warc_files
from replica.crawl import PROJECT_ROOT, crawl_command, run_crawl
from replica.server import Replica
from replica.site import generated_site
from tests.conftest import crawl_stats, needs_root, scrapy
from tests.test_archive_warc import warcio_check


def test_a_warc_folder_that_cannot_be_made_stops_the_run_with_nothing_archived(
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


# --- A full disk under the WARC files -----------------------------------------------


@pytest.fixture
def small_warc_disk(tmp_path: Path) -> Iterator[Path]:
    """A 2 MiB tmpfs for the WARC files alone, unmounted after the test."""
    disk = tmp_path / "warc-disk"
    disk.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", disk], check=True)
    try:
        yield disk
    finally:
        subprocess.run(["umount", "-l", disk], check=False)


def fill(disk: Path, leave: int) -> Path:
    """Fill ``disk`` until under ``leave`` bytes are free; the filler file."""
    filler = disk / "filler"
    with filler.open("wb") as stream:
        while shutil.disk_usage(disk).free > leave:
            try:
                stream.write(b"\0" * 4096)
                stream.flush()
            except OSError:
                break
    return filler


@needs_root
def test_a_full_disk_under_the_warc_files_stops_the_run_and_the_next_completes(
    tmp_path: Path, small_warc_disk: Path
) -> None:
    archive = tmp_path / "archive"
    warc = small_warc_disk / "warc"
    settings = {"ARCHIVE_WARC_DIR": str(warc)}
    # Room for a few article pages (about 62 KB each, as the replica serves
    # them gzipped), not for 20: the disk fills in the middle of the run.
    filler = fill(small_warc_disk, 300 * 1024)
    with Replica(generated_site(20, seed=3)) as replica:
        replica.gzip = True
        run = run_crawl(replica.feed_url, archive, settings=settings)
        assert run.returncode == 7, run.stderr[-3000:]
        errors = [line for line in run.stderr.splitlines() if "] ERROR: " in line]
        refused = [line for line in errors if "cannot write the capture of" in line]
        assert len(refused) == 1, errors
        assert "(ENOSPC: No space left on device)" in refused[0], refused[0]
        assert "Traceback" not in run.stderr
        stats = crawl_stats(run)
        assert stats["archive/failed"] == stats["archive/failed/ENOSPC"] == 1
        # Nothing counted as archived without its capture: every archived
        # article's version is readable, with the digest of its payload.
        first = ArchiveIndex.for_archive(archive, create=False)
        try:
            archived = [row for row in first.rows() if row.archived]
            versions = {v.doc_id for v in first.versions()}
        finally:
            first.close()
        assert len(archived) == stats.get("archive/written", 0) < 20
        assert {row.doc_id for row in archived} <= versions
        checked = scrapy("verify", archive, "-s", f"ARCHIVE_WARC_DIR={warc}")
        assert checked.returncode == 0, checked.stdout + checked.stderr
        # Space freed: the next run completes, and the files are whole WARC.
        filler.unlink()
        again = run_crawl(replica.feed_url, archive, settings=settings)
    assert again.returncode == 0, again.stderr[-3000:]
    index = ArchiveIndex.for_archive(archive, create=False)
    try:
        assert len([row for row in index.rows() if row.archived]) == 20
    finally:
        index.close()
    checked = scrapy("verify", archive, "-s", f"ARCHIVE_WARC_DIR={warc}")
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert warcio_check(warc_files(warc)).returncode == 0
