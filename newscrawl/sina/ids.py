"""Article ids and URLs: which URLs are Sina articles, and their doc ids."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

# 2016+ pages: https://finance.sina.com.cn/roll/2018-12-28/doc-ihqfskcn2160999.shtml
# columns:     https://finance.sina.com.cn/zl/china/2021-04-20/zl-ikmvwzxq0000001.shtml
# mobile:      https://finance.sina.cn/2018-12-28/detail-ihqfskcn2160999.d.html (the
#              same article and doc id as the desktop page)
_MODERN_ID = re.compile(
    r"/(?:(?:doc|zl)-(i[0-9a-z]+)\.shtml|detail-(i[0-9a-z]+)\.d\.html)$"
)
# 2009-2012 pages: http://ent.sina.com.cn/y/2009-11-09/13482762951.shtml (digits),
# 2010-2012 finance pages without dashes in the date:
# http://finance.sina.com.cn/stock/s/20110822/145810356592.shtml
# and 2005 house pages end in .html:
# http://bj.house.sina.com.cn/p/2005-03-31/031868306.html
_OLD_ID = re.compile(r"/\d{4}-?\d{2}-?\d{2}/(\d{6,20})\.s?html$")
# The feed's docid is the URL id without its leading "i": "comos:hqfskcn2160999".
_FEED_DOCID = re.compile(r"^comos:([0-9a-z]+)$")

#: A doc id is used as a file name component: keep it to this safe alphabet.
_SAFE_ID = re.compile(r"^[0-9a-z]{6,64}$")


def doc_id_from_url(url: str) -> str | None:
    """The doc id of an article URL (``doc-ihqfskcn2160999.shtml`` → ``ihqf…``)."""
    try:
        path = urlsplit(url).path
    except ValueError:  # "http://[x/…": an unbalanced bracket in the host
        return None
    match = _MODERN_ID.search(path) or _OLD_ID.search(path)
    if match is None:
        return None
    doc_id = match.group(match.lastindex or 1)
    return doc_id if _SAFE_ID.match(doc_id) else None


def doc_id_from_feed(docid: str) -> str | None:
    """The doc id of a feed item's ``docid`` (``comos:hqfskcn2160999`` → ``ihqf…``)."""
    match = _FEED_DOCID.match(docid.strip())
    if match is None:
        return None
    doc_id = "i" + match.group(1)
    return doc_id if _SAFE_ID.match(doc_id) else None


def is_article_url(url: str, hosts: frozenset[str]) -> bool:
    """Whether ``url`` is an http(s) article page on one of ``hosts``."""
    try:
        parts = urlsplit(url)
        hostname = parts.hostname
    except ValueError:  # "http://[x/…": an unbalanced bracket in the host
        return False
    if parts.scheme not in ("http", "https") or hostname is None:
        return False
    return host_allowed(hostname, hosts) and doc_id_from_url(url) is not None


def host_allowed(hostname: str, hosts: frozenset[str]) -> bool:
    """Whether ``hostname`` is one of ``hosts`` or a subdomain of a ``.suffix`` entry.

    An entry ``.sina.com.cn`` admits every host under sina.com.cn; an entry without
    the leading dot admits that host only.
    """
    hostname = hostname.lower().rstrip(".")
    if hostname in hosts:
        return True
    return any(h.startswith(".") and hostname.endswith(h) for h in hosts)
