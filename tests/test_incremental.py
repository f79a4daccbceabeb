"""Cron-driven incremental runs, end to end: real ``scrapy crawl`` subprocesses
against the replica, on an archive that earlier runs left behind.

Most tests start from a copy of one archive of 60 generated articles (two feed
pages), built once per module by a first run.
"""

from __future__ import annotations

import hashlib
import random
import re
import shutil
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from newscrawl.archive.index import ArchiveIndex, IndexRow, index_path
from newscrawl.archive.runlog import read_runs
from replica.crawl import PROJECT_ROOT, archived_count, crawl_command, run_crawl
from replica.server import Fault, Replica
from replica.site import (
    DEFAULT_START,
    GENERATED_INTERVAL,
    Site,
    add_generated,
    generated_site,
)
from tests.conftest import crawl_stats, scrapy

SEED = 11
ARTICLES = 60
PAGE = 50  # items per feed page (SINA_FEED_NUM)
CHINA = (155, 1686)  # the default channel's pageid and lid
FOLDER = "金融/新浪财经/新浪财经－国內"


def site() -> Site:
    return generated_site(ARTICLES, seed=SEED)


# --- Helpers --------------------------------------------------------------------


def assert_verified(archive: Path) -> None:
    """``scrapy verify`` passes: exit 0, no problem printed."""
    run = scrapy("verify", archive)
    assert (run.returncode, run.stdout) == (0, ""), run.stdout + run.stderr
    assert "verify ok:" in run.stderr


def articles(archive: Path) -> list[str]:
    """The article files: every file outside hidden folders, as relative paths."""
    return sorted(
        p.relative_to(archive).as_posix()
        for p in archive.rglob("*.md")
        if not any(part.startswith(".") for part in p.relative_to(archive).parts)
    )


def snapshot(archive: Path) -> dict[str, tuple[str, int, int]]:
    """Each file's hash, inode and mtime: a rewrite changes the last two.

    The WARC files are left out: every run captures the pages it fetched (feed
    pages too, so a run that archives nothing still adds a capture of them)."""
    found = {}
    for path in sorted(archive.rglob("*")):
        if path.is_file() and not path.relative_to(archive).as_posix().startswith(
            ".newscrawl/warc/"
        ):
            info = path.stat()
            digest = hashlib.sha256(path.read_bytes()).hexdigest()
            found[path.relative_to(archive).as_posix()] = (
                digest,
                info.st_ino,
                info.st_mtime_ns,
            )
    return found


# The crawler's own files a run always touches: the pid in the lock, its record.
RUN_FILES = {".newscrawl/lock", ".newscrawl/runs.jsonl"}


def without_run_files(found: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in found.items() if k not in RUN_FILES}


def index_rows(archive: Path) -> list[IndexRow]:
    index = ArchiveIndex.for_archive(archive, create=False)
    try:
        return list(index.rows())
    finally:
        index.close()


def path_of(archive: Path, doc_id: str) -> str:
    (found,) = [p for p in articles(archive) if p.endswith(f"-{doc_id}.md")]
    return found


def last_run(archive: Path) -> dict[str, Any]:
    return list(read_runs(archive))[-1]


def closed_port() -> int:
    """A port on 127.0.0.1 that nothing listens on (connection refused)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


# --- Fixtures -------------------------------------------------------------------


@pytest.fixture(scope="module")
def replica() -> Iterator[Replica]:
    # One server for the module: article URLs (which the index keeps) stay the same.
    with Replica(site()) as served:
        yield served


@pytest.fixture(scope="module")
def first_archive(replica: Replica, tmp_path_factory: pytest.TempPathFactory) -> Path:
    archive = tmp_path_factory.mktemp("first") / "archive"
    run = run_crawl(replica.feed_url, archive)
    assert run.returncode == 0, run.stderr[-3000:]
    assert crawl_stats(run)["archive/written"] == ARTICLES
    assert len(articles(archive)) == ARTICLES
    return archive


@pytest.fixture
def archive(first_archive: Path, replica: Replica, tmp_path: Path) -> Path:
    """A copy of the first run's archive, and the replica as that run saw it."""
    replica.site = site()
    replica.fail_feed = replica.fail_feed_times = replica.feed_body = None
    replica.clear_log()
    copy = tmp_path / "archive"
    shutil.copytree(first_archive, copy)
    return copy


# --- 1. Nothing new -------------------------------------------------------------


def test_a_run_over_an_unchanged_site_fetches_and_writes_nothing(
    replica: Replica, archive: Path
) -> None:
    before = snapshot(archive)
    run = run_crawl(replica.feed_url, archive)
    assert run.returncode == 0, run.stderr[-3000:]
    assert replica.article_requests() == []
    # Page 1 holds nothing new: page 2 is not even asked for.
    assert len(replica.feed_requests()) == 1
    counted = crawl_stats(run)
    assert counted["archive/skipped/known"] == PAGE
    assert counted["sina/feed/stopped_at_known"] == 1
    for name in ("archive/written", "archive/updated", "archive/skipped/unchanged"):
        assert name not in counted
    assert counted["downloader/response_status_count/200"] == 2  # robots.txt, feed
    assert "Run done (ok): 0 new, 0 updated, 0 unchanged, 50 skipped, 0 failed" in (
        run.stderr
    )
    # Not a byte written: files, index (bytes, inode, mtime) as they were.
    assert without_run_files(snapshot(archive)) == without_run_files(before)
    record = last_run(archive)
    assert (record["exit_status"], record["created"], record["updated"]) == (0, [], [])
    assert record["counts"] == {
        "new": 0,
        "updated": 0,
        "unchanged": 0,
        "skipped": PAGE,
        "failed": 0,
    }


# --- 2. New and changed articles ------------------------------------------------


def test_only_new_and_changed_articles_are_fetched(
    replica: Replica, archive: Path
) -> None:
    served = replica.site
    old = served.listing(*CHINA)
    newest = old[0].intime
    added = add_generated(
        served, 7, seed=SEED + 1, start=DEFAULT_START + 8 * GENERATED_INTERVAL
    )
    assert all(a.intime > newest for a in added)
    # The feed is newest first, and a run stops at the first feed page whose
    # items are all archived with the same mtime: an edit below that page is not
    # seen. Page 1 is always read, so the edited articles are taken from it
    # (old[3], old[20], old[40] sit at 10, 27 and 47 once the 7 new ones are on top).
    revised = [
        served.revise(
            a.doc_id, a.mtime + 600, paragraphs=[*a.paragraphs, f"更正：第{n}处。"]
        )
        for n, a in enumerate((old[3], old[20]))
    ]
    retouched = served.touch(old[40].doc_id, old[40].mtime + 600)
    listing = served.listing(*CHINA)
    changed = [*revised, retouched]
    assert all(listing.index(a) < PAGE for a in changed)
    before = snapshot(archive)

    run = run_crawl(replica.feed_url, archive)

    assert run.returncode == 0, run.stderr[-3000:]
    fetched = replica.article_requests()
    assert sorted(fetched) == sorted(a.path for a in [*added, *changed])
    counted = crawl_stats(run)
    assert counted["archive/written"] == 7
    assert counted["archive/updated"] == 2
    assert counted["archive/skipped/unchanged"] == 1
    assert counted["archive/refetch/mtime_changed"] == 3
    # Page 1: 50 - 10; page 2: the other 17, all known, so paging stops there.
    assert counted["archive/skipped/known"] == 40 + 17
    assert len(replica.feed_requests()) == 2

    after = snapshot(archive)
    new_paths = {path_of(archive, a.doc_id) for a in added}
    revised_paths = {path_of(archive, a.doc_id) for a in revised}
    assert set(after) - set(before) == new_paths
    assert set(before) - set(after) == set()
    rewritten = {
        path
        for path in before
        if path not in RUN_FILES
        and not path.startswith(".newscrawl/")
        and after[path] != before[path]
    }
    assert rewritten == revised_paths
    for n, article in enumerate(revised):
        text = (archive / path_of(archive, article.doc_id)).read_text("utf-8")
        assert f"更正：第{n}处。" in text

    record = last_run(archive)
    assert record["exit_status"] == 0
    assert sorted(record["created"]) == sorted(new_paths)
    assert sorted(record["updated"]) == sorted(revised_paths)
    assert len(record["created"]) + len(record["updated"]) == 9
    # The article edited without a visible change is remembered at its new mtime.
    rows = {row.doc_id: row for row in index_rows(archive)}
    for article in changed:
        assert rows[article.doc_id].feed_mtime == article.mtime
    assert len(rows) == ARTICLES + 7
    assert_verified(archive)


# --- 4. Rebuilding the index ----------------------------------------------------


def test_reindex_rebuilds_the_same_index(replica: Replica, archive: Path) -> None:
    old = index_rows(archive)
    for name in ("index.sqlite3", "index.sqlite3-wal", "index.sqlite3-shm"):
        (archive / ".newscrawl" / name).unlink(missing_ok=True)

    rebuilt = scrapy("reindex", archive)

    assert rebuilt.returncode == 0, rebuilt.stderr
    assert rebuilt.stdout == ""
    assert "reindex: 60 articles indexed from 60 files, 0 file(s) not indexed" in (
        rebuilt.stderr
    )
    new = index_rows(archive)
    # The files hold neither the URL nor the feed's mtime, and their own mtimes
    # stand for the times of the index.
    assert [(r.url, r.feed_mtime) for r in new] == [("", None)] * ARTICLES

    def comparable(row: IndexRow) -> IndexRow:
        return replace(
            row, url="", feed_mtime=None, first_archived=None, last_updated=None
        )

    assert [comparable(r) for r in new] == [comparable(r) for r in old]

    before = snapshot(archive)
    run = run_crawl(replica.feed_url, archive)
    assert run.returncode == 0, run.stderr[-3000:]
    assert replica.article_requests() == []
    assert crawl_stats(run)["archive/skipped/known"] == PAGE
    files_only = {k: v for k, v in before.items() if not k.startswith(".")}
    assert {k: v for k, v in snapshot(archive).items() if not k.startswith(".")} == (
        files_only
    )
    # The run adopted the feed's mtimes of what it saw (page 1), so later edits of
    # those articles are noticed.
    mtimes = {a.doc_id: a.mtime for a in replica.site.listing(*CHINA)}
    adopted = {r.doc_id: r.feed_mtime for r in index_rows(archive) if r.feed_mtime}
    page_one = [a.doc_id for a in replica.site.listing(*CHINA)[:PAGE]]
    assert adopted == {doc_id: mtimes[doc_id] for doc_id in page_one}
    assert_verified(archive)


# --- 5. Two runs at once --------------------------------------------------------


class GatedReplica(Replica):
    """A replica that holds every article page back until ``gate`` is set, so a
    run is certain to be in the middle of its crawl, holding the archive."""

    def __init__(self, content: Site) -> None:
        super().__init__(content)
        self.gate = threading.Event()
        #: Set when the first article request arrives at the gate.
        self.held = threading.Event()

    def respond(self, target: str) -> tuple[int, str, bytes]:
        if target.partition("?")[0].endswith(".shtml"):
            self.held.set()
            self.gate.wait(60)
        return super().respond(target)


@pytest.fixture
def gated() -> Iterator[GatedReplica]:
    served = GatedReplica(generated_site(20, seed=SEED + 2))
    served.start()
    try:
        yield served
    finally:
        served.gate.set()
        served.stop()


# Article pages wait at the gate: the crawl must not time them out meanwhile.
PATIENT = {"DOWNLOAD_TIMEOUT": "120"}


def start_crawl(replica: Replica, archive: Path, log: Path) -> subprocess.Popen[str]:
    with log.open("w") as stderr:
        return subprocess.Popen(
            crawl_command(replica.feed_url, archive, settings=PATIENT),
            cwd=PROJECT_ROOT,
            stdout=subprocess.DEVNULL,
            stderr=stderr,
            text=True,
        )


def wait_for(condition: Any, what: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up waiting for {what}")
        time.sleep(0.02)


def test_a_second_run_exits_at_once_with_the_lock_status(
    gated: GatedReplica, tmp_path: Path
) -> None:
    archive = tmp_path / "archive"
    logs = [tmp_path / "one.log", tmp_path / "two.log"]
    runs = [start_crawl(gated, archive, log) for log in logs]
    try:
        # Whichever takes the lock first waits at the gate; the other must give up.
        wait_for(lambda: any(r.poll() is not None for r in runs), "a run to exit")
        (loser,) = [r for r in runs if r.returncode is not None]
        (winner,) = [r for r in runs if r is not loser]
        assert winner.poll() is None  # the other exited while this one crawled
    finally:
        gated.gate.set()
        for run in runs:
            run.wait(timeout=120)
    assert (loser.returncode, winner.returncode) == (5, 0)
    message = logs[runs.index(loser)].read_text()
    assert (
        f"newscrawl: another run (pid {winner.pid}) is using the archive {archive};"
        " not starting a second run\n"
    ) in message
    assert "Traceback" not in message
    assert " ERROR: " not in message
    assert len(articles(archive)) == 20
    # Only the run that crawled has a record.
    assert [r["exit_status"] for r in read_runs(archive)] == [0]
    assert_verified(archive)


def test_a_killed_run_does_not_block_the_next(
    gated: GatedReplica, tmp_path: Path
) -> None:
    archive = tmp_path / "archive"
    killed = start_crawl(gated, archive, tmp_path / "killed.log")
    try:
        wait_for(gated.held.is_set, "the run to reach the articles")
        lock = archive / ".newscrawl" / "lock"
        assert lock.read_text() == f"{killed.pid}\n"
    finally:
        killed.send_signal(signal.SIGKILL)
        killed.wait(timeout=60)
    assert killed.returncode == -signal.SIGKILL
    gated.gate.set()
    run = run_crawl(gated.feed_url, archive, settings=PATIENT)
    assert run.returncode == 0, run.stderr[-3000:]
    assert "another run" not in run.stderr
    assert len(articles(archive)) == 20
    assert_verified(archive)


# --- 6. The feed fails ----------------------------------------------------------


@pytest.mark.parametrize("failure", ["refused", "http-500", "invalid-json"])
def test_a_failed_feed_leaves_the_archive_untouched(
    replica: Replica, archive: Path, failure: str
) -> None:
    feed_url = replica.feed_url
    if failure == "refused":
        feed_url = f"http://127.0.0.1:{closed_port()}/api/roll/get"
    elif failure == "http-500":
        replica.fail_feed = 500
    else:
        replica.feed_body = b'{"result": {"status": {"code": 0}, "data": [tru'
    before = snapshot(archive)
    runs_before = list(read_runs(archive))

    run = run_crawl(feed_url, archive)

    assert run.returncode == 3, run.stderr[-3000:]
    assert replica.article_requests() == []
    errors = [line for line in run.stderr.splitlines() if " ERROR: " in line]
    assert len(errors) == 2, errors
    assert f"ERROR: Cannot read the feed {feed_url}?" in errors[0]
    assert errors[1].endswith(
        "ERROR: Run FAILED (feed unreadable):"
        " 0 new, 0 updated, 0 unchanged, 0 skipped, 0 failed"
    )
    assert "Traceback" not in run.stderr
    # Files and index: the same bytes, never rewritten.
    assert without_run_files(snapshot(archive)) == without_run_files(before)
    runs = list(read_runs(archive))
    assert runs[:-1] == runs_before
    assert (runs[-1]["exit_status"], runs[-1]["created"], runs[-1]["updated"]) == (
        3,
        [],
        [],
    )


def test_a_crawl_refuses_a_damaged_index(replica: Replica, archive: Path) -> None:
    add_generated(
        replica.site, 3, seed=SEED + 4, start=DEFAULT_START + 4 * GENERATED_INTERVAL
    )
    path = index_path(archive)
    damaged = b"\xa5" * 100 + path.read_bytes()[100:]
    path.write_bytes(damaged)
    before = snapshot(archive)

    run = run_crawl(replica.feed_url, archive)

    # Not "nothing new, all is well": the run failed at once, and says how to
    # repair, in one line.
    assert run.returncode == 7, run.stderr[-3000:]  # ExitStatus.ARCHIVE_FAILED
    (line,) = [x for x in run.stderr.splitlines() if "reindex" in x]
    assert line.startswith("newscrawl: cannot use the archive: the index")
    assert line.endswith("run `scrapy reindex` to rebuild it")
    assert "Traceback" not in run.stderr
    assert replica.article_requests() == []
    # The index is the memory of what is archived: never recreated silently.
    assert without_run_files(snapshot(archive)) == without_run_files(before)
    assert path.read_bytes() == damaged


# --- 3. Crash safety ------------------------------------------------------------

CRASH_ARTICLES = 300
CRASH_PAGES = f"pages={CRASH_ARTICLES // PAGE}"
ARTICLE_NAME = re.compile(re.escape(FOLDER) + r"/\d{4}-\d{2}-\d{2}-i[a-z]{7}\d{7}\.md")


def kill_after_articles(
    replica: Replica, archive: Path, more: int, jitter: float
) -> subprocess.Popen[str]:
    """Start a crawl; SIGKILL it ``jitter`` seconds after it logged ``more``
    articles archived."""
    crawl = subprocess.Popen(
        # The line logged per archived article says when to kill.
        crawl_command(
            replica.feed_url,
            archive,
            CRASH_PAGES,
            # The per-article line counts the articles archived; batches of 3 keep
            # group commit in play while the kill points stay where they were
            # drawn (a batch of 50 commits, and logs, up to 50 articles at once:
            # the kills would overshoot and the last runs find nothing new).
            settings={"ARCHIVE_LOG_ARTICLES": "True", "ARCHIVE_COMMIT_BATCH": "3"},
        ),
        cwd=PROJECT_ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert crawl.stderr is not None
    seen = 0
    tail: list[str] = []
    for line in crawl.stderr:
        tail = [*tail[-20:], line]
        if " INFO: Archived " in line:
            seen += 1
            if seen >= more:
                time.sleep(jitter)
                break
    crawl.send_signal(signal.SIGKILL)
    crawl.communicate(timeout=60)
    assert crawl.returncode == -signal.SIGKILL, "".join(tail)
    return crawl


def kill_after_seconds(replica: Replica, archive: Path, delay: float) -> None:
    """Start a crawl; SIGKILL it ``delay`` seconds later."""
    crawl = subprocess.Popen(
        crawl_command(replica.feed_url, archive, CRASH_PAGES),
        cwd=PROJECT_ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    time.sleep(delay)
    crawl.send_signal(signal.SIGKILL)
    crawl.wait(timeout=60)
    assert crawl.returncode == -signal.SIGKILL


def test_killed_runs_leave_a_sound_archive_and_the_next_completes_it(
    tmp_path: Path,
) -> None:
    served = generated_site(CRASH_ARTICLES, seed=SEED + 3)
    archive = tmp_path / "archive"
    archive.mkdir()  # the archive folder exists, as it does for a cron job
    rng = random.Random(20261128)
    # Kill points spread over the whole crawl. Most are placed by progress rather
    # than by the clock: a delay from the start would mostly land in the
    # interpreter's start-up (a second of a five-second crawl) and drift with the
    # machine's load. Each waits for a random number of articles to be archived
    # (so the points spread over all 300), then a random few milliseconds more
    # (so the kill falls anywhere within the writes in flight). Two are plain
    # random delays from the start: a kill during start-up, on a new archive and
    # on a half-built one. Ten kills in all, each followed by `scrapy verify`.
    targets = sorted(rng.sample(range(1, CRASH_ARTICLES - 5), 8))
    plan: list[tuple[str, float]] = [("seconds", rng.uniform(0.05, 0.8))]
    plan += [("articles", t) for t in targets[:4]]
    plan += [("seconds", rng.uniform(0.05, 0.8))]
    plan += [("articles", t) for t in targets[4:]]
    kills = 0
    with Replica(served) as replica:
        for kind, value in plan:
            archived = archived_count(archive)
            if kind == "seconds":
                kill_after_seconds(replica, archive, value)
            else:
                more = max(1, int(value) - archived)
                kill_after_articles(replica, archive, more, rng.uniform(0, 0.05))
                assert archived_count(archive) >= archived + more
            kills += 1
            assert_verified(archive)
            # Nothing half-written is visible: every file outside the hidden
            # folders and names is an article, named as FORMAT.md says.
            visible = [
                p.relative_to(archive).as_posix()
                for p in archive.rglob("*")
                if p.is_file()
                and not any(x.startswith(".") for x in p.relative_to(archive).parts)
            ]
            assert all(ARTICLE_NAME.fullmatch(p) for p in visible), visible
            # What was archived stays archived.
            assert archived_count(archive) >= archived
        assert kills >= 10
        assert 0 < archived_count(archive) < CRASH_ARTICLES

        final = run_crawl(replica.feed_url, archive, CRASH_PAGES)

    assert final.returncode == 0, final.stderr[-3000:]
    files = articles(archive)
    assert len(files) == CRASH_ARTICLES
    assert sorted(p.rsplit("-", 1)[1].removesuffix(".md") for p in files) == sorted(
        a.doc_id for a in served.articles()
    )
    rows = index_rows(archive)
    assert len(rows) == CRASH_ARTICLES
    assert all(r.archived and r.pending_path is None for r in rows)
    assert sorted(r.path for r in rows) == files
    assert_verified(archive)


# --- 4. Group commit ------------------------------------------------------------


def test_a_kill_mid_batch_loses_nothing_and_refetches_at_most_that_batch(
    replica: Replica, archive: Path
) -> None:
    old_rows = {r.doc_id: r for r in index_rows(archive)}
    old_files = {p: (archive / p).read_bytes() for p in articles(archive)}
    added = add_generated(
        replica.site, 40, seed=SEED + 9, start=DEFAULT_START + 8 * GENERATED_INTERVAL
    )
    for article in added:
        replica.faults[article.path] = Fault(delay=0.2)
    batch = 10
    # Batches of 10, no time limit; two pages at a time, slow: about 10 articles a
    # second, so the kill falls well inside the third batch.
    settings = {
        "ARCHIVE_COMMIT_BATCH": str(batch),
        "ARCHIVE_COMMIT_INTERVAL": "600",
        "CONCURRENT_REQUESTS": "2",
        "CONCURRENT_REQUESTS_PER_DOMAIN": "2",
    }
    crawl = subprocess.Popen(
        crawl_command(replica.feed_url, archive, settings=settings),
        cwd=PROJECT_ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    staging = archive / ".newscrawl" / "staging"
    try:
        wait_for(
            lambda: (
                archived_count(archive) >= ARTICLES + 2 * batch
                and len(list(staging.glob("*.tmp"))) >= 5
            ),
            "two batches committed and five files of the third written",
        )
    finally:
        crawl.send_signal(signal.SIGKILL)
        crawl.wait(timeout=60)
        fetched = set(replica.article_requests())
        replica.faults.clear()
    committed = archived_count(archive)
    # Two batches are durable; the third was being written: its files wait in
    # the staging folder, none of them in place nor archived.
    assert ARTICLES + 2 * batch <= committed < ARTICLES + 3 * batch
    assert len(articles(archive)) == committed
    assert list(staging.glob("*.tmp")) != []
    assert_verified(archive)
    # Nothing archived before is lost or changed.
    rows = {r.doc_id: r for r in index_rows(archive)}
    for doc_id, old in old_rows.items():
        assert (rows[doc_id].sha256, rows[doc_id].path) == (old.sha256, old.path)
    assert all((archive / p).read_bytes() == data for p, data in old_files.items())

    replica.clear_log()
    run = run_crawl(replica.feed_url, archive)

    assert run.returncode == 0, run.stderr[-3000:]
    # What was not committed is fetched: the open batch again (at most one
    # batch of what the killed run fetched), and what it never reached.
    requested = replica.article_requests()
    assert len(requested) == len(set(requested)) == ARTICLES + len(added) - committed
    again = fetched & set(requested)
    assert 0 < len(again) <= batch
    assert crawl_stats(run)["archive/written"] == len(requested)
    assert len(articles(archive)) == ARTICLES + len(added)
    assert archived_count(archive) == ARTICLES + len(added)
    assert all(r.archived and r.pending_path is None for r in index_rows(archive))
    assert_verified(archive)
    # The next run cleared what the killed one had staged.
    assert list(staging.glob("*")) == []


def test_a_slow_batch_is_committed_on_its_time_limit(
    replica: Replica, archive: Path
) -> None:
    added = add_generated(
        replica.site, 20, seed=SEED + 10, start=DEFAULT_START + 8 * GENERATED_INTERVAL
    )
    for article in added:
        replica.faults[article.path] = Fault(delay=0.2)
    # A batch no run fills: only its time limit commits anything before the end.
    settings = {
        "ARCHIVE_COMMIT_BATCH": "1000",
        "ARCHIVE_COMMIT_INTERVAL": "0.2",
        "ARCHIVE_LOG_ARTICLES": "True",  # the line that says a batch was committed
        "CONCURRENT_REQUESTS": "2",
        "CONCURRENT_REQUESTS_PER_DOMAIN": "2",
    }
    crawl = subprocess.Popen(
        crawl_command(replica.feed_url, archive, settings=settings),
        cwd=PROJECT_ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert crawl.stderr is not None
    try:
        for line in crawl.stderr:
            if " INFO: Archived " in line:
                break
    finally:
        crawl.send_signal(signal.SIGKILL)
        crawl.communicate(timeout=60)
        replica.faults.clear()
    assert crawl.returncode == -signal.SIGKILL
    assert ARTICLES < archived_count(archive) < ARTICLES + len(added)
    assert_verified(archive)
