"""The archive commands, as a user runs them: ``scrapy changes``, ``stats``,
``verify`` and ``reindex`` subprocesses on archives that real crawls built."""

from __future__ import annotations

import json
import shutil
import subprocess
from collections import Counter
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from newscrawl.archive.index import index_path
from newscrawl.archive.lock import ArchiveLock
from newscrawl.archive.runlog import read_runs
from replica.crawl import run_crawl
from replica.server import Replica
from replica.site import (
    BEIJING,
    DEFAULT_START,
    GENERATED_INTERVAL,
    Site,
    SiteArticle,
    add_generated,
    generated_articles,
)
from tests.conftest import scrapy, table_page_offset

CHINA = "金融/新浪财经/新浪财经－国內"
MACRO = "金融/新浪财经/新浪财经－宏观经济"
CHANNELS = "channels=china,macro"


def crawl(replica: Replica, archive: Path) -> None:
    run = run_crawl(replica.feed_url, archive, CHANNELS)
    assert run.returncode == 0, run.stderr[-3000:]


def path_of(archive: Path, article: SiteArticle) -> str:
    (found,) = archive.rglob(f"*-{article.doc_id}.md")
    return found.relative_to(archive).as_posix()


class History:
    """An archive three runs built, and what each run did."""

    def __init__(self, archive: Path, site: Site) -> None:
        self.archive = archive
        self.site = site
        self.runs: list[dict[str, Any]] = []
        self.created: list[list[SiteArticle]] = []
        self.updated: list[list[SiteArticle]] = []


@pytest.fixture(scope="module")
def history(tmp_path_factory: pytest.TempPathFactory) -> History:
    """Run 1 archives 12 articles in two channels; run 2 adds 3 and edits 1 of
    run 1; run 3 adds 1 and edits 1 of run 2's."""
    first = generated_articles(12, seed=5)
    # Every third article in the "macro" channel, the rest in "china".
    site = Site(replace(a, lid=1687) if n % 3 == 0 else a for n, a in enumerate(first))
    archive = tmp_path_factory.mktemp("history") / "archive"
    made = History(archive, site)

    def newer(n: int, seed: int) -> list[SiteArticle]:
        newest = max(a.intime for a in site.articles())
        start = max(DEFAULT_START, newest) + (n + 1) * GENERATED_INTERVAL
        return add_generated(site, n, seed=seed, start=start)

    def revise(article: SiteArticle, note: str) -> SiteArticle:
        current = site.get(article.doc_id)
        return site.revise(
            article.doc_id, current.mtime + 60, paragraphs=[*current.paragraphs, note]
        )

    with Replica(site) as replica:
        crawl(replica, archive)
        made.created.append(first)
        made.updated.append([])

        added = newer(3, seed=6)
        edited = revise(first[1], "补充：第二轮修订。")
        crawl(replica, archive)
        made.created.append(added)
        made.updated.append([edited])

        more = newer(1, seed=7)
        again = revise(added[0], "补充：第三轮修订。")
        crawl(replica, archive)
        made.created.append(more)
        made.updated.append([again])
    made.runs = list(read_runs(archive))
    assert len(made.runs) == 3
    return made


@pytest.fixture
def archive(history: History, tmp_path: Path) -> Path:
    """A copy of the history's archive, to tamper with."""
    copy = tmp_path / "archive"
    shutil.copytree(history.archive, copy)
    return copy


def json_lines(run: subprocess.CompletedProcess[str]) -> list[dict[str, Any]]:
    """The lines of ``changes``, by path, without their times (the journal's)."""
    assert run.returncode == 0, run.stderr
    lines = [json.loads(line) for line in run.stdout.splitlines()]
    for line in lines:
        assert line.pop("at")
    return sorted(lines, key=lambda c: c["path"])


# --- changes --------------------------------------------------------------------


def change(
    history: History, article: SiteArticle, kind: str, run: int
) -> dict[str, Any]:
    return {
        "path": path_of(history.archive, article),
        "change": kind,
        "doc_id": article.doc_id,
        "run": history.runs[run]["run"],
    }


def test_changes_since_a_run_id(history: History) -> None:
    added, (edited,) = history.created[1], history.updated[1]
    (more,) = history.created[2]
    since_first = json_lines(
        scrapy("changes", history.archive, "--since", history.runs[0]["run"])
    )
    assert since_first == sorted(
        [
            # Created by run 2, edited by run 3: still new to a reader of run 1.
            change(history, added[0], "created", 2),
            change(history, added[1], "created", 1),
            change(history, added[2], "created", 1),
            change(history, edited, "updated", 1),
            change(history, more, "created", 2),
        ],
        key=lambda c: c["path"],
    )
    since_second = json_lines(
        scrapy("changes", history.archive, "--since", history.runs[1]["run"])
    )
    assert since_second == sorted(
        [change(history, added[0], "updated", 2), change(history, more, "created", 2)],
        key=lambda c: c["path"],
    )


def test_changes_since_a_time(history: History) -> None:
    # The end of run 2, written in Beijing time: only run 3 ended after it.
    end = datetime.fromisoformat(history.runs[1]["end"]).astimezone(BEIJING)
    found = json_lines(scrapy("changes", history.archive, "--since", end.isoformat()))
    assert found == json_lines(
        scrapy("changes", history.archive, "--since", history.runs[1]["run"])
    )
    assert len(found) == 2
    # Before the first run: every archived path, each once, as created.
    start = datetime.fromisoformat(history.runs[0]["start"]).isoformat()
    everything = json_lines(scrapy("changes", history.archive, "--since", start))
    assert [c["path"] for c in everything] == sorted(
        path_of(history.archive, a) for run in history.created for a in run
    )
    assert {c["change"] for c in everything} == {"created"}


def test_changes_since_something_else_is_a_usage_error(history: History) -> None:
    run = scrapy("changes", history.archive, "--since", "2026-11-28T08:00")
    assert run.returncode == 2
    assert run.stdout == ""
    assert "'2026-11-28T08:00' needs a time zone" in run.stderr
    assert "Traceback" not in run.stderr


@pytest.mark.parametrize(
    ("command", "setting", "said"),
    [
        ("crawl", "ARCHIVE_COMMIT_BATCH=fifty", "ARCHIVE_COMMIT_BATCH must be a whole"),
        ("crawl", "ARCHIVE_COMMIT_INTERVAL=-1", "ARCHIVE_COMMIT_INTERVAL must be a"),
        ("crawl", "ARCHIVE_EXTRA_FIELDS=tags,colour", "colour"),
        ("export", "ARCHIVE_WARC_MAX_SIZE=big", "ARCHIVE_WARC_MAX_SIZE must be a"),
        ("history", "ARCHIVE_COMMIT_BATCH=1.5", "ARCHIVE_COMMIT_BATCH must be a whole"),
    ],
)
def test_a_setting_of_the_archive_that_cannot_be_used_is_a_usage_error(
    history: History, command: str, setting: str, said: str
) -> None:
    # Not an archive quietly switched off (the crawl's pipeline disabled, exit
    # 0 with nothing archived), nor a traceback half-way through a command.
    argv = {
        "crawl": ["sina_finance"],
        "export": ["-o", "-"],
        "history": [history.site.articles()[0].doc_id],
    }[command]
    run = scrapy(command, history.archive, "-s", setting, *argv)
    assert run.returncode == 2, run.stderr[-2000:]
    assert said in run.stderr
    assert "Traceback" not in run.stderr


# --- stats ----------------------------------------------------------------------


def test_stats_counts_per_channel_and_day(history: History) -> None:
    articles = history.site.articles()
    days = Counter(
        datetime.fromtimestamp(a.intime, BEIJING).strftime("%Y-%m-%d") for a in articles
    )
    macro = sum(1 for a in articles if a.lid == 1687)
    expected = [
        "per channel:",
        f"  {len(articles) - macro:8d}  {CHINA}",
        f"  {macro:8d}  {MACRO}",
        "per day:",
        *(f"  {count:8d}  {day}" for day, count in sorted(days.items())),
        f"total: {len(articles)} articles",
    ]
    run = scrapy("stats", history.archive)
    assert run.returncode == 0, run.stderr
    assert run.stdout.splitlines() == expected
    assert (len(articles), macro) == (16, 4)


# --- verify and reindex ---------------------------------------------------------


def test_verify_passes_on_what_crawls_built(history: History) -> None:
    run = scrapy("verify", history.archive)
    assert (run.returncode, run.stdout) == (0, "")
    assert "verify ok: 16 files, 16 index rows, 0 problem(s)" in run.stderr


def tamper(archive: Path, history: History, how: str) -> list[str]:
    """Damage the archive as ``how`` says; return the problems verify must print."""
    target = path_of(archive, history.created[0][4])
    data = (archive / target).read_bytes()
    doc_id = history.created[0][4].doc_id
    if how == "edited":
        (archive / target).write_bytes(data.replace("。".encode(), "！".encode(), 1))
        return [f"{target}: bytes differ from the index's hash"]
    if how == "deleted":
        (archive / target).unlink()
        return [
            f"{target}: index row {doc_id} without its file; the next run that sees"
            f" it in the feed fetches it again (or `scrapy forget {doc_id}`)"
        ]
    if how == "extra":
        extra = f"{CHINA}/2021-04-20-iextraaa0000001.md"
        (archive / extra).write_bytes(data)
        return [f"{extra}: file without an index row"]
    if how == "truncated":
        (archive / target).write_bytes(data[: data.index(b"</div>")])
        return [
            f"{target}: not the archive skeleton (opening or closing lines)",
            f"{target}: bytes differ from the index's hash",
        ]
    raise AssertionError(how)


@pytest.mark.parametrize("how", ["edited", "deleted", "extra", "truncated"])
def test_verify_fails_on_a_tampered_archive(
    history: History, archive: Path, how: str
) -> None:
    problems = tamper(archive, history, how)
    run = scrapy("verify", archive)
    assert run.returncode == 1
    assert run.stdout.splitlines() == problems
    assert "verify FAILED: " in run.stderr
    assert f"{len(problems)} problem(s) in {archive}" in run.stderr


@pytest.mark.parametrize("where", ["header", "inside"])
def test_a_damaged_index_fails_verify_and_reindex_repairs_it(
    archive: Path, where: str
) -> None:
    path = index_path(archive)
    data = bytearray(path.read_bytes())
    start = 0 if where == "header" else table_page_offset(path)
    data[start : start + 1024] = b"\xa5" * 1024
    path.write_bytes(bytes(data))

    checked = scrapy("verify", archive)
    assert checked.returncode == 7
    assert "damaged" in checked.stdout or "malformed" in checked.stdout
    assert "scrapy reindex" in checked.stdout
    assert "Traceback" not in checked.stderr
    # Neither verify nor stats recreates it behind the user's back.
    counted = scrapy("stats", archive)
    assert counted.returncode == 7
    assert "scrapy reindex" in counted.stderr
    assert "Traceback" not in counted.stderr
    assert path.read_bytes() == bytes(data)

    repaired = scrapy("reindex", archive)
    assert repaired.returncode == 0, repaired.stderr
    assert f"the damaged index was moved to {path}.damaged" in repaired.stderr
    assert "reindex: 16 articles indexed from 16 files" in repaired.stderr
    assert Path(f"{path}.damaged").read_bytes() == bytes(data)
    assert scrapy("verify", archive).returncode == 0


def test_reindex_reports_files_it_cannot_index(archive: Path) -> None:
    broken = f"{CHINA}/2021-04-20-ibrokenn0000001.md"
    (archive / broken).write_bytes(b"\n---\ntitle: 'half")
    (archive / CHINA / ".2021-04-20-ix.md.77.tmp").write_bytes(b"half")
    run = scrapy("reindex", archive)
    assert run.returncode == 1
    assert run.stdout == (
        f"{broken}: not the archive skeleton (opening or closing lines)\n"
    )
    assert "reindex: 16 articles indexed from 17 files, 1 file(s) not indexed" in (
        run.stderr
    )
    # Temporary files of interrupted writes are cleared.
    assert list((archive / CHINA).glob(".*.tmp")) == []


def test_reindex_waits_for_no_one(archive: Path) -> None:
    before = index_path(archive).read_bytes()
    with ArchiveLock(archive):
        run = scrapy("reindex", archive)
    assert run.returncode == 5
    assert "newscrawl: another run" in run.stderr
    assert "not reindexing now" in run.stderr
    assert index_path(archive).read_bytes() == before
