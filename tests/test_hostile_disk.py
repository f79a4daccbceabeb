"""A disk that refuses writes, end to end: a full disk and a read-only archive.

An archive is filled by a normal crawl, then put where writes fail: on a small
tmpfs that a big article cannot fit on (ENOSPC), or with its article folder
immutable (``chattr +i``: tests run as root, and root ignores chmod). The next
crawl must fail with one clear ERROR line, the stat ``archive/failed/<errno>``,
exit status 4 and the finish reason ``archive_failed``; leave no partial file;
leave every file archived before intact and the index agreeing with the files
(``scrapy verify``).

Both need root (mount, chattr); without it they are skipped (but never under CI,
where they must run), and tests/test_hostile_pipelines.py still simulates the
same errors in process.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from replica.crawl import run_crawl
from replica.server import Replica
from replica.site import SiteArticle, add_generated, fixture_site
from tests.conftest import crawl_stats, needs_root, tmpfs
from tests.test_crawl import articles, files
from tests.test_hostile import PAGES, index_rows, verify

ARTICLES = Path("金融/新浪财经/新浪财经－国內")
FIXTURE_IDS = ["ihqfskcn2160999", "iicezzrq4076655", "ikmvwzxq0000001"]
BIG_ID = "idiskbig0000001"
#: A paragraph of 1.5 MiB: more than the tmpfs has left.
BIG_TEXT = "满" * (512 * 1024)

pytestmark = needs_root


@pytest.fixture(scope="module")
def baseline(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An archive of the fixture site's three articles, made by a normal crawl."""
    archive = tmp_path_factory.mktemp("baseline") / "archive"
    with Replica(fixture_site()) as replica:
        result = crawl(replica, archive)
    assert result.returncode == 0, result.stderr[-3000:]
    return archive


def crawl(replica: Replica, archive: Path) -> subprocess.CompletedProcess[str]:
    return run_crawl(replica.feed_url, archive)


def snapshot(archive: Path) -> dict[Path, bytes]:
    return {p: (archive / p).read_bytes() for p in articles(archive)}


def site_with_new_articles(big: bool) -> Replica:
    """The fixture site, a few new small articles and, if ``big``, a 1.5 MiB one."""
    site = fixture_site()
    add_generated(site, 4, start=1618919498 - 420)
    if big:
        site.add(
            SiteArticle(
                doc_id=BIG_ID,
                path=f"/china/2021-04-20/doc-{BIG_ID}.shtml",
                title="写不下的文章",
                intime=1618919498 + 60,
                ctime=1618919498 + 60,
                mtime=1618919498 + 60,
                media_name="新京报",
                keywords="",
                raw=PAGES.page("写不下的文章", PAGES.normal_body(BIG_TEXT)).encode(
                    "utf-8"
                ),
            )
        )
    return Replica(site)


def assert_failed_cleanly(
    result: subprocess.CompletedProcess[str],
    archive: Path,
    before: dict[Path, bytes],
    rows_before: list[tuple[Any, ...]],
    errno_name: str,
    reason: str,
) -> None:
    counts = crawl_stats(result)
    # One ERROR line that names the file, the archive, the error and what happens.
    errors = [line for line in result.stderr.splitlines() if "] ERROR: " in line]
    failure = [line for line in errors if "Dropped: cannot write" in line]
    assert len(failure) == 1, errors
    assert re.search(
        rf"Dropped: cannot write {ARTICLES}/2021-04-2\d-i\w+\.md in the archive"
        rf" {re.escape(str(archive))} \({errno_name}: {reason}"
        + (r", \d+ KiB free" if errno_name == "ENOSPC" else "")
        + r"\); stopping the run",
        failure[0],
    ), failure[0]
    assert [e for e in errors if e not in failure][-1].endswith(
        "Run FAILED (archive failed): "
        f"{counts.get('archive/written', 0)} new, 0 updated, 0 unchanged,"
        f" 3 skipped, {counts['item_dropped_count']} failed"
    )
    assert result.returncode == 7  # ExitStatus.ARCHIVE_FAILED
    assert counts["archive/failed"] == counts[f"archive/failed/{errno_name}"] == 1
    assert "'finish_reason': 'archive_failed'" in result.stderr
    assert "Traceback" not in result.stderr
    # No partial or temporary file; what was there is intact.
    assert not [p for p in files(archive) if p.name.endswith(".tmp")]
    after = snapshot(archive)
    for path, data in before.items():
        assert after[path] == data, path
    assert index_rows(archive, FIXTURE_IDS) == rows_before
    # Files written before the error are whole and indexed.
    assert len(after) == len(before) + counts.get("archive/written", 0)
    checked = verify(archive)
    assert checked.returncode == 0, checked.stdout + checked.stderr


# --- A full disk -------------------------------------------------------------------


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 1 MiB tmpfs mounted at a fresh folder, unmounted after the test."""
    mountpoint = tmp_path / "disk"
    mountpoint.mkdir()
    with tmpfs(mountpoint) as mounted:
        yield mounted


def test_full_disk_stops_the_run_and_keeps_the_archive_whole(
    baseline: Path, small_disk: Path
) -> None:
    archive = small_disk / "archive"
    shutil.copytree(baseline, archive)
    before = snapshot(archive)
    rows_before = index_rows(archive, FIXTURE_IDS)
    with site_with_new_articles(big=True) as replica:
        result = crawl(replica, archive)
    assert_failed_cleanly(
        result, archive, before, rows_before, "ENOSPC", "No space left on device"
    )
    # The big article is neither a file nor an archived row.
    assert not [p for p in files(archive) if BIG_ID in p.name]
    (row,) = index_rows(archive, [BIG_ID]) or [(None,) * 9]
    assert row[6] is None  # sha256: never archived


# --- A read-only archive -----------------------------------------------------------


@pytest.fixture
def read_only_articles(baseline: Path, tmp_path: Path) -> Iterator[Path]:
    """A copy of the baseline whose article folder refuses new files."""
    archive = tmp_path / "archive"
    shutil.copytree(baseline, archive)
    folder = archive / ARTICLES
    frozen = subprocess.run(
        ["chattr", "+i", str(folder)], capture_output=True, text=True, check=False
    )
    if frozen.returncode != 0:
        pytest.skip(f"cannot chattr +i here: {frozen.stderr.strip()}")
    try:
        yield archive
    finally:
        subprocess.run(["chattr", "-i", str(folder)], check=True)


def test_read_only_archive_stops_the_run_and_keeps_the_archive_whole(
    read_only_articles: Path,
) -> None:
    archive = read_only_articles
    before = snapshot(archive)
    rows_before = index_rows(archive, FIXTURE_IDS)
    with site_with_new_articles(big=False) as replica:
        result = crawl(replica, archive)
    # The folder is tried once, before its first file is staged: it refuses.
    assert_failed_cleanly(
        result, archive, before, rows_before, "EPERM", "Operation not permitted"
    )
    assert crawl_stats(result).get("archive/written", 0) == 0


def test_wholly_read_only_archive_fails_with_one_line(
    baseline: Path, tmp_path: Path
) -> None:
    archive = tmp_path / "archive"
    shutil.copytree(baseline, archive)
    subprocess.run(["chattr", "-R", "+i", str(archive)], check=True)
    try:
        with site_with_new_articles(big=False) as replica:
            result = crawl(replica, archive)
    finally:
        subprocess.run(["chattr", "-R", "-i", str(archive)], check=True)
    assert result.returncode == 7  # ExitStatus.ARCHIVE_FAILED, before any request
    assert "Traceback" not in result.stderr
    (line,) = [x for x in result.stderr.splitlines() if x.startswith("newscrawl:")]
    assert line.startswith("newscrawl: cannot use the archive:")
    assert replica.requests == []
