"""newscrawl: a faithful, clean archive of Sina Finance news, built on Scrapy."""
