"""The corpus of real Sina pages as a replica site: each page at its own path.

``tests/fixtures/corpus/pages/<name>.html`` are real pages, byte for byte;
``gold/<name>.json`` what a reader finds in each (CORPUS.md's schema: url,
template, title, published, headimg, first/middle/last, absent, refused). The
replica serves every page at the path of its gold ``url`` and lists it in the
roll feed of the ``china`` channel, without an ``intime``: the page's own date is
then the one archived, so the crawl is held to what the page says.

``NEWSCRAWL_CORPUS_DIRS`` (folders separated by ``os.pathsep``, each holding
``pages/`` and ``gold/``) points at other corpora, e.g. a gatherer's worktree.
"""

from __future__ import annotations

import hashlib
import html
import json
import os
import re
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from replica.site import (
    DEFAULT_START,
    FIXTURES_DIR,
    HTML_GB2312,
    HTML_UTF8,
    Site,
    SiteArticle,
)

#: The project's own corpus.
CORPUS_DIR = FIXTURES_DIR / "corpus"
#: The environment variable that names other corpus folders.
CORPUS_DIRS_VARIABLE = "NEWSCRAWL_CORPUS_DIRS"

# Doc ids as Sina's URLs give them: doc-i…/zl-i….shtml, detail-i….d.html, or the
# digits of a 2005-2012 page (…/031868306.html, …/13482762951.shtml).
_DOC_ID = re.compile(
    r"/(?:(?:doc|zl)-(i[0-9a-z]+)\.shtml|detail-(i[0-9a-z]+)\.d\.html"
    r"|(\d{6,20})\.s?html)$"
)
_GB_CHARSET = re.compile(rb"charset\s*=\s*[\"']?\s*(?:gb2312|gbk|gb18030)", re.I)


@dataclass(frozen=True)
class CorpusPage:
    """One real page and its gold."""

    name: str
    page: Path
    gold: dict[str, Any]

    @property
    def url(self) -> str:
        """The page's URL; a page saved without one (a 404 page) gets a made-up
        article URL, so that the crawl fetches it and says what it is."""
        url = self.gold.get("url")
        if url:
            return str(url)
        made_up = hashlib.sha1(self.name.encode()).hexdigest()[:12]
        return f"https://finance.sina.com.cn/corpus/2000-01-01/doc-i{made_up}.shtml"

    @property
    def path(self) -> str:
        """Where the replica serves it: the path of its URL."""
        return urlsplit(self.url).path

    @property
    def doc_id(self) -> str:
        match = _DOC_ID.search(self.path)
        if match is None:
            return ""
        return next(g for g in match.groups() if g)

    @property
    def template(self) -> str:
        return str(self.gold.get("template") or "unknown")

    @property
    def refused(self) -> str | None:
        refused = self.gold.get("refused")
        return str(refused) if refused else None

    @property
    def published(self) -> datetime | None:
        value = self.gold.get("published")
        return datetime.fromisoformat(value) if value else None


def corpus_dirs() -> list[Path]:
    """The corpus folders: ``NEWSCRAWL_CORPUS_DIRS`` if set, else the project's."""
    value = os.environ.get(CORPUS_DIRS_VARIABLE, "")
    if value.strip():
        return [Path(p) for p in value.split(os.pathsep) if p.strip()]
    return [CORPUS_DIR]


def load_corpus(dirs: list[Path] | None = None) -> list[CorpusPage]:
    """Every page that has its gold, by name; a name met twice is taken once."""
    found: dict[str, CorpusPage] = {}
    for folder in corpus_dirs() if dirs is None else dirs:
        for gold_file in sorted((folder / "gold").glob("*.json")):
            page = folder / "pages" / (gold_file.stem + ".html")
            if not page.is_file() or gold_file.stem in found:
                continue
            gold = json.loads(gold_file.read_text("utf-8"))
            found[gold_file.stem] = CorpusPage(gold_file.stem, page, gold)
    return sorted(found.values(), key=lambda p: p.name)


def rounds(pages: list[CorpusPage]) -> list[list[CorpusPage]]:
    """The pages in as few groups as possible where no doc id or path repeats.

    A desktop page and its mobile twin share a doc id, hence an archive file: each
    needs a crawl of its own.
    """
    groups: list[tuple[set[str], list[CorpusPage]]] = []
    for page in pages:
        keys = {f"id:{page.doc_id}", f"path:{page.path}"}
        for seen, group in groups:
            if not keys & seen:
                seen |= keys
                group.append(page)
                break
        else:
            groups.append((set(keys), [page]))
    return [group for _, group in groups]


def corpus_site(pages: list[CorpusPage]) -> Site:
    """A replica site serving ``pages`` (distinct doc ids and paths)."""
    site = Site()
    for index, page in enumerate(pages):
        raw = page.page.read_bytes()
        published = page.published
        # The feed lists newest first; pages without a date at the end.
        intime = int(published.timestamp()) if published else DEFAULT_START - index
        site.add(
            SiteArticle(
                doc_id=page.doc_id or f"corpus{index:06d}",
                path=page.path,
                # No feed title: the title archived must be the page's own.
                title="",
                intime=intime,
                ctime=intime,
                mtime=intime,
                media_name="",
                keywords="",
                raw=raw,
                content_type=HTML_GB2312
                if _GB_CHARSET.search(raw[:4096])
                else HTML_UTF8,
                feed_intime=False,
            )
        )
    return site


# --- Holding a result against the gold -------------------------------------------

_TAGS = re.compile(r"<[^>]*>")
_SPACES = re.compile(r"\s+")
_LINE_BLOCKS = re.compile(
    r"<br\s*/?>|</?(?:p|div|li|h[1-6]|td|th|tr|figcaption)\b[^>]*>"
)


def normalise(text: str) -> str:
    """Text as CORPUS.md compares it: tags dropped, entities read, whitespace
    (U+3000 and U+00A0 included) collapsed to one space, stripped."""
    text = html.unescape(_TAGS.sub("", text))
    return _SPACES.sub(" ", text).strip()


def blocks(body: str) -> list[str]:
    """The non-empty text blocks of an HTML body, in order."""
    parts = _LINE_BLOCKS.split(body.replace("\n", " \n "))
    found: list[str] = []
    for part in parts:
        for line in part.split("\n"):
            text = normalise(line)
            if text:
                found.append(text)
    return found


def body_problems(gold: dict[str, Any], body: str) -> list[str]:
    """What is wrong with an article body against the gold: first, middle and last
    blocks, and strings that must be absent. Empty: the body is right."""
    found = blocks(body)
    problems: list[str] = []
    first, middle, last = (
        normalise(str(gold.get(k) or "")) for k in ("first", "middle", "last")
    )
    if not found:
        return ["empty body"]
    if first and found[0] != first:
        problems.append(f"first block {found[0][:60]!r}, gold {first[:60]!r}")
    if middle and middle not in found:
        problems.append(f"middle block {middle[:60]!r} missing")
    if last and found[-1] != last:
        problems.append(f"last block {found[-1][:60]!r}, gold {last[:60]!r}")
    text = " ".join(found)
    for absent in gold.get("absent") or []:
        if normalise(str(absent)) in text:
            problems.append(f"kept {absent!r}")
    return problems
