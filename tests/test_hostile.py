"""The hostile corpus (tests/fixtures/hostile/), crawled end to end in one run.

An archive is first filled by a normal crawl of the fixture site; then one real
``scrapy crawl sina_finance`` reads every hostile case from one replica (bad pages,
bad encodings, bad feeds, network faults, hostile titles, bodies and paths) into
the same archive. Each case is then checked for exactly what cases.toml says it
produces: the file and what it holds, or the log line and no file; the stats of
all cases add up; what was archived before is intact; ``scrapy verify`` passes.
"""

from __future__ import annotations

import importlib.util
import json
import sqlite3
import subprocess
import sys
import tomllib
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

import frontmatter
import pytest

from newscrawl.sina.channels import DEFAULT_CHANNELS
from newscrawl.sina.feed import feed_url
from replica.crawl import PROJECT_ROOT, run_crawl
from replica.server import FEED_PATH, Fault, Replica
from replica.site import Site, SiteArticle, fixture_site
from tests.conftest import FIXTURES, crawl_stats, split_document
from tests.test_crawl import articles, files

HOSTILE = FIXTURES / "hostile"
CATEGORIES = ("金融", "新浪财经", "新浪财经－国內")
ARTICLES = "/".join(CATEGORIES)
#: 2021-04-20 19:51:38 Beijing: the seed's intime, the default of every case.
INTIME = 1618919498
FEED_TITLE = "来自滚动新闻的标题"
MAXSIZE = 3 * 1024 * 1024
#: The settings of the hostile run, besides the replica's (replica/crawl.py).
RUN_SETTINGS = {
    "SINA_ARTICLE_HOSTS": "127.0.0.1,localhost",
    "DOWNLOAD_TIMEOUT": "3",
    "DOWNLOAD_MAXSIZE": str(MAXSIZE),
    "DOWNLOAD_WARNSIZE": str(MAXSIZE),
    "RETRY_AFTER_MAX": "1",
    # test_case reads the line logged per archived article.
    "ARCHIVE_LOG_ARTICLES": "True",
}
#: Stats that only hostile cases move: the run's value of each must be the sum of
#: what the cases say they add.
COUNTED = (
    "sina/article/failed",
    "sina/feed/failed",
    "sina/feed/rejected/",
    "sina/feed/duplicates",
    "sina/feed/unusable_intime",
    "sina/encoding/",
    "sina/missing/",
    "validate/dropped/",
    "archive/dropped/",
    "archive/failed",
    "redirect/refused/",
    "retry/retry_after/",
)


def make_pages() -> ModuleType:
    """The corpus's own page builder (tests/fixtures/hostile/make_pages.py)."""
    spec = importlib.util.spec_from_file_location(
        "hostile_make_pages", HOSTILE / "make_pages.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


PAGES = make_pages()
BIG_PARAGRAPH = ("财经新闻正文，" * 100_000)[: 2 * 1024 * 1024 // 3]


def generated(name: str) -> tuple[bytes, str | None]:
    """``(page bytes, expected archived body)`` of a page too big to keep."""
    if name == "enormous":
        return b"<html><body>" + b"x" * (4 * 1024 * 1024) + b"</body></html>", None
    if name == "paragraph_2mb":
        body = f"<p>　　{BIG_PARAGRAPH}</p>"
        html = PAGES.page("两兆字节的段落", PAGES.container(body))
        return html.encode("utf-8"), body
    raise ValueError(f"no generated page {name!r}")


@dataclass(frozen=True)
class Case:
    """One case of cases.toml (see its header and README.md)."""

    id: str
    what: str
    expect: str
    doc_id: str | None = None
    path: str | None = None
    page: str | None = None
    generate: str | None = None
    content_type: str = "text/html; charset=utf-8"
    channel: str = "china"
    categories: tuple[str, ...] = CATEGORIES
    feed_title: str = FEED_TITLE
    intime: int = INTIME
    item: dict[str, Any] | None = None
    item_json: str | None = None
    feed_pages: tuple[int, ...] = (1,)
    feed_body: str | None = None
    feed_content_type: str = "application/json; charset=utf-8"
    feed_fault: dict[str, Any] | None = None
    fault: dict[str, Any] | None = None
    also_serve: dict[str, str] = field(default_factory=dict)
    also_fault: dict[str, dict[str, Any]] = field(default_factory=dict)
    title: str | None = None
    date: str = "2021-04-20"
    body: str | None = None
    body_has: tuple[str, ...] = ()
    body_lacks: tuple[str, ...] = ()
    log: str | None = None
    stats: dict[str, int] = field(default_factory=dict)

    @property
    def article_path(self) -> str | None:
        """The URL path of the case's article page, if it has one."""
        if self.path:
            return self.path
        if self.doc_id:
            return f"/hostile/2021-04-20/doc-{self.doc_id}.shtml"
        return None

    @property
    def kind(self) -> str:
        return self.expect.partition(":")[0]

    @property
    def detail(self) -> str:
        return self.expect.partition(":")[2]

    def page_bytes(self) -> tuple[bytes, str | None]:
        if self.generate:
            return generated(self.generate)
        if self.page:
            return (HOSTILE / self.page).read_bytes(), None
        return b"", None

    def added_stats(self) -> Counter[str]:
        """What this case adds to the COUNTED stats."""
        added = Counter(self.stats)
        if self.kind == "failed":
            added["sina/article/failed"] += 1
            added[f"sina/article/failed/{self.detail}"] += 1
        elif self.kind == "dropped":
            added[f"validate/dropped/{self.detail}"] += 1
        elif self.kind == "unsafe_path":
            added["archive/dropped/unsafe_path"] += 1
        elif self.kind == "rejected":
            added[f"sina/feed/rejected/{self.detail}"] += 1
        elif self.kind == "feed_failed":
            added["sina/feed/failed"] += 1
        return added


def load_cases() -> list[Case]:
    document = tomllib.loads((HOSTILE / "cases.toml").read_text("utf-8"))
    cases = []
    for raw in document["case"]:
        for key in ("categories", "feed_pages", "body_has", "body_lacks"):
            if key in raw:
                raw[key] = tuple(raw[key])
        cases.append(Case(**raw))
    return cases


CASES = load_cases()
EXPECTS = {"archived", "dropped", "failed", "rejected", "feed_failed", "unsafe_path"}


# --- Serving the corpus ------------------------------------------------------------


def fill(text: str, replica: Replica) -> str:
    """Placeholders of cases.toml: @BASE@, @OTHER@ (another host), @300."""
    return (
        text.replace("@BASE@", replica.base_url)
        .replace("@OTHER@", f"http://localhost:{replica.port}")
        .replace("@300", "x" * 300)
    )


def fault(spec: dict[str, Any], replica: Replica) -> Fault:
    spec = dict(spec)
    if "body" in spec:
        spec["body"] = spec["body"].encode("utf-8")
    if "headers" in spec:
        spec["headers"] = {k: fill(v, replica) for k, v in spec["headers"].items()}
    return Fault(**spec)


class Corpus:
    """The cases as a site, its faults and the channels of the run."""

    def __init__(self, cases: list[Case]) -> None:
        self.cases = cases
        names = sorted({c.channel for c in cases} - {"china"})
        self.lids = {name: 9001 + index for index, name in enumerate(names)}

    def site(self) -> Site:
        """The fixture site (archived by the first run) and every case's pages."""
        site = fixture_site()
        for case in self.cases:
            path = case.article_path
            if path is None or case.doc_id is None:
                continue
            raw, _ = case.page_bytes()
            site.add(
                SiteArticle(
                    doc_id=case.doc_id,
                    path=path,
                    title=case.feed_title,
                    intime=case.intime,
                    ctime=case.intime,
                    mtime=case.intime,
                    media_name="新京报",
                    keywords="",
                    raw=raw,
                    content_type=case.content_type,
                    # Other channels list their articles in feed pages of their own.
                    listed=case.channel == "china",
                )
            )
            for extra, page in case.also_serve.items():
                site.add(
                    SiteArticle(
                        doc_id=f"also{len(site)}",
                        path=extra,
                        title="",
                        intime=INTIME,
                        ctime=INTIME,
                        mtime=INTIME,
                        media_name="",
                        keywords="",
                        raw=(HOSTILE / page).read_bytes(),
                        listed=False,
                    )
                )
        return site

    def channels(self) -> dict[str, dict[str, Any]]:
        """SINA_CHANNELS of the run: the real china channel and one per other."""
        channels: dict[str, dict[str, Any]] = {"china": DEFAULT_CHANNELS["china"]}
        for name, lid in self.lids.items():
            categories = next(c.categories for c in self.cases if c.channel == name)
            channels[name] = {"pageid": 155, "lid": lid, "categories": categories}
        return channels

    def feed_target(self, replica: Replica, channel: str, page: int = 1) -> str:
        """The path?query the spider asks for page ``page`` of a channel."""
        url = feed_url(replica.feed_url, 155, self.lids[channel], page)
        return url.removeprefix(replica.base_url)

    def item_text(self, case: Case, replica: Replica) -> str:
        if case.item_json is not None:
            return fill(case.item_json, replica)
        if case.item is not None:
            return fill(json.dumps(case.item, ensure_ascii=False), replica)
        item = {
            "docid": f"comos:{case.doc_id}",
            "url": replica.base_url + (case.article_path or ""),
            "title": case.feed_title,
            "intime": str(case.intime),
        }
        return json.dumps(item, ensure_ascii=False)

    def install(self, replica: Replica) -> None:
        """The faults: wrong articles, wrong feed pages, other channels' feeds."""
        items: dict[tuple[str, int], list[str]] = {}
        for case in self.cases:
            path = case.article_path
            if case.fault is not None and path is not None:
                replica.faults[path] = fault(case.fault, replica)
            for extra, spec in case.also_fault.items():
                replica.faults[extra] = fault(spec, replica)
            if case.channel == "china":
                continue
            target = self.feed_target(replica, case.channel)
            if case.feed_body is not None:
                body = fill((HOSTILE / case.feed_body).read_text("utf-8"), replica)
                replica.faults[target] = Fault(
                    status=200,
                    body=body.encode("utf-8"),
                    headers={"Content-Type": case.feed_content_type},
                )
            elif case.feed_fault is not None:
                replica.faults[target] = fault(case.feed_fault, replica)
            else:
                for page in case.feed_pages:
                    items.setdefault((case.channel, page), []).append(
                        self.item_text(case, replica)
                    )
        for (channel, page), texts in items.items():
            pages = max(p for c, p in items if c == channel)
            envelope = (
                '{"result": {"status": {"code": 0, "msg": "succ"},'
                f' "total": {50 * pages}, "data": [{", ".join(texts)}]}}}}'
            )
            replica.faults[self.feed_target(replica, channel, page)] = Fault(
                status=200, body=envelope.encode("utf-8")
            )

    def url(self, case: Case, replica: Replica) -> str:
        """The URL the crawl knows the case by (its log lines name it)."""
        if case.kind == "feed_failed":
            return replica.base_url + self.feed_target(replica, case.channel)
        if case.item is not None and "url" in case.item:
            return fill(case.item["url"], replica)
        return replica.base_url + (case.article_path or "")


# --- The run ---------------------------------------------------------------------


@dataclass
class HostileRun:
    """What the hostile run left: its process, the archive, what was asked."""

    run: subprocess.CompletedProcess[str]
    archive: Path
    root: Path
    before: dict[Path, bytes]
    rows_before: list[tuple[Any, ...]]
    requests: list[str]
    base_url: str
    urls: dict[str, str]
    verify: subprocess.CompletedProcess[str]

    @property
    def stats(self) -> dict[str, int]:
        return crawl_stats(self.run)

    def lines(self, *parts: str) -> list[str]:
        """The log lines that contain every one of ``parts``."""
        return [
            line
            for line in self.run.stderr.splitlines()
            if all(part in line for part in parts)
        ]


def index_rows(archive: Path, doc_ids: list[str]) -> list[tuple[Any, ...]]:
    with sqlite3.connect(archive / ".newscrawl" / "index.sqlite3") as db:
        return db.execute(
            "SELECT * FROM articles WHERE doc_id IN"
            f" ({', '.join('?' for _ in doc_ids)}) ORDER BY doc_id",
            doc_ids,
        ).fetchall()


def verify(archive: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "scrapy", "verify", "-s", f"ARCHIVE_DIR={archive}"],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


FIXTURE_IDS = ["ihqfskcn2160999", "iicezzrq4076655", "ikmvwzxq0000001"]


@pytest.fixture(scope="module")
def hostile(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HostileRun]:
    root = tmp_path_factory.mktemp("hostile")
    archive = root / "archive"
    with Replica(fixture_site()) as replica:
        first = run_crawl(replica.feed_url, archive)
    assert first.returncode == 0, first.stderr[-3000:]
    before = {p: (archive / p).read_bytes() for p in files(archive)}
    rows_before = index_rows(archive, FIXTURE_IDS)
    corpus = Corpus(CASES)
    with Replica(corpus.site()) as replica:
        corpus.install(replica)
        channels = corpus.channels()
        run = run_crawl(
            replica.feed_url,
            archive,
            f"channels={','.join(channels)}",
            "pages=2",
            settings={**RUN_SETTINGS, "SINA_CHANNELS": json.dumps(channels)},
        )
        requests = replica.requests
        base_url = replica.base_url
        urls = {case.id: corpus.url(case, replica) for case in CASES}
    # Kept beside the archive, for whoever reads a failure.
    (tmp_path_factory.mktemp("hostile-log") / "crawl.log").write_text(run.stderr)
    yield HostileRun(
        run,
        archive,
        root,
        before,
        rows_before,
        requests,
        base_url,
        urls,
        verify(archive),
    )


def article_file(case: Case) -> Path:
    return Path(ARTICLES) / f"{case.date}-{case.doc_id}.md"


# --- The corpus itself -------------------------------------------------------------


def produces(case: Case) -> str:
    """What a case must produce, in words, for README.md's table."""
    url = "…" if case.kind != "feed_failed" else "the feed page"
    reason = case.detail.replace("_", " ")
    said = {
        "archived": f"file `{case.date}-{case.doc_id}.md`, title `{case.title}`",
        "dropped": f"WARNING `Dropped: {reason}: {url}`, no file",
        "unsafe_path": f"WARNING `Dropped: unsafe archive path for {url}: {case.log}`"
        ", no file",
        "failed": f"ERROR `Cannot fetch the article {url}: {case.log or '…'}`, no file",
        "rejected": f"WARNING `Feed …: N item(s) rejected ({case.detail})`"
        ", not requested",
        "feed_failed": f"ERROR `Cannot read the feed …: {case.log}`, exit status 3",
    }[case.kind]
    if case.kind == "failed" and case.detail == "not_html":
        said = said.replace("Cannot fetch", "Cannot use")
    if case.body is not None or case.generate == "paragraph_2mb":
        said += ", body exactly as expected"
    if case.body_has or case.body_lacks:
        said += ", body checked"
    if case.log and case.kind == "archived":
        said += f"; log `{case.log}`"
    added = ", ".join(f"`{k}` +{v}" for k, v in sorted(case.added_stats().items()))
    text = f"`{case.expect}`: {said}" + (f"; stats {added}" if added else "")
    return text.replace("|", "\\|")


def readme_table() -> str:
    rows = ["| case | what it is | what it must produce |", "|---|---|---|"]
    rows += [f"| `{c.id}` | {c.what} | {produces(c)} |" for c in CASES]
    return "\n".join(rows)


def test_corpus_is_at_least_thirty_cases_all_listed_in_the_readme() -> None:
    assert len(CASES) >= 30
    assert len({c.id for c in CASES}) == len(CASES)
    assert len({c.doc_id for c in CASES if c.doc_id}) == len(
        [c for c in CASES if c.doc_id]
    )
    readme = (HOSTILE / "README.md").read_text("utf-8")
    table = readme.split("<!-- cases -->\n", 1)[1].split("\n<!-- /cases -->", 1)[0]
    assert table == readme_table(), "README.md's table is out of date:\n" + (
        readme_table()
    )
    for case in CASES:
        assert case.kind in EXPECTS, case.id
        if case.page:
            assert (HOSTILE / case.page).is_file(), case.page
        if case.kind == "archived":
            assert case.title is not None and case.doc_id, case.id


# --- Each case ---------------------------------------------------------------------


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_case(case: Case, hostile: HostileRun) -> None:
    url = hostile.urls[case.id]
    if case.kind == "archived":
        relative = article_file(case)
        assert hostile.lines("INFO: Archived", f"{relative.as_posix()} ({url})")
        text = (hostile.archive / relative).read_text("utf-8")
        post = frontmatter.loads(text)
        assert post.metadata["title"] == case.title
        assert post.metadata["categories"] == list(CATEGORIES)
        _, body = split_document(text)
        _, expected_body = case.page_bytes()
        if case.body is not None or expected_body is not None:
            assert body == (case.body if case.body is not None else expected_body)
        for part in case.body_has:
            assert part in body, part
        for part in case.body_lacks:
            assert part.lower() not in body.lower(), part
    else:
        # Nothing written for it, under any name.
        if case.doc_id:
            assert not [p for p in files(hostile.root) if case.doc_id in p.name]
        if case.kind == "dropped":
            reason = case.detail.replace("_", " ")
            assert hostile.lines("Dropped: " + reason + ":", url)
        elif case.kind == "unsafe_path":
            assert hostile.lines(f"Dropped: unsafe archive path for {url}: ")
        elif case.kind == "failed":
            assert len(hostile.lines("ERROR: Cannot ", f" the article {url}: ")) == 1
        elif case.kind == "feed_failed":
            assert len(hostile.lines("ERROR: Cannot read the feed", url)) == 1
        elif case.kind == "rejected":
            assert url.removeprefix(hostile.base_url) not in hostile.requests
            assert hostile.lines(f"item(s) rejected ({case.detail})")
    if case.log is not None:
        found = hostile.lines(url, case.log) or (
            hostile.lines(case.log) if case.kind == "rejected" else []
        )
        assert found, f"no log line with {url} and {case.log!r}"


# --- The run as a whole ------------------------------------------------------------


def test_stats_of_all_cases_add_up(hostile: HostileRun) -> None:
    expected: Counter[str] = Counter()
    for case in CASES:
        expected.update(case.added_stats())
    actual = {
        key: value
        for key, value in hostile.stats.items()
        if key.startswith(COUNTED) and not key.endswith("_max")
    }
    assert actual == {k: v for k, v in expected.items() if v}
    most = max(c.stats.get("sina/encoding/replacements", 0) for c in CASES)
    assert hostile.stats["sina/encoding/replacements_max"] == most


def test_run_fails_for_its_unreadable_feeds_and_says_so(hostile: HostileRun) -> None:
    run = hostile.run
    assert run.returncode == 3, run.stderr[-3000:]  # ExitStatus.FEED_UNREADABLE
    assert hostile.stats["run/exit_status"] == 3
    assert "Run FAILED (feed unreadable)" in run.stderr
    assert "Traceback" not in run.stderr
    assert "Unhandled error" not in run.stderr
    assert "Error caught on signal handler" not in run.stderr
    # Every ERROR line is one a case expects.
    errors = [line for line in run.stderr.splitlines() if "] ERROR: " in line]
    expected = sum(c.kind in ("failed", "feed_failed") for c in CASES) + 1
    assert len(errors) == expected, "\n".join(errors)


def test_the_archive_holds_exactly_the_archived_cases(hostile: HostileRun) -> None:
    archived = {article_file(c) for c in CASES if c.kind == "archived"}
    assert set(articles(hostile.archive)) == archived | set(hostile.before) - {
        p for p in hostile.before if p.parts[0].startswith(".")
    }
    # Nothing written outside the archive folder, no temporary file left.
    assert {p.parts[0] for p in files(hostile.root)} == {"archive"}
    assert not [p for p in files(hostile.archive) if p.name.endswith(".tmp")]


def test_what_was_archived_before_is_intact(hostile: HostileRun) -> None:
    for path, data in hostile.before.items():
        if not path.parts[0].startswith("."):
            assert (hostile.archive / path).read_bytes() == data, path
    assert index_rows(hostile.archive, FIXTURE_IDS) == hostile.rows_before
    assert hostile.stats["archive/skipped/known"] == len(FIXTURE_IDS)


def test_verify_passes_after_the_hostile_run(hostile: HostileRun) -> None:
    result = hostile.verify
    assert result.returncode == 0, result.stdout + result.stderr
    archived = sum(c.kind == "archived" for c in CASES) + len(FIXTURE_IDS)
    assert f"verify ok: {archived} files, {archived} index rows" in result.stderr


def test_requests_went_only_where_cases_lead(hostile: HostileRun) -> None:
    pages = [
        r.partition("?")[0]
        for r in hostile.requests
        if r.partition("?")[0] not in (FEED_PATH, "/robots.txt")
    ]
    expected = {
        c.article_path
        for c in CASES
        if c.article_path and c.kind != "rejected" and c.expect != "failed:robots_txt"
    }
    for case in CASES:
        expected |= set(case.also_serve) | set(case.also_fault)
    assert set(pages) == expected
    # Listed on two feed pages, fetched once.
    duplicate = next(c for c in CASES if c.id == "item_duplicate_across_pages")
    assert duplicate.article_path is not None
    assert pages.count(duplicate.article_path) == 1
