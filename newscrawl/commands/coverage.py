"""``scrapy coverage``: per channel and day, what the feed listed, what is archived."""

from __future__ import annotations

import json
import sqlite3
import sys
from dataclasses import asdict
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

from scrapy.exceptions import UsageError

from newscrawl.archive.index import DayCoverage
from newscrawl.archive_command import ArchiveCommand
from newscrawl.extensions import ExitStatus

if TYPE_CHECKING:
    import argparse

#: How to get the optional extra that ``--plot`` needs.
PLOT_EXTRA = "pip install -r requirements-plot.txt"


class Command(ArchiveCommand):
    """The days backfill read: the feed's total, archived, failed, dropped, gaps."""

    def syntax(self) -> str:
        return "[--channel NAME] [--since DAY] [--until DAY] [--json | --plot FILE.png]"

    def short_desc(self) -> str:
        return (
            "Per channel and day read by backfill: the feed's total, archived,"
            " failed, dropped and the gaps"
        )

    def add_options(self, parser: argparse.ArgumentParser) -> None:
        super().add_options(parser)
        parser.add_argument("--channel", help="one channel (by name) only")
        parser.add_argument("--since", type=_day, help="first day, YYYY-MM-DD")
        parser.add_argument("--until", type=_day, help="last day, YYYY-MM-DD")
        parser.add_argument(
            "--json", action="store_true", help="one JSON line per channel and day"
        )
        parser.add_argument(
            "--plot",
            type=Path,
            metavar="FILE.png",
            help=f"draw coverage over time (needs matplotlib: {PLOT_EXTRA})",
        )

    def run(self, args: list[str], opts: argparse.Namespace) -> None:
        if opts.json and opts.plot:
            raise UsageError("choose --json or --plot, not both")
        index = self.open_index()
        if index is None:
            return
        try:
            days = index.coverage(
                channel=opts.channel,
                since=opts.since or "",
                until=opts.until or "9999",
            )
        except sqlite3.DatabaseError as exc:
            self.say(f"newscrawl: cannot read the index {index.path}: {exc}")
            self.exitcode = int(ExitStatus.ARCHIVE_FAILED)
            return
        finally:
            index.close()
        if opts.plot:
            self.exitcode = plot(days, opts.plot)
        elif opts.json:
            for day in days:
                print(json.dumps(as_json(day), ensure_ascii=False))
        else:
            print_text(days)
            if not days:
                self.say(
                    "newscrawl: no day read by backfill yet"
                    " (scrapy crawl sina_finance -a backfill=FROM[:TO])"
                )


def as_json(day: DayCoverage) -> dict[str, object]:
    """One day as ``--json`` prints it."""
    return {**asdict(day), "missing": day.missing}


def print_text(days: list[DayCoverage]) -> None:
    """The plain-text report: a line per day, the gaps after it, a sum per channel."""
    channel = None
    sums = [0, 0, 0, 0]
    for day in days:
        if day.channel != channel:
            if channel is not None:
                _print_sum(sums)
            channel, sums = day.channel, [0, 0, 0, 0]
            print(f"{channel}:")
            print("  day           total  archived  failed  dropped  missing  complete")
        total = "?" if day.total is None else str(day.total)
        print(
            f"  {day.day}  {total:>6}  {day.archived:>8}  {day.failed:>6}"
            f"  {day.dropped:>7}  {day.missing:>7}  {'yes' if day.complete else 'no'}"
        )
        if day.gaps:
            print(f"      gaps: {', '.join(day.gaps)}")
        for i, value in enumerate(
            (day.total or 0, day.archived, day.failed + day.dropped, day.missing)
        ):
            sums[i] += value
    if channel is not None:
        _print_sum(sums)


def _print_sum(sums: list[int]) -> None:
    total, archived, failed, missing = sums
    share = f"{archived / total:.1%}" if total else "-"
    print(
        f"  sum: {archived} of {total} archived ({share}), {failed} failed or"
        f" dropped, {missing} missing"
    )


def plot(days: list[DayCoverage], path: Path) -> int:
    """Draw total and archived per day for each channel into ``path``; exit status."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print(
            f"newscrawl: --plot needs matplotlib, an optional extra: {PLOT_EXTRA}",
            file=sys.stderr,
        )
        return int(ExitStatus.FAILED)
    figure, axes = plt.subplots(figsize=(10, 4))
    for channel in sorted({d.channel for d in days}):
        mine = [d for d in days if d.channel == channel]
        # matplotlib plots dates, whatever its stubs say.
        when: Any = [date.fromisoformat(d.day) for d in mine]
        axes.plot(when, [d.total or 0 for d in mine], label=f"{channel}: feed total")
        axes.plot(when, [d.archived for d in mine], label=f"{channel}: archived")
    axes.set_ylabel("articles per day")
    axes.set_title("newscrawl coverage")
    axes.legend()
    figure.autofmt_xdate()
    figure.savefig(path)
    plt.close(figure)
    return 0


def _day(value: str) -> str:
    try:
        return date.fromisoformat(value).isoformat()
    except ValueError:
        raise UsageError(f"not a day (YYYY-MM-DD): {value!r}") from None
