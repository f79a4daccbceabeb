"""Shared test helpers: fixture files and golden-file comparison."""

from __future__ import annotations

import difflib
import os
import re
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from replica.crawl import PROJECT_ROOT

FIXTURES = Path(__file__).parent / "fixtures"
SEED = FIXTURES / "seed" / "000_113cd7e772c081f1.txt"
EXPECTED_SEED = FIXTURES / "expected_seed_cleaned.md"
POSTS = sorted((FIXTURES / "posts").glob("*.md"))

SEED_URL = "https://finance.sina.com.cn/china/gncj/2021-04-20/doc-ikmvwzxq0000001.shtml"
FINANCE_URL = "https://finance.sina.com.cn/roll/2018-12-28/doc-ihqfskcn2160999.shtml"
NEWS_URL = "https://news.sina.com.cn/c/2019-09-07/doc-iicezzrq4076655.shtml"
OLD_URL = "http://ent.sina.com.cn/y/2009-11-09/13482762951.shtml"

#: Tests that need root (mount a tmpfs, chattr): skipped without it on a
#: developer's machine, run (and failing) under CI, which must always run them.
needs_root = pytest.mark.skipif(
    os.geteuid() != 0 and not os.environ.get("CI"),
    reason="needs root: mount a tmpfs, chattr +i",
)


@contextmanager
def tmpfs(mountpoint: Path, size: str = "1m") -> Iterator[Path]:
    """A tmpfs of ``size`` mounted at the existing folder ``mountpoint``, unmounted
    afterwards; the test is skipped if it cannot be mounted (``needs_root``)."""
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(mountpoint)],
        capture_output=True,
        text=True,
        check=False,
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.strip()}")
    try:
        yield mountpoint
    finally:
        subprocess.run(["umount", "-l", str(mountpoint)], check=True)


BODY_START = "<div>   \n"
BODY_END = "  \n</div>\n            "


def page(name: str) -> bytes:
    """The raw bytes of a saved page in tests/fixtures/pages/."""
    return (FIXTURES / "pages" / name).read_bytes()


def split_document(text: str) -> tuple[str, str]:
    """(header text, body) of an archive file, by the skeleton of FORMAT.md."""
    start = text.index(BODY_START)
    assert text.endswith(BODY_END)
    return text[:start], text[start + len(BODY_START) : -len(BODY_END)]


def assert_golden(actual: str, expected: str, name: str = "golden") -> None:
    """Equal strings, or a failure that shows a unified diff."""
    if actual != expected:
        diff = "\n".join(
            difflib.unified_diff(
                expected.splitlines(), actual.splitlines(), name, "actual", lineterm=""
            )
        )
        raise AssertionError(f"output differs from {name}:\n{diff}")


# One line of Scrapy's end-of-run stats dump: " 'archive/written': 3," (the last
# one ends with "}" instead of ",").
_STAT_LINE = re.compile(r"'([\w/]+)': (\d+)[,}]?\n")


def crawl_stats(run: subprocess.CompletedProcess[str]) -> dict[str, int]:
    """The integer stats of a crawl subprocess, from its stats dump."""
    return {k: int(v) for k, v in _STAT_LINE.findall(run.stderr)}


def scrapy(command: str, archive: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """Run ``scrapy <command> -s ARCHIVE_DIR=<archive>`` from the project root."""
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "scrapy",
            command,
            "-s",
            f"ARCHIVE_DIR={archive}",
            *args,
        ],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def table_page_offset(path: Path) -> int:
    """Where the articles table's first page starts in an index file."""
    db = sqlite3.connect(path)
    try:
        (page,) = db.execute(
            "SELECT rootpage FROM sqlite_master WHERE name = 'articles'"
        ).fetchone()
        (size,) = db.execute("PRAGMA page_size").fetchone()
    finally:
        db.close()
    return int((page - 1) * size)


def _corpus_summary() -> list[str]:
    corpus = sys.modules.get("tests.test_corpus")
    return list(getattr(corpus, "SUMMARY", None) or [])


def pytest_sessionfinish(session: pytest.Session) -> None:
    """A test worker (pytest-xdist) sends the corpus table to the controller."""
    output = getattr(session.config, "workeroutput", None)
    if output is not None and _corpus_summary():
        output["corpus_summary"] = _corpus_summary()


def pytest_testnodedown(node: Any, error: object) -> None:
    """The controller keeps the corpus table a worker sent."""
    lines = getattr(node, "workeroutput", {}).get("corpus_summary")
    if lines:
        node.config.stash[_CORPUS_SUMMARY] = lines


_CORPUS_SUMMARY = pytest.StashKey[list[str]]()


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """The corpus test's table of pages fully right per template, if it ran
    (here, or in a test worker)."""
    lines = _corpus_summary() or terminalreporter.config.stash.get(_CORPUS_SUMMARY, [])
    if lines:
        terminalreporter.section("corpus: pages fully right per template")
        for line in lines:
            terminalreporter.write_line(line)
