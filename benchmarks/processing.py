"""Per-article processing cost, in process, against its floor and a peer extractor.

    python -m benchmarks.processing [--pages 60] [--repeat 5]

For the real fixture pages and generated variations of them (replica/site.py),
times, per page:

- floor: one ``lxml.html.fromstring`` of the page's bytes — the parse no extractor
  can avoid;
- newscrawl: what a crawl does with a downloaded page, without the network:
  ``newscrawl.page.read_article`` (the encoding and the one parse, Sina's page
  fields, the body cleaned by Sina's rules, the checks), the very function the
  spider calls, and ``format_article`` (the archive file);
- trafilatura: ``trafilatura.extract(page, output_format="html")``, the extractor a
  user would otherwise reach for (install benchmarks/requirements.txt).

Reports the median over ``--repeat`` passes of the mean CPU time per page, and the
ratios taken in the same run. Targets (issue 5): newscrawl ≤ 1.5× the floor and
≥ 8× faster than trafilatura.
"""

from __future__ import annotations

import argparse
import gc
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import lxml.html

from newscrawl.exporters import format_article
from newscrawl.page import read_article
from newscrawl.sina.channels import Channel
from replica.site import OLD_PAGE_PATH, fixture_site, generated_articles

CANONICAL = "https://finance.sina.com.cn"
CHANNEL = Channel("china", 155, 1686, ("金融", "新浪财经", "新浪财经－国內"))


@dataclass(frozen=True)
class Page:
    """One page as the downloader would hand it over."""

    url: str
    body: bytes
    content_type: str


def pages(generated: int) -> list[Page]:
    """The fixture pages (the old GB2312 one included) and generated ones."""
    site = fixture_site()
    found = [Page(CANONICAL + a.path, a.page, a.content_type) for a in site]
    old = site.find(OLD_PAGE_PATH)
    if old is not None and all(p.url != CANONICAL + OLD_PAGE_PATH for p in found):
        found.append(Page(CANONICAL + OLD_PAGE_PATH, old.page, old.content_type))
    found += [
        Page(CANONICAL + a.path, a.page, a.content_type)
        for a in generated_articles(generated, seed=1)
    ]
    return found


def floor(page: Page) -> object:
    """The parse every extractor pays."""
    return lxml.html.fromstring(page.body)


def newscrawl(page: Page) -> str:
    """From the page's bytes to the archive file: the spider's and pipelines' work."""
    result = read_article(
        page.body, {"Content-Type": page.content_type}, page.url, CHANNEL, None
    )
    article = result.article
    assert article is not None and article.published is not None
    return format_article(
        title=article.title,
        categories=article.categories,
        image=article.image,
        author=article.author,
        published=article.published,
        body=article.body,
    )


def trafilatura_html(page: Page) -> object:
    """The peer: trafilatura's main-content extraction, as HTML."""
    import trafilatura  # a benchmark extra, never a dependency of newscrawl

    return trafilatura.extract(page.body, output_format="html", url=page.url)


def per_page(
    task: Callable[[Page], object], sample: Sequence[Page], repeat: int
) -> float:
    """Median over ``repeat`` passes of the mean seconds per page."""
    means = []
    for _ in range(repeat):
        gc.collect()
        started = time.process_time()
        for page in sample:
            task(page)
        means.append((time.process_time() - started) / len(sample))
    return statistics.median(means)


def main(argv: list[str] | None = None) -> dict[str, float]:
    """Run the benchmark; print and return the figures."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.processing")
    parser.add_argument("--pages", type=int, default=60, help="generated pages (60)")
    parser.add_argument("--repeat", type=int, default=5, help="passes (5)")
    parser.add_argument("--no-peer", action="store_true", help="skip trafilatura")
    args = parser.parse_args(argv)

    sample = pages(args.pages)
    size = statistics.mean(len(p.body) for p in sample)
    for task in (floor, newscrawl):  # warm caches, imports and compiled selectors
        task(sample[0])
    figures = {
        "pages": float(len(sample)),
        "mean_kb": size / 1024,
        "floor_ms": per_page(floor, sample, args.repeat) * 1000,
        "newscrawl_ms": per_page(newscrawl, sample, args.repeat) * 1000,
    }
    if not args.no_peer:
        trafilatura_html(sample[0])
        # trafilatura is slow: fewer passes keep the run short, medians still hold.
        figures["trafilatura_ms"] = (
            per_page(trafilatura_html, sample, max(1, args.repeat // 2)) * 1000
        )
    figures["newscrawl_vs_floor"] = figures["newscrawl_ms"] / figures["floor_ms"]
    if "trafilatura_ms" in figures:
        figures["trafilatura_vs_newscrawl"] = (
            figures["trafilatura_ms"] / figures["newscrawl_ms"]
        )
    print(
        f"{int(figures['pages'])} pages, {figures['mean_kb']:.0f} KB mean:"
        f" floor {figures['floor_ms']:.2f} ms,"
        f" newscrawl {figures['newscrawl_ms']:.2f} ms"
        f" ({figures['newscrawl_vs_floor']:.2f}× floor; target ≤ 1.5×)"
        + (
            f", trafilatura {figures['trafilatura_ms']:.2f} ms"
            f" (newscrawl {figures['trafilatura_vs_newscrawl']:.1f}× faster;"
            " target ≥ 8×)"
            if "trafilatura_ms" in figures
            else ""
        )
    )
    return figures


if __name__ == "__main__":
    main()
