"""``scrapy`` under cProfile, timed by the CPU of the thread that runs the crawl.

    python -m benchmarks.profiled OUT.prof crawl sina_finance -s … -a …

Run by ``benchmarks/crawl.py --profile``. A per-thread clock, not the process's:
the process clock would charge whatever runs on the thread pool (DNS, the
archive's helpers) to the function that happens to be on the main thread.
"""

from __future__ import annotations

import cProfile
import runpy
import sys
import time


def main() -> None:
    """Run ``scrapy`` with the arguments after OUT; write the profile to OUT."""
    out = sys.argv[1]
    sys.argv = ["scrapy", *sys.argv[2:]]
    profiler = cProfile.Profile(time.thread_time)
    try:
        profiler.runcall(runpy.run_module, "scrapy", run_name="__main__")
    except SystemExit:
        pass  # scrapy's exit status: the profile is what is wanted
    finally:
        profiler.dump_stats(out)


if __name__ == "__main__":
    main()
