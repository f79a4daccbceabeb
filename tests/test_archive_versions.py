"""Every version of every article: an edit adds a version (``scrapy history``,
``--diff``), an unchanged refetch a revisit record, a page taken down (404/410) is
kept and marked withdrawn (history, changes). Crawls against the replica."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest
from warcio.archiveiterator import ArchiveIterator

from newscrawl.archive.index import ArchiveIndex
from newscrawl.archive.warc import warc_dir, warc_files
from replica.crawl import run_crawl
from replica.server import Fault, Replica
from replica.site import Site, SiteArticle, generated_site
from tests.conftest import scrapy


@dataclass
class Edited:
    archive: Path
    edited: SiteArticle  # new mtime, new body
    touched: SiteArticle  # new mtime, the same page
    gone: SiteArticle  # new mtime, its page answers 410
    started: str  # before the second run


def crawl(replica: Replica, archive: Path) -> subprocess.CompletedProcess[str]:
    run = run_crawl(replica.feed_url, archive, "pages=1")
    assert run.returncode == 0, run.stderr[-3000:]
    return run


@pytest.fixture(scope="module")
def edited(tmp_path_factory: pytest.TempPathFactory) -> Edited:
    site: Site = generated_site(8, seed=5)
    archive = tmp_path_factory.mktemp("versions") / "archive"
    first, second, third = site.articles()[:3]
    with Replica(site) as replica:
        replica.gzip = True
        crawl(replica, archive)
        started = datetime.now(UTC).isoformat()
        edited = site.revise(
            first.doc_id,
            first.mtime + 60,
            paragraphs=["更正：此前报道的数据有误。", *first.paragraphs[1:]],
        )
        # A new mtime, the page's bytes as they were (its update_at kept).
        touched = site.touch(second.doc_id, second.mtime + 60, page=second.page)
        gone = site.touch(third.doc_id, third.mtime + 60)
        replica.faults[gone.path] = Fault(status=410, body=b"Gone\n")
        run = crawl(replica, archive)
    assert "Withdrawn:" in run.stderr
    return Edited(archive, edited, touched, gone, started)


def history(archive: Path, doc_id: str, *args: str) -> list[str]:
    run = scrapy("history", archive, doc_id, *args)
    assert run.returncode == 0, run.stdout + run.stderr
    return run.stdout.splitlines()


def test_an_edited_article_has_two_versions_and_a_diff(edited: Edited) -> None:
    lines = history(edited.archive, edited.edited.doc_id)
    versions = [line for line in lines if line.startswith("version ")]
    assert len(versions) == 2
    assert f"feed mtime {edited.edited.mtime - 60}" in versions[0]
    assert f"feed mtime {edited.edited.mtime}" in versions[1]
    diff = history(edited.archive, edited.edited.doc_id, "--diff")
    assert any(
        line.startswith("+") and "更正：此前报道的数据有误。" in line for line in diff
    )
    assert any(
        line.startswith("-") and edited.edited.paragraphs[1] not in line
        for line in diff
    )
    # The file holds the newer version.
    (path,) = edited.archive.rglob(f"*-{edited.edited.doc_id}.md")
    assert "更正：此前报道的数据有误。" in path.read_text("utf-8")
    index = ArchiveIndex.for_archive(edited.archive, create=False)
    try:
        newest = list(index.versions(edited.edited.doc_id))[-1]
        row = index.get(edited.edited.doc_id)
        assert row is not None
        assert newest.sha256 == row.sha256
    finally:
        index.close()


def test_an_unchanged_refetch_is_a_revisit_not_a_copy(edited: Edited) -> None:
    versions = [
        line
        for line in history(edited.archive, edited.touched.doc_id)
        if line.startswith("version ")
    ]
    assert len(versions) == 1
    kinds = []
    for path in warc_files(warc_dir(edited.archive)):
        with path.open("rb") as stream:
            for record in ArchiveIterator(stream):
                if record.rec_headers.get_header("WARC-Target-URI", "").endswith(
                    edited.touched.path
                ) and record.rec_type in ("response", "revisit"):
                    kinds.append(record.rec_type)
                    if record.rec_type == "revisit":
                        assert record.rec_headers.get_header("WARC-Profile").endswith(
                            "/revisit/identical-payload-digest"
                        )
                        assert record.rec_headers.get_header("WARC-Refers-To-Date")
    assert kinds == ["response", "revisit"]


def test_a_page_taken_down_is_kept_and_marked_withdrawn(edited: Edited) -> None:
    (path,) = edited.archive.rglob(f"*-{edited.gone.doc_id}.md")
    assert path.stat().st_size > 0
    lines = history(edited.archive, edited.gone.doc_id)
    assert any(line.startswith("withdrawn ") and "(HTTP 410)" in line for line in lines)
    changes = scrapy("changes", edited.archive, "--since", edited.started)
    found = {
        line["doc_id"]: line["change"]
        for line in map(json.loads, changes.stdout.splitlines())
    }
    assert found == {edited.gone.doc_id: "withdrawn", edited.edited.doc_id: "updated"}
    verify = scrapy("verify", edited.archive)
    assert verify.returncode == 0, verify.stdout + verify.stderr


def test_every_warc_file_passes_warcio_check(edited: Edited) -> None:
    files = warc_files(warc_dir(edited.archive))
    assert len(files) == 2  # one per run
    check = subprocess.run(
        [str(Path(sys.executable).with_name("warcio")), "check", *map(str, files)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert check.returncode == 0, check.stdout + check.stderr
