"""Site knowledge of Sina Finance as pure functions: feed, ids, dates, page fields.

Nothing here imports Scrapy's engine or touches the disk, so every function can be
tested, benchmarked and reused alone.
"""
