"""The corpus of real pages, crawled whole through the replica by the real spider.

Every page of ``tests/fixtures/corpus/`` (or of the folders in
``NEWSCRAWL_CORPUS_DIRS``, see replica/corpus.py) is served at its own path and
listed in the feed without an ``intime``; one ``scrapy crawl sina_finance``
fetches them all (one more per desktop/mobile twin, which share an archive file).
Each file is then held to its gold: title, date, headimg (the channel's default
image when the gold has none), the first, a middle and the last block of the
body, the strings that must be absent; a page the gold refuses must leave no
file and one ``Dropped: <reason>: <url>`` line. The run ends with a table of the
pages fully right per template (shown in the terminal summary); every page must
be, but for those of KNOWN_WRONG, each with its reason.
"""

from __future__ import annotations

import html
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import frontmatter
import pytest

from newscrawl.sina.channels import SINA_FINANCE_IMAGE
from newscrawl.sina.dates import rfc1123
from replica.corpus import (
    CorpusPage,
    body_problems,
    corpus_site,
    load_corpus,
    normalise,
    rounds,
)
from replica.crawl import run_crawl
from replica.server import Replica
from tests.conftest import split_document

PAGES = load_corpus()
pytestmark = pytest.mark.skipif(not PAGES, reason="no corpus page has its gold yet")

#: What no cleaned body may hold, whatever the page (FORMAT.md's "removed" lists).
BOILERPLATE = {
    "editor line": re.compile(r"责任编辑"),
    "disclaimer": re.compile(r"新浪声明|免责声明"),
    "player": re.compile(r"视频加载中|自动播放|<video|<embed|<object"),
    "comment widget": re.compile(r"我要评论|欢迎发表评论|\d+\s*条评论"),
    "QR or app promotion": re.compile(
        r"海量资讯、精准解读|尽在新浪财经APP|扫描二维码|长按(?:识别)?二维码|下载新浪财经"
    ),
    "related list": re.compile(r"相关阅读|推荐阅读|往期推荐"),
    "stock forum": re.compile(r"新浪财经股吧|[，,]\s*股吧[）)]"),
    "script": re.compile(r"<script|javascript:|\son\w+=", re.IGNORECASE),
    "HTML comment": re.compile(r"<!--"),
}
# "Dropped: video page: http://127.0.0.1:PORT/…" (newscrawl/pipelines.py).
_DROPPED = re.compile(r"Dropped: (.+?): (http://127\.0\.0\.1:\d+/\S+)")


@dataclass
class Outcome:
    """What the crawl made of one page, and what is wrong with it."""

    page: CorpusPage
    file: Path | None
    dropped: list[str]
    problems: list[str] = field(default_factory=list)


@dataclass
class CorpusRun:
    """Every page's outcome, and the cleaned bodies written."""

    outcomes: dict[str, Outcome]
    bodies: dict[str, str]


#: Pages the crawl is known to get wrong, and why: each is an expected failure
#: (strict: once right, it must leave this list), and counts as not fully right.
KNOWN_WRONG: dict[str, str] = {}

#: Lines of the per-template table, printed by tests/conftest.py at the end.
SUMMARY: list[str] = []


@pytest.fixture(scope="module")
def corpus_run(tmp_path_factory: pytest.TempPathFactory) -> CorpusRun:
    outcomes: dict[str, Outcome] = {}
    bodies: dict[str, str] = {}
    for number, group in enumerate(rounds(PAGES)):
        archive = tmp_path_factory.mktemp(f"corpus{number}") / "archive"
        with Replica(corpus_site(group)) as replica:
            run = run_crawl(
                replica.feed_url,
                archive,
                f"pages={len(group) // 50 + 2}",
                # Refused pages count as failed articles; the gold says which.
                settings={"RUN_MAX_FAILED_RATIO": "1"},
                timeout=300,
            )
            base_url = replica.base_url
        assert run.returncode == 0, run.stderr[-3000:]
        assert "Traceback" not in run.stderr, run.stderr[-3000:]
        dropped: dict[str, list[str]] = {}
        for reason, url in _DROPPED.findall(run.stderr):
            dropped.setdefault(url, []).append(reason)
        written = {p.stem.rsplit("-", 1)[-1]: p for p in archive.rglob("*.md")}
        for page in group:
            file = written.get(page.doc_id)
            outcome = Outcome(page, file, dropped.get(base_url + page.path, []))
            if file is not None:
                bodies[page.name] = split_document(file.read_text("utf-8"))[1]
            outcome.problems = problems(outcome, bodies.get(page.name, ""))
            outcomes[page.name] = outcome
    SUMMARY[:] = summary(list(outcomes.values()))
    return CorpusRun(outcomes, bodies)


def problems(outcome: Outcome, body: str) -> list[str]:
    """What is wrong with a page's outcome against its gold."""
    page, gold = outcome.page, outcome.page.gold
    if page.refused:
        found = []
        if outcome.file is not None:
            found.append(f"archived as {outcome.file.name}, gold: {page.refused}")
        if page.refused not in outcome.dropped:
            found.append(f"dropped {outcome.dropped}, gold: {page.refused}")
        return found
    if outcome.file is None:
        return [f"no file (dropped: {outcome.dropped or 'no'})"]
    header = frontmatter.loads(outcome.file.read_text("utf-8")).metadata
    found = []
    title = normalise(html.unescape(str(header["title"])))
    if title != normalise(str(gold.get("title") or "")):
        found.append(f"title {title!r}, gold {gold.get('title')!r}")
    published = page.published
    if published is not None and header["date"] != rfc1123(published):
        found.append(f"date {header['date']!r}, gold {rfc1123(published)!r}")
    headimg = gold.get("headimg") or SINA_FINANCE_IMAGE
    if header["headimg"] != headimg:
        found.append(f"headimg {header['headimg']}, gold {headimg}")
    return found + body_problems(gold, body)


def summary(outcomes: list[Outcome]) -> list[str]:
    """The table of pages fully right per template."""
    pages: Counter[str] = Counter(o.page.template for o in outcomes)
    right: Counter[str] = Counter(o.page.template for o in outcomes if not o.problems)
    lines = [f"{'template':<22}{'pages':>7}{'fully right':>13}"]
    lines += [f"{t:<22}{pages[t]:>7}{right[t]:>13}" for t in sorted(pages)]
    lines.append(f"{'all':<22}{pages.total():>7}{right.total():>13}")
    return lines


@pytest.mark.parametrize(
    "name",
    [
        pytest.param(
            p.name,
            marks=[pytest.mark.xfail(reason=KNOWN_WRONG[p.name], strict=True)]
            if p.name in KNOWN_WRONG
            else [],
        )
        for p in PAGES
    ],
)
def test_page_against_its_gold(corpus_run: CorpusRun, name: str) -> None:
    outcome = corpus_run.outcomes[name]
    assert not outcome.problems, f"{name} [{outcome.page.template}]: " + "; ".join(
        outcome.problems
    )


def test_no_cleaned_body_keeps_boilerplate(corpus_run: CorpusRun) -> None:
    assert corpus_run.bodies
    found = [
        f"{name}: {what} ({match.group()!r})"
        for name, body in sorted(corpus_run.bodies.items())
        if name not in KNOWN_WRONG
        for what, pattern in BOILERPLATE.items()
        if (match := pattern.search(body))
    ]
    assert not found, "\n".join(found)


def test_every_page_is_fully_right(corpus_run: CorpusRun) -> None:
    print("\n" + "\n".join(SUMMARY))
    wrong = [
        n
        for n, o in sorted(corpus_run.outcomes.items())
        if o.problems and n not in KNOWN_WRONG
    ]
    assert not wrong, f"{len(wrong)} page(s) not fully right: {', '.join(wrong)}"
