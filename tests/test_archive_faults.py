"""The archive against its operators: faults, misuse and its own advice lose nothing.

One test (or a few) per defect an adversarial operator found: a full disk, a
damaged or foreign index, killed and interrupted runs and what ``changes`` says of
them, deleted files, links, redirects between doc ids, a folder in an article's
place, a misspelt or relative ``ARCHIVE_DIR``, the lock's message. Each ends with
what ``verify`` says and, where the fault lost something, the next ordinary run
repairing it without being told.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import sqlite3
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from newscrawl.archive.index import SCHEMA_VERSION, index_path
from newscrawl.archive.lock import ArchiveLock, ArchiveLockedError
from newscrawl.archive.runlog import read_runs
from replica.crawl import PROJECT_ROOT, crawl_command, run_crawl
from replica.server import Fault, Replica
from replica.site import Site, fixture_site, generated_site
from tests.conftest import FIXTURES, crawl_stats, needs_root, scrapy

FOLDER = "金融/新浪财经/新浪财经－国內"
#: Small feed pages, so that a few dozen articles span several of them.
SMALL_PAGES = {"SINA_FEED_NUM": "5"}


def beijing_day(timestamp: int) -> str:
    return time.strftime("%Y-%m-%d", time.gmtime(timestamp + 8 * 3600))


def archived(archive: Path) -> list[str]:
    """Every article file of the archive (not the state folder), relative, sorted."""
    return sorted(
        p.relative_to(archive).as_posix()
        for p in archive.rglob("*.md")
        if not p.relative_to(archive).parts[0].startswith(".")
    )


def crawl(
    replica: Replica, archive: Path, *args: str, **settings: str
) -> subprocess.CompletedProcess[str]:
    return run_crawl(
        replica.feed_url,
        archive,
        "pages=20",
        *args,
        settings={**SMALL_PAGES, **settings},
    )


def ok(run: subprocess.CompletedProcess[str], status: int = 0) -> None:
    assert run.returncode == status, run.stderr[-3000:]
    assert "Traceback" not in run.stderr, run.stderr[-3000:]


def verified(archive: Path) -> list[str]:
    """The problems ``scrapy verify`` prints (none: it passed)."""
    run = scrapy("verify", archive)
    assert "Traceback" not in run.stderr
    assert run.returncode == (1 if run.stdout else 0), run.stderr
    return run.stdout.splitlines()


def changes(archive: Path, since: str) -> list[dict[str, str]]:
    run = scrapy("changes", archive, "--since", since)
    ok(run)
    return [json.loads(line) for line in run.stdout.splitlines()]


@pytest.fixture
def site() -> Site:
    return generated_site(20, seed=9)


@pytest.fixture
def replica(site: Site) -> Iterator[Replica]:
    with Replica(site) as served:
        yield served


@pytest.fixture
def archive(replica: Replica, tmp_path: Path) -> Path:
    """An archive of the site's 20 articles (4 feed pages), made by a normal run."""
    root = tmp_path / "archive"
    ok(crawl(replica, root))
    assert len(archived(root)) == 20
    replica.clear_log()
    return root


# --- 1. A full disk is a full disk ----------------------------------------------


@needs_root
def test_a_full_disk_is_reported_as_full_and_reindex_keeps_the_index(
    replica: Replica, site: Site, tmp_path: Path
) -> None:
    disk = tmp_path / "disk"
    disk.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=8m", "tmpfs", disk], check=True)
    try:
        root = disk / "archive"
        ok(crawl(replica, root))
        before = {p: (root / p).read_bytes() for p in archived(root)}
        index_before = index_path(root).read_bytes()
        first_run = next(read_runs(root))["run"]
        # Fill the disk to under 30 KiB free.
        filler = disk / "filler"
        with filler.open("wb") as stream:
            while shutil.disk_usage(disk).free > 24 * 1024:
                try:
                    stream.write(b"\0" * 4096)
                    stream.flush()
                except OSError:
                    break
        for command in ("verify", "stats"):
            run = scrapy(command, root)
            assert run.returncode == 7, (command, run.stdout, run.stderr)
            said = run.stdout + run.stderr
            assert "full" in said and "KiB free" in said, said
            assert "damaged" not in said and "scrapy reindex" not in said, said
        crawled = crawl(replica, root)
        ok(crawled, 7)
        assert "full" in crawled.stderr and "KiB free" in crawled.stderr
        assert "damaged" not in crawled.stderr
        # Reindex, run anyway, fails in one line and leaves the old index as it was.
        reindexed = scrapy("reindex", root)
        assert reindexed.returncode == 7, reindexed.stderr
        assert "Traceback" not in reindexed.stderr
        assert "the index is unchanged" in reindexed.stderr
        assert index_path(root).read_bytes() == index_before
        assert not index_path(root).with_name("index.sqlite3.damaged").exists()
        # Space freed: nothing is fetched again, nothing shows as new.
        filler.unlink()
        replica.clear_log()
        ok(crawl(replica, root))
        assert replica.article_requests() == []
        assert {p: (root / p).read_bytes() for p in archived(root)} == before
        assert changes(root, first_run) == []
        assert verified(root) == []
    finally:
        subprocess.run(["umount", "-l", disk], check=False)


# --- 2. An index that is not ours is refused, never recreated ----------------------


@pytest.mark.parametrize(
    "content",
    [b"", b"hello, not a database\n", b"SQLite format 3\x00" + b"\x00" * 100],
    ids=["empty", "text", "truncated-header"],
)
def test_a_foreign_index_is_refused_by_every_command(
    archive: Path, replica: Replica, content: bytes
) -> None:
    index_path(archive).write_bytes(content)
    for suffix in ("-wal", "-shm"):
        index_path(archive).with_name(f"index.sqlite3{suffix}").unlink(missing_ok=True)
    run = crawl(replica, archive)
    ok(run, 7)
    assert "cannot use the archive" in run.stderr
    assert replica.requests == []
    for command, args in [
        ("verify", ()),
        ("stats", ()),
        ("changes", ("--since", "2020-01-01")),
        ("forget", ("inope0000000001",)),
    ]:
        done = scrapy(command, archive, *args)
        assert done.returncode == 7, (command, done.stdout, done.stderr)
        assert "Traceback" not in done.stderr
    assert index_path(archive).read_bytes() == content
    # Reindex is the cure: the foreign file is moved aside, the files indexed.
    repaired = scrapy("reindex", archive)
    assert repaired.returncode == 0, repaired.stderr
    assert "moved to" in repaired.stderr
    assert verified(archive) == []


def test_a_state_folder_that_is_a_file_is_one_line_everywhere(
    archive: Path, replica: Replica
) -> None:
    state = archive / ".newscrawl"
    shutil.rmtree(state)
    state.write_text("not a folder")
    run = crawl(replica, archive)
    assert run.returncode == 7, run.stderr
    assert "Traceback" not in run.stderr
    for command, args in [
        ("verify", ()),
        ("reindex", ()),
        ("stats", ()),
        ("changes", ("--since", "2020-01-01")),
        ("forget", ("inope0000000001",)),
    ]:
        done = scrapy(command, archive, *args)
        assert done.returncode != 0, (command, done.stderr)
        assert "Traceback" not in done.stderr, (command, done.stderr)
        assert len(done.stderr.strip().splitlines()) <= 2, (command, done.stderr)
    assert state.read_text() == "not a folder"


# --- 3. changes: killed runs, moves --------------------------------------------------


def test_changes_lists_what_a_killed_run_wrote(
    archive: Path, replica: Replica, site: Site, tmp_path: Path
) -> None:
    first_run = list(read_runs(archive))[-1]["run"]
    newer = generated_site(30, seed=11, start=max(a.intime for a in site) + 600)
    for article in newer:
        site.add(article)
        # Slow pages: the run is killed with some written and some not.
        replica.faults[article.path] = Fault(delay=0.3)
    # Batches of 5 (group commit): the run is killed with some batches committed
    # and not all 30 articles, as with the per-article commit this test was
    # written for; the default batch (50) would commit none of them before the
    # kill, the time limit (1 s) all of them or none.
    settings = {**SMALL_PAGES, "ARCHIVE_COMMIT_BATCH": "5"}
    process = subprocess.Popen(
        crawl_command(replica.feed_url, archive, "pages=20", settings=settings),
        cwd=PROJECT_ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 60
    while len(archived(archive)) < 30 and time.monotonic() < deadline:
        time.sleep(0.05)
    process.kill()
    process.wait()
    # What the killed run archived: the rows it committed. A kill between an
    # article's file and its row leaves the file pending, not archived: it is not a
    # change (verify accepts it; the next run writes it again).
    before = {a.doc_id for a in generated_site(20, seed=9)}
    db = sqlite3.connect(index_path(archive))
    try:
        written = {
            path
            for doc_id, path in db.execute(
                "SELECT doc_id, path FROM articles WHERE sha256 IS NOT NULL"
            )
            if doc_id not in before
        }
    finally:
        db.close()
    assert 0 < len(written) < 30
    listed = changes(archive, first_run)
    assert sorted(c["path"] for c in listed) == sorted(written)
    assert {c["change"] for c in listed} == {"created"}
    assert verified(archive) == []
    # The next run completes the work; changes then lists every new article once.
    replica.faults.clear()
    ok(crawl(replica, archive))
    listed = changes(archive, first_run)
    assert len(listed) == 30 and len({c["path"] for c in listed}) == 30
    assert verified(archive) == []


def test_changes_lists_a_move_with_its_old_path(
    archive: Path, replica: Replica, site: Site
) -> None:
    run = list(read_runs(archive))[-1]["run"]
    article = site.articles()[0]
    old = f"{FOLDER}/{beijing_day(article.intime)}-{article.doc_id}.md"
    assert old in archived(archive)
    # The editor moves it a day later: a new mtime and a new day.
    site.add(
        type(article)(
            **{
                **article.__dict__,
                "intime": article.intime + 86400,
                "mtime": article.mtime + 60,
            }
        )
    )
    ok(crawl(replica, archive))
    new = f"{FOLDER}/{beijing_day(article.intime + 86400)}-{article.doc_id}.md"
    assert new in archived(archive) and old not in archived(archive)
    assert changes(archive, run) == [
        {
            "path": new,
            "change": "moved",
            "doc_id": article.doc_id,
            "run": list(read_runs(archive))[-1]["run"],
            "at": changes(archive, run)[0]["at"],
            "old_path": old,
        }
    ]


# --- 4. A deleted file is fetched again; reindex keeps the loss visible ------------


def test_a_deleted_file_is_fetched_again(archive: Path, replica: Replica) -> None:
    lost = archived(archive)[0]
    (archive / lost).unlink()
    assert len(verified(archive)) == 1
    ok(crawl(replica, archive))
    assert lost in archived(archive)
    assert len(replica.article_requests()) == 1
    assert verified(archive) == []


def test_reindex_keeps_a_lost_article_until_a_run_restores_it(
    archive: Path, replica: Replica, site: Site
) -> None:
    # The oldest article: on the last feed page, beyond the first.
    oldest = site.articles()[-1]
    (lost,) = [p for p in archived(archive) if oldest.doc_id in p]
    (archive / lost).unlink()
    reindexed = scrapy("reindex", archive)
    assert reindexed.returncode == 0, reindexed.stderr
    problems = verified(archive)
    assert len(problems) == 1 and lost in problems[0] and "missing since" in problems[0]
    # The next ordinary run reads every page while a row is missing, and restores it.
    ok(crawl(replica, archive))
    assert lost in archived(archive)
    # Only the lost article is fetched again.
    (request,) = replica.article_requests()
    assert oldest.doc_id in request
    assert verified(archive) == []


def test_forget_drops_an_article_on_purpose(archive: Path) -> None:
    run = list(read_runs(archive))[-1]["run"]
    lost = archived(archive)[0]
    doc_id = lost.rsplit("-", 1)[1].removesuffix(".md")
    (archive / lost).unlink()
    assert meta_rows(archive, doc_id) == 1  # what its page said (issue 13)
    forgot = scrapy("forget", archive, doc_id)
    assert forgot.returncode == 0, forgot.stderr
    assert verified(archive) == []
    assert meta_rows(archive, doc_id) == 0
    assert [(c["change"], c["path"]) for c in changes(archive, run)] == [
        ("removed", lost)
    ]
    unknown = scrapy("forget", archive, doc_id)
    assert unknown.returncode == 1 and "no article" in unknown.stderr


def meta_rows(archive: Path, doc_id: str) -> int:
    """How many versions of ``doc_id`` the index keeps the page's metadata of."""
    db = sqlite3.connect(archive / ".newscrawl" / "index.sqlite3")
    try:
        (count,) = db.execute(
            "SELECT count(*) FROM meta WHERE doc_id = ?", (doc_id,)
        ).fetchone()
    finally:
        db.close()
    return int(count)


# --- 5. Links: no write lands outside the archive -----------------------------------


def test_a_linked_category_folder_is_refused(replica: Replica, tmp_path: Path) -> None:
    root = tmp_path / "archive"
    outside = tmp_path / "outside"
    outside.mkdir()
    (root / "金融" / "新浪财经").mkdir(parents=True)
    (root / "金融" / "新浪财经" / "新浪财经－国內").symlink_to(outside)
    run = crawl(replica, root)
    assert "Traceback" not in run.stderr
    assert list(outside.iterdir()) == []
    assert crawl_stats(run)["archive/refused/not_a_file"] == 20
    problems = verified(root)
    assert any("a link inside the archive" in p for p in problems), problems


def test_an_article_file_that_is_a_link_is_not_written_through(
    archive: Path, replica: Replica, site: Site, tmp_path: Path
) -> None:
    victim = tmp_path / "victim.txt"
    victim.write_text("keep me")
    target = archived(archive)[0]
    (archive / target).unlink()
    (archive / target).symlink_to(victim)
    run = crawl(replica, archive)
    assert "Traceback" not in run.stderr
    assert victim.read_text() == "keep me"
    assert (archive / target).is_symlink()
    assert crawl_stats(run)["archive/refused/not_a_file"] == 1
    problems = verified(archive)
    assert any(target in p and "link" in p for p in problems), problems
    # Reindex neither follows it nor forgets the article behind it.
    reindexed = scrapy("reindex", archive)
    assert "Traceback" not in reindexed.stderr
    assert reindexed.returncode == 1
    assert victim.read_text() == "keep me"


def test_a_linked_runs_log_is_not_written_through(
    archive: Path, replica: Replica, tmp_path: Path
) -> None:
    victim = tmp_path / "victim.jsonl"
    victim.write_text("keep me")
    log = archive / ".newscrawl" / "runs.jsonl"
    log.unlink()
    log.symlink_to(victim)
    run = crawl(replica, archive)
    assert run.returncode == 7 and "Traceback" not in run.stderr
    assert victim.read_text() == "keep me"


@pytest.mark.parametrize("category", [".hidden", "..", "a/b", "x" * 201])
def test_a_category_that_is_not_a_plain_folder_name_is_a_usage_error(
    replica: Replica, tmp_path: Path, category: str
) -> None:
    channels = {
        "china": {"pageid": 155, "lid": 1686, "categories": ["金融", category, "x"]}
    }
    run = crawl(replica, tmp_path / "archive", SINA_CHANNELS=json.dumps(channels))
    assert run.returncode == 2
    assert "not a plain visible folder name" in run.stderr
    assert "Traceback" not in run.stderr
    assert replica.requests == []


# --- 6. Interrupted runs say so ------------------------------------------------------


@pytest.mark.parametrize("signals", [1, 2], ids=["sigterm", "sigterm-twice"])
def test_an_interrupted_run_exits_8_with_a_summary_and_a_record(
    replica: Replica, site: Site, tmp_path: Path, signals: int
) -> None:
    root = tmp_path / "archive"
    for article in site:
        replica.faults[article.path] = Fault(delay=1.0)
    process = subprocess.Popen(
        crawl_command(replica.feed_url, root, "pages=20", settings=SMALL_PAGES),
        cwd=PROJECT_ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 30
    while len(replica.article_requests()) < 3 and time.monotonic() < deadline:
        time.sleep(0.05)
    for _ in range(signals):
        process.send_signal(signal.SIGTERM)
        time.sleep(0.3)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 8, stderr[-3000:]
    assert "Run FAILED (interrupted)" in stderr
    (record,) = list(read_runs(root))
    assert record["exit_status"] == 8
    assert (root / ".newscrawl" / "crawl.unfinished").exists()


# --- 7. A redirect to another doc id is one article, one file ------------------------


def test_a_redirect_to_another_doc_id_is_archived_once(
    replica: Replica, site: Site, tmp_path: Path
) -> None:
    a, b = site.articles()[:2]
    replica.faults[a.path] = Fault(
        status=301, headers={"Location": replica.base_url + b.path}
    )
    root = tmp_path / "archive"
    ok(crawl(replica, root))
    assert not [p for p in archived(root) if a.doc_id in p]
    assert len([p for p in archived(root) if b.doc_id in p]) == 1
    assert len(archived(root)) == 19
    db = sqlite3.connect(index_path(root))
    try:
        assert db.execute("SELECT alias, doc_id FROM aliases").fetchall() == [
            (a.doc_id, b.doc_id)
        ]
    finally:
        db.close()
    # Known by its alias: the next run fetches neither.
    replica.clear_log()
    ok(crawl(replica, root))
    assert replica.article_requests() == []
    assert verified(root) == []
    # The same in the one-article mode.
    single = tmp_path / "single"
    ok(run_crawl(replica.feed_url, single, f"url={replica.base_url}{a.path}"))
    assert [p.rsplit("-", 1)[1] for p in archived(single)] == [f"{b.doc_id}.md"]


# --- 8. A folder where an article's file goes fails that article only ---------------


def test_a_folder_in_an_articles_place_fails_that_article_only(
    archive: Path, replica: Replica, site: Site
) -> None:
    target = archived(archive)[0]
    (archive / target).unlink()
    (archive / target).mkdir()
    newer = generated_site(10, seed=12, start=max(a.intime for a in site) + 600)
    for article in newer:
        site.add(article)
    run = crawl(replica, archive)
    ok(run)
    stats = crawl_stats(run)
    assert stats["archive/refused/not_a_file"] == 1
    assert stats["archive/written"] == 10
    assert "Run done (ok)" in run.stderr


# --- 9. A misspelt ARCHIVE_DIR is no archive -----------------------------------------


@pytest.mark.parametrize(
    ("command", "args"),
    [
        ("changes", ("--since", "2020-01-01")),
        ("reindex", ()),
        ("verify", ()),
        ("stats", ()),
        ("forget", ("ix0000000001",)),
    ],
)
def test_no_archive_at_a_misspelt_folder(
    tmp_path: Path, command: str, args: tuple[str, ...]
) -> None:
    missing = tmp_path / "archiv"
    run = scrapy(command, missing, *args)
    assert run.returncode == 2, run.stderr
    assert f"no archive at {missing}" in run.stderr
    assert not missing.exists()


# --- 10. A relative ARCHIVE_DIR is the project's ------------------------------------


def test_a_relative_archive_dir_is_relative_to_the_project(
    replica: Replica, tmp_path: Path
) -> None:
    relative = os.path.relpath(tmp_path / "archive", PROJECT_ROOT)
    elsewhere = PROJECT_ROOT / "newscrawl"
    result = subprocess.run(
        crawl_command(replica.feed_url, relative, "pages=20", settings=SMALL_PAGES),
        cwd=elsewhere,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    ok(result)
    assert len(archived(tmp_path / "archive")) == 20
    assert (
        not (elsewhere / relative).exists()
        or (elsewhere / relative).resolve() == (tmp_path / "archive").resolve()
    )


# --- 11. The lock's loser names the holder ------------------------------------------


def test_the_lock_loser_waits_for_the_holders_pid(tmp_path: Path) -> None:
    import fcntl

    state = tmp_path / ".newscrawl"
    state.mkdir()
    path = state / "lock"
    # A holder that has just taken the lock of a new, still empty file.
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    fcntl.flock(fd, fcntl.LOCK_EX)
    writer = threading.Timer(0.2, lambda: os.pwrite(fd, b"4242\n", 0))
    writer.start()
    try:
        with pytest.raises(ArchiveLockedError, match=r"another run \(pid 4242\)"):
            ArchiveLock(tmp_path).acquire()
    finally:
        writer.join()
        os.close(fd)


# --- Migrations ----------------------------------------------------------------------


def test_an_index_of_the_previous_release_is_migrated(tmp_path: Path) -> None:
    """An archive the previous release wrote (schema 1, tests/fixtures/archive-v1)
    is upgraded in place at the first use, after a backup; nothing in it is lost,
    and its runs log seeds the change journal."""
    root = tmp_path / "archive"
    shutil.copytree(FIXTURES / "archive-v1", root)
    path = index_path(root)
    db = sqlite3.connect(path)
    try:
        assert db.execute("PRAGMA user_version").fetchone()[0] == 1
        rows = db.execute("SELECT * FROM articles ORDER BY doc_id").fetchall()
    finally:
        db.close()
    (run,) = [record["run"] for record in read_runs(root)]
    upgraded = scrapy("changes", root, "--since", "2000-01-01")
    assert upgraded.returncode == 0, upgraded.stderr
    lines = [json.loads(line) for line in upgraded.stdout.splitlines()]
    assert sorted(line["path"] for line in lines) == [
        p for p in archived(root) if p != "README.md"
    ]
    assert {(line["change"], line["run"]) for line in lines} == {("created", run)}
    db = sqlite3.connect(path)
    try:
        assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        after = db.execute("SELECT * FROM articles ORDER BY doc_id").fetchall()
    finally:
        db.close()
    # Every value kept; the new columns (missing_since, withdrawn_*) empty.
    assert [r[: len(rows[0])] for r in after] == rows
    assert all(value is None for r in after for value in r[len(rows[0]) :])
    backup = sqlite3.connect(path.with_name("index.sqlite3.v1.backup"))
    try:
        assert (
            backup.execute("SELECT * FROM articles ORDER BY doc_id").fetchall() == rows
        )
    finally:
        backup.close()
    assert verified(root) == []
    # The next crawl knows every article: nothing is fetched again.
    with Replica(fixture_site()) as replica:
        ok(run_crawl(replica.feed_url, root))
        assert replica.article_requests() == []


def test_an_index_of_a_newer_schema_is_refused(archive: Path, replica: Replica) -> None:
    db = sqlite3.connect(index_path(archive))
    db.execute(f"PRAGMA user_version={SCHEMA_VERSION + 1}")
    db.close()
    run = crawl(replica, archive)
    ok(run, 7)
    assert f"schema {SCHEMA_VERSION + 1}, newer than this newscrawl knows" in run.stderr
