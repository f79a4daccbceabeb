"""What a cron run costs when nothing is new, on a small and on a large archive.

    python -m benchmarks.incremental [--sizes 100,10000] [--repeat 7]
                                     [--index-rows 1000000]
                                     [--archives DIR] [--no-readme]

For each size N: serves a replica of N generated articles on 127.0.0.1 (in this
process, so that its request log can be read), builds the archive with one real
full crawl (``scrapy crawl sina_finance -a pages=N/50``, timed and reported), then
times ``--repeat`` no-op incremental runs of the very same command on each size,
the sizes taking turns (a drift of the machine's load weighs on both). Each run is a
subprocess: its wall time is measured around it, its CPU time (user + sys) comes
from ``os.wait4``; the replica's log gives the article pages it requested.

Target: the no-op run on 10,000 articles costs at most 1.2x the one on 100 (median
wall and CPU time) and requests no article page. The figures are printed and
written to benchmarks/README.md under "Incremental no-op run" (``--no-readme``: print
only). ``--archives DIR`` keeps the built archives in DIR and reuses them when
they are complete, which saves the 10,000-article build (minutes) on a rerun.

``--index-rows R`` (issue 5) adds a copy of the smallest archive whose index is
padded with synthetic rows to R rows: the no-op run over it must cost at most 1.5x
the one over the small index, with no article request.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from newscrawl.archive.index import ArchiveIndex, IndexUnusableError, index_path
from replica.crawl import PROJECT_ROOT, crawl_command
from replica.server import Replica
from replica.site import MAX_NUM, generated_site

README = PROJECT_ROOT / "benchmarks" / "README.md"
HEADING = "## Incremental no-op run"
#: The no-op run may cost this much more on the large archive than on the small.
TARGET_RATIO = 1.2
#: Issue 5: a no-op run over a 1,000,000-row index costs at most this much more.
PADDED_TARGET_RATIO = 1.5
SEED = 1


@dataclass
class Run:
    """One ``scrapy crawl`` subprocess, measured."""

    wall_s: float
    cpu_s: float
    article_requests: int
    feed_requests: int


@dataclass
class Size:
    """The figures of one archive size."""

    articles: int
    build_s: float | None  # the full crawl that built the archive; None: unknown
    reused: bool  # the archive was built by an earlier invocation
    runs: list[Run]
    rows: int = 0  # rows of the index: the articles, plus synthetic ones if padded

    @property
    def wall_s(self) -> float:
        return statistics.median(r.wall_s for r in self.runs)

    @property
    def cpu_s(self) -> float:
        return statistics.median(r.cpu_s for r in self.runs)

    @property
    def article_requests(self) -> int:
        return max(r.article_requests for r in self.runs)

    @property
    def feed_requests(self) -> int:
        return max(r.feed_requests for r in self.runs)


def crawl(replica: Replica, archive: Path, pages: int, log: Path) -> Run:
    """Run the real crawl once; measure it; fail loudly if it failed."""
    replica.clear_log()
    with log.open("w") as stderr:
        started = time.perf_counter()
        process = subprocess.Popen(
            crawl_command(replica.feed_url, archive, f"pages={pages}"),
            cwd=PROJECT_ROOT,
            stdout=subprocess.DEVNULL,
            stderr=stderr,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        _, status, usage = os.wait4(process.pid, 0)
        wall = time.perf_counter() - started
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode != 0:
        tail = log.read_text(errors="replace")[-3000:]
        raise SystemExit(f"crawl exited {process.returncode}; its log ends:\n{tail}")
    return Run(
        wall_s=wall,
        cpu_s=usage.ru_utime + usage.ru_stime,
        article_requests=len(replica.article_requests()),
        feed_requests=len(replica.feed_requests()),
    )


def archived(archive: Path) -> int:
    """How many articles the archive's index holds (0: no usable index)."""
    if not index_path(archive).exists():
        return 0
    try:
        index = ArchiveIndex.for_archive(archive, create=False)
    except IndexUnusableError:
        return 0
    try:
        return index.count()
    finally:
        index.close()


def build(replica: Replica, n: int, folder: Path) -> tuple[float | None, bool]:
    """Build the archive of ``n`` articles with one full crawl, unless ``folder``
    holds it complete already; return the full crawl's wall time (None: unknown)
    and whether the archive was reused."""
    archive = folder / f"archive-{n}"
    record = folder / f"build-{n}.json"
    if archived(archive) == n:
        print(f"reusing the archive of {n} articles in {archive}")
        built = json.loads(record.read_text()) if record.exists() else {}
        return built.get("build_s"), True
    print(f"building the archive of {n} articles (one full crawl) …")
    first = crawl(replica, archive, pages_for(n), folder / f"crawl-{n}.log")
    if first.article_requests != n or archived(archive) != n:
        raise SystemExit(f"the full crawl archived {archived(archive)} of {n}")
    print(f"  {n} articles archived in {first.wall_s:.1f} s")
    record.write_text(json.dumps({"articles": n, "build_s": first.wall_s}))
    return first.wall_s, False


def pages_for(n: int) -> int:
    """Feed pages that list ``n`` articles."""
    return -(-n // MAX_NUM)


def pad_index(source: Path, target: Path, rows: int) -> None:
    """A copy of the archive at ``source`` whose index has ``rows`` rows.

    The rows past the real articles are synthetic (their files do not exist): a
    no-op run only looks rows up by doc id, which is what this measures.
    """
    if archived(target) == rows:
        print(f"reusing the padded index of {rows:,} rows in {target}")
        return
    shutil.rmtree(target, ignore_errors=True)
    shutil.copytree(source, target)
    index = ArchiveIndex.for_archive(target)
    try:
        missing = rows - index.count()
        print(f"padding the index with {missing:,} synthetic rows …")
        with index.transaction() as db:
            db.executemany(
                "INSERT INTO articles (doc_id, url, path, title, published,"
                " feed_mtime, sha256, first_archived, last_updated)"
                " VALUES (?, '', ?, 't', '2021-01-01T00:00:00+00:00', 1, ?, '', '')",
                (
                    (f"isynth{i:09d}", f"synthetic/{i}.md", f"{i:064x}")
                    for i in range(missing)
                ),
            )
    finally:
        index.close()


def measure(
    sizes: list[int], repeat: int, folder: Path, padded_rows: int = 0
) -> list[Size]:
    """Build (or reuse) each archive, then time no-op runs on each in turn.

    The runs alternate between sizes (small, large, small, large …) so that a
    change of the machine's load during the benchmark weighs on both alike. With
    ``padded_rows``, a copy of the smallest archive whose index is padded to that
    many rows takes its turn too, against the same replica.
    """
    with ExitStack() as stack:
        replicas = {
            n: stack.enter_context(Replica(generated_site(n, seed=SEED))) for n in sizes
        }
        builds = {n: build(replicas[n], n, folder) for n in sizes}
        # (label, articles, archive folder): what the no-op runs take turns on.
        archives = [(f"{n:,}", n, folder / f"archive-{n}") for n in sizes]
        if padded_rows:
            small = sizes[0]
            padded = folder / f"archive-{small}-index-{padded_rows}"
            pad_index(folder / f"archive-{small}", padded, padded_rows)
            archives.append((f"{small:,} (index {padded_rows:,})", small, padded))
        runs: dict[str, list[Run]] = {label: [] for label, _, _ in archives}
        for number in range(1, repeat + 1):
            for label, n, archive in archives:
                log = folder / f"crawl-{archive.name}.log"
                run = crawl(replicas[n], archive, pages_for(n), log)
                runs[label].append(run)
                print(
                    f"  no-op run {number}/{repeat} on {label}: {run.wall_s:.3f} s"
                    f" wall, {run.cpu_s:.3f} s CPU, {run.article_requests} article"
                    f" and {run.feed_requests} feed request(s)"
                )
        return [
            Size(n, *builds[n], runs[label], rows=archived(archive))
            for label, n, archive in archives
        ]


def machine() -> dict[str, str]:
    """What the figures were measured on."""
    model = platform.processor() or platform.machine()
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        found = re.search(r"^model name\s*:\s*(.+)$", cpuinfo.read_text(), re.M)
        if found:
            model = found.group(1).strip()
    return {
        # What `nproc` prints: the CPUs this process may run on.
        "nproc": str(len(os.sched_getaffinity(0))),
        "cpu": model,
        "python": platform.python_version(),
        "system": f"{platform.system()} {platform.release()}",
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
    }


def report(sizes: list[Size], repeat: int, command: str) -> str:
    """The Markdown section for benchmarks/README.md."""
    host = machine()
    padded = [size for size in sizes if size.rows > size.articles]
    small, large = sizes[0], [s for s in sizes if s not in padded][-1]
    wall_ratio = large.wall_s / small.wall_s
    cpu_ratio = large.cpu_s / small.cpu_s
    met = all(padded_met(p, small) for p in padded) and (
        wall_ratio <= TARGET_RATIO
        and cpu_ratio <= TARGET_RATIO
        and all(s.article_requests == 0 for s in sizes)
    )
    lines = [
        HEADING,
        "",
        f"`{command}` — {host['date']}; {host['nproc']} CPU(s), {host['cpu']};"
        f" Python {host['python']}, {host['system']}.",
        "",
        "Each archive is built by one real full crawl of the replica; then the same"
        f" `scrapy crawl sina_finance -a pages=N/50` runs {repeat} times on each with"
        " nothing new, the sizes taking turns so that the machine's changing load"
        " weighs on both (medians; CPU = user + sys of the subprocess, from"
        " `os.wait4`; requests from the replica's log).",
        "",
        "| articles | index rows | full crawl (build) | no-op wall | no-op CPU"
        " | article requests | feed requests |",
        "|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for size in sizes:
        build = "unknown" if size.build_s is None else f"{size.build_s:.1f} s"
        build += " (earlier)" if size.reused else ""
        lines.append(
            f"| {size.articles:,} | {size.rows:,} | {build} | {size.wall_s:.3f} s"
            f" | {size.cpu_s:.3f} s"
            f" | {size.article_requests} | {size.feed_requests} |"
        )
    lines += [
        "",
        f"{large.articles:,} vs {small.articles:,}: wall ×{wall_ratio:.2f},"
        f" CPU ×{cpu_ratio:.2f} (target ≤ ×{TARGET_RATIO}, no article request):"
        f" **{'met' if met else 'NOT met'}**.",
        "",
        *(
            f"Index of {p.rows:,} rows (synthetic past the {p.articles:,} real ones)"
            f" vs {small.rows:,}: wall ×{p.wall_s / small.wall_s:.2f},"
            f" CPU ×{p.cpu_s / small.cpu_s:.2f} (issue 5's target ≤ ×"
            f"{PADDED_TARGET_RATIO}, no article request):"
            f" **{'met' if padded_met(p, small) else 'NOT met'}**.\n"
            for p in padded
        ),
        "A no-op run reads feed page 1, finds every item archived with the same"
        " mtime, and stops: its cost is the interpreter and Scrapy starting, one"
        " feed request and 50 index look-ups, whatever the archive's size.",
        "",
        "On a shared machine the wall time of a one-second run varies by a third"
        " from run to run, with other work; CPU time is the steadier figure.",
        "",
        "Rerun: `python -m benchmarks.incremental` rewrites this section"
        " (`--archives DIR` keeps the built archives and reuses them; `--no-readme`"
        " only prints; see the script's docstring).",
        "",
    ]
    return "\n".join(lines)


def padded_met(padded: Size, small: Size) -> bool:
    """Whether the padded index meets issue 5's target against the small one."""
    return (
        padded.wall_s / small.wall_s <= PADDED_TARGET_RATIO
        and padded.cpu_s / small.cpu_s <= PADDED_TARGET_RATIO
        and padded.article_requests == 0
    )


def write_section(section: str) -> None:
    """Put ``section`` into benchmarks/README.md, replacing an older one; other
    sections stay as they are."""
    text = (
        README.read_text(encoding="utf-8")
        if README.exists()
        else "# Benchmarks\n\nRun by hand; each section says how and what it found.\n\n"
    )
    start = text.find(HEADING + "\n")
    if start < 0:
        text = text.rstrip("\n") + "\n\n" + section
    else:
        following = text.find("\n## ", start + len(HEADING))
        end = len(text) if following < 0 else following + 1
        text = text[:start] + section + ("\n" + text[end:] if following >= 0 else "")
    README.write_text(text.rstrip("\n") + "\n", encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    """Measure, print, and write the README section; exit 1 if the target is missed."""
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.incremental", description=__doc__.split("\n")[0]
    )
    parser.add_argument(
        "--sizes", default="100,10000", help="archive sizes, small first"
    )
    parser.add_argument("--repeat", type=int, default=7, help="no-op runs per size")
    parser.add_argument("--archives", type=Path, help="keep and reuse archives here")
    parser.add_argument("--no-readme", action="store_true", help="print only")
    parser.add_argument(
        "--index-rows",
        type=int,
        default=0,
        help="also run on the smallest archive with its index padded to this many"
        " rows (synthetic), e.g. 1000000",
    )
    args = parser.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",")]
    command = shlex.join(
        ["python", "-m", "benchmarks.incremental", *(argv or sys.argv[1:])]
    )
    with tempfile.TemporaryDirectory(prefix="newscrawl-incremental-") as scratch:
        folder = args.archives or Path(scratch)
        folder.mkdir(parents=True, exist_ok=True)
        results = measure(sizes, args.repeat, folder, args.index_rows)
    section = report(results, args.repeat, command)
    print()
    print(section)
    if not args.no_readme:
        write_section(section)
        print(f"written to {README.relative_to(PROJECT_ROOT)}")
    return 0 if "**met**" in section else 1


if __name__ == "__main__":
    sys.exit(main())
