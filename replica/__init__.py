"""A local replica of Sina Finance (roll feed and article pages) for tests and demos."""

from __future__ import annotations

from replica.server import Replica
from replica.site import (
    OLD_PAGE_PATH,
    SEED_PATH,
    Site,
    SiteArticle,
    add_generated,
    fixture_site,
    generated_articles,
    generated_site,
    render_page,
)

__all__ = [
    "OLD_PAGE_PATH",
    "SEED_PATH",
    "Replica",
    "Site",
    "SiteArticle",
    "add_generated",
    "fixture_site",
    "generated_articles",
    "generated_site",
    "render_page",
]
