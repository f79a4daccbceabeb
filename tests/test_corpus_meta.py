"""The corpus pages give the metadata their readers wrote down (corpus/meta/).

Each ``tests/fixtures/corpus/meta/<page stem>.json`` is the gold of one page of
``corpus/pages/``, written by reading the page: its outlet, original title (原标题),
responsible editor and code, and the stocks it names. Every file present is held
to ``newscrawl.sina.article.extract_page``; a page with no such file is not checked.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from newscrawl.sina.article import extract_page
from newscrawl.sina.encoding import read_document

CORPUS = Path(__file__).parent / "fixtures" / "corpus"
META = sorted((CORPUS / "meta").glob("*.json"))
FIELDS = ("outlet", "original_title", "editor", "editor_code", "stocks")


def _url(stem: str) -> str:
    gold = CORPUS / "gold" / f"{stem}.json"
    if gold.exists():
        return str(json.loads(gold.read_text(encoding="utf-8"))["url"])
    return f"https://finance.sina.com.cn/corpus/{stem}.shtml"


def extracted(stem: str) -> dict[str, Any]:
    """The page's metadata as the gold writes it (None for what it lacks)."""
    root, _ = read_document((CORPUS / "pages" / f"{stem}.html").read_bytes(), "")
    fields = extract_page(root, _url(stem))
    return {
        "outlet": fields.outlet or None,
        "original_title": fields.original_title or None,
        "editor": fields.editor or None,
        "editor_code": fields.editor_code or None,
        "stocks": fields.stocks,
    }


def test_the_meta_gold_has_pages() -> None:
    assert META, "no gold in tests/fixtures/corpus/meta/"
    for path in META:
        assert (CORPUS / "pages" / f"{path.stem}.html").exists(), path.name


@pytest.mark.parametrize("path", META, ids=[p.stem for p in META])
def test_page_metadata_matches_its_gold(path: Path) -> None:
    gold = json.loads(path.read_text(encoding="utf-8"))
    got = extracted(path.stem)
    expected = {name: gold.get(name) for name in FIELDS}
    expected["stocks"] = sorted(set(gold.get("stocks") or []))
    assert got == expected, gold.get("notes", "")
