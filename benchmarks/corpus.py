"""The corpus of real pages (tests/fixtures/corpus/): newscrawl beside trafilatura.

    python -m benchmarks.corpus [--no-peer] [--show NAME]

For every page with its gold (replica/corpus.py; NEWSCRAWL_CORPUS_DIRS for other
folders), in process:

- newscrawl: ``newscrawl.page.read_article`` on the page's bytes, held to the
  whole gold as the corpus test holds the crawl's files (title, date, headimg,
  body, refusal), and to the body criteria alone;
- trafilatura: ``trafilatura.extract(page, output_format="html")``, held to the
  same body criteria (first, middle and last block, absent strings; a refused
  page counts as right when trafilatura extracts nothing). trafilatura is a
  benchmark extra (benchmarks/requirements.txt), never a dependency.

Prints, per template: pages; ours fully right (every gold field), ours with the
body right (the body criteria alone), ours found (first and middle block right,
whatever else was kept or lost); trafilatura's body right and found.
"""

from __future__ import annotations

import argparse
from collections import Counter
from datetime import datetime

from newscrawl.page import read_article
from newscrawl.sina.channels import SINA_FINANCE_IMAGE, Channel
from replica.corpus import CorpusPage, body_problems, load_corpus, normalise

CHANNEL = Channel("china", 155, 1686, ("金融", "新浪财经", "新浪财经－国內"))


def newscrawl_problems(page: CorpusPage) -> tuple[list[str], list[str]]:
    """``(all problems, body problems)`` of newscrawl's article of a page."""
    gold = page.gold
    result = read_article(page.page.read_bytes(), {}, page.url, CHANNEL, None)
    if page.refused:
        if result.refusal is None:
            return ["archived, gold refused: " + page.refused], ["archived"]
        if result.refusal.reason != page.refused:
            problem = f"refused {result.refusal.reason!r}, gold {page.refused!r}"
            return [problem], []
        return [], []
    if result.article is None or result.refusal is not None:
        why = result.refusal.reason if result.refusal else "no article"
        return [f"refused: {why}"], [f"refused: {why}"]
    article = result.article
    problems: list[str] = []
    if normalise(article.title) != normalise(str(gold.get("title") or "")):
        problems.append(f"title {article.title!r}, gold {gold.get('title')!r}")
    published = gold.get("published")
    if published and (
        article.published is None
        or article.published != datetime.fromisoformat(published)
    ):
        problems.append(f"published {article.published}, gold {published}")
    headimg = gold.get("headimg") or SINA_FINANCE_IMAGE
    if article.image != headimg:
        problems.append(f"headimg {article.image}, gold {headimg}")
    body = body_problems(gold, article.body)
    return problems + body, body


def trafilatura_problems(page: CorpusPage) -> list[str]:
    """The body problems of trafilatura's extraction of a page."""
    import trafilatura  # a benchmark extra, never a dependency of newscrawl

    extracted = trafilatura.extract(
        page.page.read_bytes(), output_format="html", url=page.url
    )
    if page.refused:
        return [] if not extracted or not normalise(extracted) else ["extracted"]
    if not extracted:
        return ["nothing extracted"]
    return body_problems(page.gold, extracted)


def found_the_article(problems: list[str]) -> bool:
    """Whether the first and middle blocks were right (body_problems' wording)."""
    return not any(
        p.startswith(("first block", "middle block", "empty", "nothing", "refused"))
        for p in problems
    )


def main(argv: list[str] | None = None) -> dict[str, Counter[str]]:
    """Run the comparison; print and return the counts per template."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.corpus")
    parser.add_argument("--no-peer", action="store_true", help="skip trafilatura")
    parser.add_argument("--show", action="store_true", help="print each problem")
    args = parser.parse_args(argv)
    pages = load_corpus()
    counts: dict[str, Counter[str]] = {}
    for page in pages:
        count = counts.setdefault(page.template, Counter())
        count["pages"] += 1
        problems, body = newscrawl_problems(page)
        count["newscrawl"] += not problems
        count["newscrawl_body"] += not body
        count["newscrawl_found"] += found_the_article(problems)
        if args.show and problems:
            print(f"{page.name} [{page.template}]: " + "; ".join(problems))
        if not args.no_peer:
            peer = trafilatura_problems(page)
            count["trafilatura"] += not peer
            count["trafilatura_found"] += found_the_article(peer)
            if args.show and peer:
                print(f"  trafilatura {page.name}: " + "; ".join(peer)[:300])
    total: Counter[str] = Counter()
    columns = ["pages", "newscrawl", "newscrawl_body", "newscrawl_found"]
    if not args.no_peer:
        columns += ["trafilatura", "trafilatura_found"]
    labels = {
        "pages": "pages",
        "newscrawl": "ours right",
        "newscrawl_body": "ours body",
        "newscrawl_found": "ours found",
        "trafilatura": "traf. body",
        "trafilatura_found": "traf. found",
    }
    print(f"{'template':<20}" + "".join(f"{labels[c]:>12}" for c in columns))
    for template in [*sorted(counts), "all"]:
        c = total if template == "all" else counts[template]
        if template != "all":
            total.update(c)
        print(f"{template:<20}" + "".join(f"{c[k]:>12}" for k in columns))
    counts["all"] = total
    return counts


if __name__ == "__main__":
    main()
