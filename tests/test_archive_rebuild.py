"""The raw capture as the archive's source: a crawl of 300 replica articles served
gzip-encoded and chunked; its WARC files; ``scrapy rebuild`` (newscrawl/archive/
rebuild.py) restoring lost files and applying a changed cleaning rule."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from newscrawl.archive.files import DEFAULT_PATH_TEMPLATE
from newscrawl.archive.index import ArchiveIndex, index_path
from newscrawl.archive.owner import Archive
from newscrawl.archive.rebuild import rebuild
from newscrawl.archive.warc import warc_dir, warc_files
from newscrawl.cleaning import TextRule
from newscrawl.sina.boilerplate import SINA_RULES
from newscrawl.sina.channels import DEFAULT_CHANNELS, load_channels
from replica.crawl import run_crawl
from replica.server import Replica
from replica.site import generated_site
from tests.conftest import scrapy

ARTICLES = 300
#: A paragraph some articles end with, which a new cleaning rule removes.
NOTICE = "特别提示：本文仅供参考，不构成投资建议。"
NOTICE_RULE = TextRule("notice", frozenset({"p"}), prefixes=("特别提示：",))


@dataclass
class Crawled:
    archive: Path
    sent: dict[str, bytes]  # what the replica sent, by path?query
    noticed: set[str]  # doc ids of the articles with the NOTICE paragraph
    files: dict[str, bytes]  # article files by archive-relative path


def article_files(root: Path) -> dict[str, bytes]:
    return {
        p.relative_to(root).as_posix(): p.read_bytes()
        for p in root.rglob("*.md")
        if not p.relative_to(root).parts[0].startswith(".")
    }


@pytest.fixture(scope="module")
def crawled(tmp_path_factory: pytest.TempPathFactory) -> Crawled:
    site = generated_site(ARTICLES, seed=11)
    noticed = set()
    for article in site.articles()[::43]:
        site.revise(
            article.doc_id, article.mtime, paragraphs=[*article.paragraphs, NOTICE]
        )
        noticed.add(article.doc_id)
    archive = tmp_path_factory.mktemp("capture") / "archive"
    with Replica(site) as replica:
        replica.gzip = replica.chunked = True
        run = run_crawl(replica.feed_url, archive, "pages=7", timeout=600)
        sent = dict(replica.sent)
    assert run.returncode == 0, run.stderr[-3000:]
    files = article_files(archive)
    assert len(files) == ARTICLES
    return Crawled(archive, sent, noticed, files)


def copy_of(crawled: Crawled, tmp_path: Path) -> Path:
    target = tmp_path / "archive"
    shutil.copytree(crawled.archive, target)
    return target


def test_every_warc_file_passes_warcio_check(crawled: Crawled) -> None:
    files = warc_files(warc_dir(crawled.archive))
    assert files
    check = subprocess.run(
        [str(Path(sys.executable).with_name("warcio")), "check", *map(str, files)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert check.returncode == 0, check.stdout + check.stderr


def test_each_article_response_payload_is_what_the_replica_sent(
    crawled: Crawled,
) -> None:
    archive = Archive(crawled.archive, DEFAULT_PATH_TEMPLATE)
    try:
        rows = list(archive.index.rows())
        assert len(rows) == ARTICLES
        for row in rows:
            (version,) = archive.versions(row.doc_id)
            assert version.sha256 == row.sha256
            record = archive.read(version)
            parts = urlsplit(version.url)
            target = parts.path + (f"?{parts.query}" if parts.query else "")
            assert record.payload == crawled.sent[target]
            # Sent gzip-encoded and chunked: the record keeps the encoding, and
            # has a length instead of the chunking Scrapy undid.
            assert record.header("Content-Encoding") == "gzip"
            assert not record.header("Transfer-Encoding")
            assert int(record.header("Content-Length")) == len(record.payload)
    finally:
        archive.close()


def test_rebuild_with_unchanged_code_changes_nothing(
    crawled: Crawled, tmp_path: Path
) -> None:
    archive = copy_of(crawled, tmp_path)
    before = {p: (archive / p).stat().st_mtime_ns for p in crawled.files}
    dry = scrapy("rebuild", archive, "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert f"{ARTICLES} same, 0 changed, 0 new or restored" in dry.stderr
    run = scrapy("rebuild", archive)
    assert run.returncode == 0, run.stderr
    assert f"{ARTICLES} same, 0 changed" in run.stderr
    assert article_files(archive) == crawled.files
    assert {p: (archive / p).stat().st_mtime_ns for p in crawled.files} == before


def test_reindex_and_rebuild_restore_lost_files_and_index_offline(
    crawled: Crawled, tmp_path: Path
) -> None:
    archive = copy_of(crawled, tmp_path)
    lost = sorted(crawled.files)[::30][:10]
    for path in lost:
        (archive / path).unlink()
    for side in ("", "-wal", "-shm"):
        Path(f"{index_path(archive)}{side}").unlink(missing_ok=True)
    # The replica is stopped: nothing can come from the network.
    reindex = scrapy("reindex", archive)
    assert reindex.returncode == 0, reindex.stderr
    run = scrapy("rebuild", archive)
    assert run.returncode == 0, run.stderr
    assert "from a scan of the WARC files" in run.stderr
    assert f"{ARTICLES - 10} same, 0 changed, 10 new or restored" in run.stderr
    assert sorted(line.split()[1] for line in run.stdout.splitlines()) == lost
    assert article_files(archive) == crawled.files
    verify = scrapy("verify", archive)
    assert verify.returncode == 0, verify.stdout + verify.stderr


def test_a_changed_cleaning_rule_rewrites_exactly_the_affected_files(
    crawled: Crawled, tmp_path: Path
) -> None:
    root = copy_of(crawled, tmp_path)
    rules = replace(SINA_RULES, texts=(*SINA_RULES.texts, NOTICE_RULE))
    channels = load_channels(DEFAULT_CHANNELS)
    archive = Archive(root, DEFAULT_PATH_TEMPLATE)
    try:
        expected = sorted(
            row.path for row in archive.index.rows() if row.doc_id in crawled.noticed
        )
        assert len(expected) == len(crawled.noticed) > 5
        started = datetime.now(UTC).isoformat()
        dry = rebuild(archive, channels, dry_run=True, rules=rules)
        assert sorted(dry.changed) == expected
        assert dry.same == ARTICLES - len(expected)
        assert len(dry.diffs) == 3
        assert all(
            any(line.startswith("-") and NOTICE in line for line in diff.splitlines())
            for diff in dry.diffs
        )
        assert article_files(root) == crawled.files  # a dry run writes nothing
        one = sorted(crawled.noticed)[0]
        only = rebuild(archive, channels, dry_run=True, rules=rules, doc_ids={one})
        assert len(only.changed) == 1
        assert only.same == 0
        done = rebuild(archive, channels, rules=rules)
        assert sorted(done.changed) == expected
    finally:
        archive.close()
    files = article_files(root)
    assert sorted(p for p in files if files[p] != crawled.files[p]) == expected
    assert all(NOTICE.encode() not in files[p] for p in expected)
    changes = scrapy("changes", root, "--since", started)
    assert changes.returncode == 0, changes.stderr
    lines = [json.loads(line) for line in changes.stdout.splitlines()]
    assert sorted(line["path"] for line in lines) == expected
    assert {line["change"] for line in lines} == {"updated"}
    # The versions now name the new files' hashes: verify agrees.
    index = ArchiveIndex.for_archive(root, create=False)
    try:
        hashes = {row.doc_id: row.sha256 for row in index.rows()}
        assert all(v.sha256 == hashes[v.doc_id] for v in index.versions())
    finally:
        index.close()
    verify = scrapy("verify", root)
    assert verify.returncode == 0, verify.stdout + verify.stderr


def test_verify_reports_a_damaged_warc_record(crawled: Crawled, tmp_path: Path) -> None:
    archive = copy_of(crawled, tmp_path)
    index = ArchiveIndex.for_archive(archive, create=False)
    try:
        version = next(iter(index.versions()))
    finally:
        index.close()
    path = warc_dir(archive) / version.warc_file
    data = bytearray(path.read_bytes())
    data[version.warc_offset + version.warc_length // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    verify = scrapy("verify", archive)
    assert verify.returncode == 1, verify.stdout + verify.stderr
    (problem,) = verify.stdout.splitlines()
    assert problem.startswith(f"WARC record of {version.doc_id}")
