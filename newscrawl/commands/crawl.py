"""``scrapy crawl`` with the run's exit status, so cron and scripts can act on it."""

from __future__ import annotations

from typing import TYPE_CHECKING

from scrapy.commands.crawl import Command as ScrapyCrawlCommand
from scrapy.exceptions import UsageError

from newscrawl.extensions import RunOutcome

if TYPE_CHECKING:
    import argparse


class Command(ScrapyCrawlCommand):
    """Scrapy's crawl command; exits with RunOutcome's status (0 = did its job)."""

    def run(self, args: list[str], opts: argparse.Namespace) -> None:
        if len(args) != 1:
            raise UsageError(
                "give exactly one spider name, e.g. scrapy crawl sina_finance"
            )
        assert self.crawler_process is not None and self.settings is not None
        spidercls = self.crawler_process.spider_loader.load(args[0])
        check_arguments = getattr(spidercls, "check_arguments", None)
        if check_arguments is not None:
            check_arguments(self.settings, opts.spargs)
        crawler = self._create_crawler(spidercls)
        self.crawler_process.crawl(crawler, **opts.spargs)
        self.crawler_process.start()
        if self.crawler_process.bootstrap_failed:
            self.exitcode = 1
            return
        outcome = crawler.get_extension(RunOutcome)
        if outcome is not None:
            self.exitcode = int(outcome.exit_status)
