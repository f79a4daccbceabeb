"""What ``scrapy export`` costs on a large archive: seconds and peak memory.

    python -m benchmarks.export [--sizes 10000,100000] [--formats parquet,jsonl]
                                [--archives DIR]

For each size N: builds an archive of N real article files and its index (schema
5, with every article's metadata), synthetic but made the real way: 200 pages of
the replica's generated site go through ``newscrawl.page.read_article`` and the
exporter, and each archived article is one of them under its own doc id, title
and day (its HTML is a real cleaned body, 2-9 KB). Then times ``scrapy export``
of the whole archive, a subprocess per format, its peak RSS from ``os.wait4``.

Target: peak memory flat against the archive's size (100,000 vs 10,000 within
1.2x). ``--archives DIR`` keeps the built archives there and reuses them.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

from newscrawl.archive.files import DEFAULT_PATH_TEMPLATE, PathRules
from newscrawl.archive.index import INDEX_NAME, IndexRow, write_index
from newscrawl.archive.owner import sha256
from newscrawl.page import read_article
from newscrawl.pipelines import article_meta, export
from newscrawl.sina.channels import DEFAULT_CHANNELS, load_channels
from newscrawl.sina.dates import beijing_day
from replica.crawl import PROJECT_ROOT
from replica.site import generated_articles

TEMPLATES = 200


def templates() -> list[object]:
    """Real archived articles: generated pages through the real page path."""
    channel = load_channels(DEFAULT_CHANNELS)["china"]
    found = []
    for site_article in generated_articles(TEMPLATES, seed=21):
        url = f"https://finance.sina.com.cn{site_article.path}"
        result = read_article(site_article.page, None, url, channel, None)
        assert result.article is not None and result.refusal is None
        found.append(result.article)
    return found


def build(root: Path, size: int) -> None:
    """An archive of ``size`` article files and its index at ``root``."""
    rules = PathRules(DEFAULT_PATH_TEMPLATE)
    models = templates()
    rows: list[IndexRow] = []
    metas = []
    start = datetime(2025, 1, 1, 2, tzinfo=UTC)
    now = datetime.now(UTC).isoformat()
    made: set[Path] = set()
    for n in range(size):
        model = models[n % len(models)]
        doc_id = f"ibench{n:09d}"
        published = start + timedelta(minutes=7 * n)
        article = replace(
            model,  # type: ignore[type-var]
            doc_id=doc_id,
            url=f"https://finance.sina.com.cn/china/doc-{doc_id}.shtml",
            title=f"{model.title} {n}",  # type: ignore[attr-defined]
            published=published,
        )
        data = export(article)
        path = rules.path(
            categories=article.categories, date=beijing_day(published), doc_id=doc_id
        )
        folder = root / path.parent
        if folder not in made:
            folder.mkdir(parents=True, exist_ok=True)
            made.add(folder)
        (root / path).write_bytes(data)
        digest = sha256(data)
        rows.append(
            IndexRow(
                doc_id=doc_id,
                url=article.url,
                path=path.as_posix(),
                title=article.title,
                published=published.isoformat(),
                sha256=digest,
                first_archived=now,
                last_updated=now,
            )
        )
        metas.append(replace(article_meta(article), sha256=digest, recorded=now))
    state = root / ".newscrawl"
    state.mkdir(parents=True, exist_ok=True)
    write_index(state / INDEX_NAME, rows, [], [], [], metas)


def measure(root: Path, fmt: str, out: Path) -> tuple[float, int, int]:
    """(wall seconds, peak RSS in bytes, output bytes) of one export."""
    command = [
        sys.executable,
        "-m",
        "scrapy",
        "export",
        "-s",
        f"ARCHIVE_DIR={root}",
        "--format",
        fmt,
        "-o",
        str(out),
    ]
    started = time.perf_counter()
    process = subprocess.Popen(command, cwd=PROJECT_ROOT, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(process.pid, 0)
    wall = time.perf_counter() - started
    assert process.stderr is not None
    err = process.stderr.read().decode()
    process.stderr.close()
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"export failed: {err}")
    return wall, usage.ru_maxrss * 1024, out.stat().st_size


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="10000,100000")
    parser.add_argument("--formats", default="parquet,jsonl")
    parser.add_argument("--archives", type=Path, default=None)
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    formats = args.formats.split(",")
    work = Path(tempfile.mkdtemp(prefix="newscrawl-export-"))
    keep = args.archives or work
    try:
        print("| articles | format | seconds | articles/s | peak RSS | output |")
        print("|---:|---|---:|---:|---:|---:|")
        for size in sizes:
            root = keep / f"archive-{size}"
            if not (root / ".newscrawl" / INDEX_NAME).exists():
                shutil.rmtree(root, ignore_errors=True)
                started = time.perf_counter()
                build(root, size)
                print(
                    f"built {size} articles in {time.perf_counter() - started:.0f} s",
                    file=sys.stderr,
                )
            for fmt in formats:
                out = work / f"out-{size}.{fmt}"
                wall, rss, written = measure(root, fmt, out)
                out.unlink()
                print(
                    f"| {size:,} | {fmt} | {wall:.1f} | {size / wall:,.0f}"
                    f" | {rss / 2**20:.0f} MB | {written / 2**20:.0f} MB |",
                    flush=True,
                )
    finally:
        if args.archives is None:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
