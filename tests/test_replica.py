"""The local replica of Sina Finance: its feed, its pages, its generated articles."""

from __future__ import annotations

import dataclasses
import http.client
import itertools
import json
import re
import signal
import socket
import struct
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from replica import (
    OLD_PAGE_PATH,
    SEED_PATH,
    Replica,
    Site,
    SiteArticle,
    add_generated,
    fixture_site,
    generated_articles,
    generated_site,
    render_page,
)
from replica.server import FEED_PATH, Fault

if TYPE_CHECKING:
    from collections.abc import Iterator

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "tests" / "fixtures"
PAGES = FIXTURES / "pages"
BEIJING = timezone(timedelta(hours=8))
SEED_ID = "ikmvwzxq0000001"
SEED_TITLE = "工信部：将开展互联网行业不正当竞争专项整治行动"

# Never through a proxy from the environment: the replica is on 127.0.0.1.
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def fetch(url: str) -> tuple[int, dict[str, str], bytes]:
    """Status, headers and body of a GET; HTTP errors are answers too."""
    try:
        with _OPENER.open(url, timeout=10) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as exc:
        with exc:
            return exc.code, dict(exc.headers), exc.read()


def feed(replica: Replica, **params: Any) -> dict[str, Any]:
    query = {"pageid": 155, "lid": 1686, "k": "", "num": 50, "page": 1} | params
    url = replica.feed_url + "?" + "&".join(f"{k}={v}" for k, v in query.items())
    status, _, body = fetch(url)
    assert status == 200
    result: dict[str, Any] = json.loads(body)["result"]
    return result


@pytest.fixture
def replica() -> Iterator[Replica]:
    with Replica(fixture_site()) as running:
        yield running


@pytest.fixture(scope="module")
def big() -> Iterator[Replica]:
    with Replica(generated_site(120, seed=7)) as running:
        yield running


# --- The feed ---------------------------------------------------------------------


def test_feed_envelope_matches_the_fixture(replica: Replica) -> None:
    expected = json.loads((FIXTURES / "api" / "roll_page1.json").read_text("utf-8"))
    result = feed(replica)
    assert result["status"] == {"code": 0, "msg": "succ"}
    assert (result["total"], result["start"], result["end"]) == (3, 0, 3)
    assert result["lid"] == 1686
    assert re.fullmatch(
        r"\w{3} \w{3} \d\d \d\d:\d\d:\d\d \+0800 \d{4}", result["timestamp"]
    )
    # Same items as the fixture, pointing at the replica instead of Sina's hosts,
    # newest first (the fixture lists its 2018 item before its 2019 one).
    items = expected["result"]["data"]
    for item in items:
        item["url"] = re.sub(r"^https://[^/]+", replica.base_url, item["url"])
    items.sort(key=lambda item: int(item["intime"]), reverse=True)
    assert result["data"] == items


def test_feed_times_are_strings(big: Replica) -> None:
    for item in feed(big)["data"]:
        for key in ("ctime", "intime", "mtime"):
            assert isinstance(item[key], str)
            assert item[key].isdigit()
        assert int(item["ctime"]) <= int(item["intime"]) <= int(item["mtime"])


def test_feed_pages_newest_first(big: Replica) -> None:
    pages = [feed(big, num=50, page=page) for page in (1, 2, 3, 4)]
    assert [p["total"] for p in pages] == [120] * 4
    assert [len(p["data"]) for p in pages] == [50, 50, 20, 0]
    assert [(p["start"], p["end"]) for p in pages] == [
        (0, 50),
        (50, 100),
        (100, 120),
        (150, 150),
    ]
    items = [item for p in pages for item in p["data"]]
    intimes = [int(item["intime"]) for item in items]
    assert intimes == sorted(intimes, reverse=True)
    assert len({item["docid"] for item in items}) == 120
    expected = [a.doc_id for a in big.site.articles()]
    assert ["i" + item["docid"].removeprefix("comos:") for item in items] == expected


def test_feed_num_and_page_are_clamped(big: Replica) -> None:
    assert len(feed(big, num=100)["data"]) == 50
    assert len(feed(big, num=0)["data"]) == 1
    assert feed(big, num=7, page=0)["data"] == feed(big, num=7, page=1)["data"]
    assert [i["docid"] for i in feed(big, num=7, page=2)["data"]] == [
        i["docid"] for i in feed(big, num=14)["data"][7:]
    ]


def test_feed_item_fields(replica: Replica) -> None:
    item = feed(replica)["data"][0]
    assert item == {
        "docid": "comos:kmvwzxq0000001",
        "url": replica.base_url + SEED_PATH,
        "wapurl": "https://finance.sina.cn/2021-04-20/detail-ikmvwzxq0000001.d.html",
        "title": SEED_TITLE,
        "stitle": "工信部将开展互联网行业不正当竞争专项整治",
        "intro": SEED_TITLE,
        "media_name": "澎湃新闻",
        "author": "周頔",
        "keywords": "工信部,互联网,不正当竞争",
        "ctime": "1618919498",
        "intime": "1618919498",
        "mtime": "1618919498",
        "lids": "1686",
    }


def test_feed_filters_by_channel(replica: Replica) -> None:
    assert feed(replica, lid=1687)["total"] == 0
    assert feed(replica, pageid=384)["data"] == []


def test_feed_rejects_bad_parameters(replica: Replica) -> None:
    result = feed(replica, num="abc")
    assert result["status"]["code"] != 0
    assert result["data"] == []


def test_jsonp(replica: Replica) -> None:
    status, headers, body = fetch(
        replica.feed_url + "?pageid=155&lid=1686&callback=cb_1"
    )
    assert status == 200
    assert headers["Content-Type"].startswith("application/javascript")
    text = body.decode("utf-8")
    assert text.startswith("cb_1(") and text.endswith(");")
    assert json.loads(text[len("cb_1(") : -2])["result"]["total"] == 3


def test_jsonp_callback_must_be_a_name(replica: Replica) -> None:
    _, headers, body = fetch(replica.feed_url + "?callback=alert(1)//")
    assert headers["Content-Type"] == "application/json; charset=utf-8"
    assert json.loads(body)["result"]["status"]["code"] == 0


# --- Pages ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "name"),
    [
        (SEED_PATH, "replica_seed_article.html"),
        (
            "/roll/2018-12-28/doc-ihqfskcn2160999.shtml",
            "gne_finance_roll_2018-12-28_doc-ihqfskcn2160999.html",
        ),
        (
            "/c/2019-09-07/doc-iicezzrq4076655.shtml",
            "gne_news_c_2019-09-07_doc-iicezzrq4076655.html",
        ),
    ],
)
def test_fixture_pages_served_as_is(replica: Replica, path: str, name: str) -> None:
    status, headers, body = fetch(replica.base_url + path)
    assert status == 200
    assert headers["Content-Type"] == "text/html; charset=utf-8"
    assert body == (PAGES / name).read_bytes()
    assert int(headers["Content-Length"]) == len(body)


def test_old_page_is_gb2312_and_in_no_feed(replica: Replica) -> None:
    status, headers, body = fetch(replica.base_url + OLD_PAGE_PATH)
    assert status == 200
    assert headers["Content-Type"] == "text/html; charset=gb2312"
    assert body == (PAGES / "cxextractor_old_gb2312_ent_aidai.html").read_bytes()
    assert "13482762951" not in json.dumps(feed(replica))


def test_robots_txt(replica: Replica) -> None:
    status, headers, body = fetch(replica.base_url + "/robots.txt")
    assert status == 200
    assert headers["Content-Type"].startswith("text/plain")
    assert body == b"User-agent: *\nDisallow: /private/\n"


@pytest.mark.parametrize(
    "path",
    ["/", "/private/x.shtml", "/china/gncj/2021-04-20/doc-inothere0000000.shtml"],
)
def test_unknown_paths_are_404(replica: Replica, path: str) -> None:
    assert fetch(replica.base_url + path)[0] == 404


def test_removed_article_is_404_and_leaves_the_feed(replica: Replica) -> None:
    replica.site.remove(SEED_ID)
    assert fetch(replica.base_url + SEED_PATH)[0] == 404
    assert feed(replica)["total"] == 2


def test_keep_alive_serves_several_requests_on_one_connection(replica: Replica) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", replica.port, timeout=10)
    try:
        for path in (SEED_PATH, "/robots.txt", "/nothing"):
            conn.request("GET", path)
            response = conn.getresponse()
            body = response.read()
            assert len(body) == int(response.headers["Content-Length"])
    finally:
        conn.close()
    assert replica.requests == [SEED_PATH, "/robots.txt", "/nothing"]


def test_concurrent_requests(big: Replica) -> None:
    big.clear_log()
    paths = [a.path for a in big.site.articles()[:40]]
    statuses: list[int] = []

    def worker(chunk: list[str]) -> None:
        statuses.extend(fetch(big.base_url + p)[0] for p in chunk)

    threads = [threading.Thread(target=worker, args=(paths[i::8],)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert statuses == [200] * 40
    assert sorted(big.article_requests()) == sorted(paths)


# --- Request log and fault hooks --------------------------------------------------


def test_request_log(replica: Replica) -> None:
    fetch(replica.base_url + "/robots.txt")
    fetch(replica.feed_url + "?pageid=155&lid=1686&num=2&page=1")
    fetch(replica.base_url + SEED_PATH)
    fetch(replica.base_url + OLD_PAGE_PATH + "?x=1")
    fetch(replica.base_url + "/missing.html")
    assert replica.requests == [
        "/robots.txt",
        "/api/roll/get?pageid=155&lid=1686&num=2&page=1",
        SEED_PATH,
        OLD_PAGE_PATH + "?x=1",
        "/missing.html",
    ]
    assert replica.article_requests() == [SEED_PATH, OLD_PAGE_PATH + "?x=1"]
    assert replica.feed_requests() == ["/api/roll/get?pageid=155&lid=1686&num=2&page=1"]
    replica.clear_log()
    assert replica.requests == []


@pytest.mark.parametrize("status", [429, 500, 503])
def test_fail_feed(replica: Replica, status: int) -> None:
    replica.fail_feed = status
    assert fetch(replica.feed_url)[0] == status
    assert fetch(replica.feed_url)[0] == status
    # Pages are not affected.
    assert fetch(replica.base_url + SEED_PATH)[0] == 200
    replica.fail_feed = None
    assert fetch(replica.feed_url)[0] == 200


def test_fail_feed_a_few_times(replica: Replica) -> None:
    replica.fail_feed, replica.fail_feed_times = 503, 2
    assert [fetch(replica.feed_url)[0] for _ in range(4)] == [503, 503, 200, 200]
    assert replica.fail_feed is None


def test_feed_body(replica: Replica) -> None:
    replica.feed_body = b"{not json"
    status, headers, body = fetch(replica.feed_url + "?pageid=155&lid=1686")
    assert (status, body) == (200, b"{not json")
    assert headers["Content-Type"] == "application/json; charset=utf-8"


def test_touch_changes_mtime_and_page(replica: Replica) -> None:
    replica.site.touch(SEED_ID, 1618920000, page=b"<html>edited</html>")
    assert feed(replica)["data"][0]["mtime"] == "1618920000"
    assert fetch(replica.base_url + SEED_PATH)[2] == b"<html>edited</html>"
    replica.site.touch(SEED_ID, 1618920001)
    assert fetch(replica.base_url + SEED_PATH)[2] == b"<html>edited</html>"


def test_revise_rerenders_a_generated_article() -> None:
    site = generated_site(3)
    article = site.articles()[1]
    revised = site.revise(
        article.doc_id, article.mtime + 600, paragraphs=["改过的正文。"]
    )
    page = revised.page.decode("utf-8")
    assert '<p cms-style="font-L">　　改过的正文。</p>' in page
    updated = datetime.fromtimestamp(article.mtime + 600, BEIJING)
    assert f'article:update_at" content="{updated:%Y-%m-%d %H:%M:%S}"' in page
    assert article.paragraphs[1] not in page
    assert site.get(article.doc_id).paragraphs == ["改过的正文。"]


# --- Generated articles -----------------------------------------------------------


def test_seed_template_renders_the_seed_page_back() -> None:
    # With the seed's own values, the template gives the seed page byte for byte.
    seed = fixture_site().get(SEED_ID)
    raw = seed.page.decode("utf-8")
    body = raw.split('id="artibody">\n', 1)[1].split("<!--article_adlist[", 1)[0]
    paragraphs = re.findall(r'<p cms-style="font-L">　　(.*?)</p>\n', body)
    match = re.search(r'<meta name="description" content="([^"]*)">', raw)
    assert match is not None
    same = dataclasses.replace(
        seed, raw=None, intro=match.group(1), paragraphs=paragraphs
    )
    assert render_page(same) == (PAGES / "replica_seed_article.html").read_bytes()


def test_generated_articles_are_distinct() -> None:
    articles = generated_articles(500, seed=3)
    assert len({a.doc_id for a in articles}) == 500
    assert len({a.title for a in articles}) == 500
    assert len({a.path for a in articles}) == 500
    for article in articles:
        assert re.fullmatch(r"i[a-z]{7}\d{7}", article.doc_id)
        assert article.path.endswith(f"/doc-{article.doc_id}.shtml")
        assert 3 <= len(article.paragraphs) <= 12


def test_generated_times_go_back_and_dates_match_the_path() -> None:
    articles = generated_articles(300, start=1618919498)
    assert articles[0].intime == 1618919498
    for newer, older in itertools.pairwise(articles):
        assert 0 < newer.intime - older.intime <= 420 + 59
    for article in articles:
        day = datetime.fromtimestamp(article.intime, BEIJING).strftime("%Y-%m-%d")
        assert f"/{day}/" in article.path
        assert article.ctime <= article.intime <= article.mtime


def test_generated_titles_exercise_quoting() -> None:
    titles = [a.title for a in generated_articles(200)]
    for char in ('"', "'", ":", "：", "#", "{", "}", "“"):
        assert any(char in title for title in titles), char


def test_generated_page_carries_the_article() -> None:
    articles = generated_articles(10, seed=5)
    template_size = (PAGES / "replica_seed_article.html").stat().st_size
    for article in articles:
        page = article.page.decode("utf-8")
        assert abs(len(article.page) - template_size) < 20_000
        assert "kmvwzxq0000001" not in page
        assert SEED_TITLE not in page
        assert "澎湃新闻记者 周頔" not in page
        bare = article.doc_id[1:]
        published = datetime.fromtimestamp(article.intime, BEIJING)
        created = datetime.fromtimestamp(article.ctime, BEIJING)
        updated = datetime.fromtimestamp(article.mtime, BEIJING)
        title_text = article.title.replace("&", "&amp;")
        title_attr = title_text.replace('"', "&quot;").replace("'", "&#x27;")
        for expected in (
            f'<h1 class="main-title">{title_text}</h1>',
            f'<div class="second-title">{title_text}</div>',
            f"<title>{title_text}|",
            f'<meta property="og:title" content="{title_attr}">',
            f'<meta property="og:url" content="https://finance.sina.com.cn{article.path}">',
            f'<meta name="publishid" content="{bare}">',
            f'<meta name="comment" content="cj:comos-{bare}">',
            f"newsid: 'comos-{bare}'",
            f'"article:published_time" content="{published.isoformat()}"',
            f'article:create_at" content="{created:%Y-%m-%d %H:%M:%S}"',
            f'article:update_at" content="{updated:%Y-%m-%d %H:%M:%S}"',
            f'<span class="date">{created:%Y年%m月%d日 %H:%M}</span>',
            f'<meta name="mediaid" content="{article.media_name}">',
            f'<meta name="keywords" content="{article.keywords}">',
            "海量资讯、精准解读，尽在新浪财经APP",
            '<p class="article-editor">责任编辑：薛永玮 </p>',
            "<!--article_adlist[",
        ):
            assert expected in page, expected
        assert published.isoformat().endswith("+08:00")
        for text in article.paragraphs:
            assert f'<p cms-style="font-L">　　{text}</p>' in page


def test_every_fifth_generated_article_has_an_image() -> None:
    articles = generated_articles(20)
    with_image = [i for i, a in enumerate(articles) if a.images]
    assert with_image == [2, 7, 12, 17]
    src, caption = articles[2].images[0]
    assert src.startswith("//n.sinaimg.cn/finance/") and src.endswith(".jpg")
    assert (
        f'<div class="img_wrapper"><img src="{src}" alt="{caption}">'
        f'<span class="img_descr">{caption}</span></div>'
    ) in articles[2].page.decode("utf-8")


def test_generation_is_deterministic() -> None:
    first = generated_articles(30, seed=11)
    again = generated_articles(30, seed=11)
    assert first == again
    assert [a.page for a in first] == [a.page for a in again]
    # A longer run starts with the same articles.
    assert generated_articles(40, seed=11)[:30] == first
    other = generated_articles(30, seed=12)
    assert not {a.doc_id for a in first} & {a.doc_id for a in other}


def test_add_generated_to_the_fixture_site() -> None:
    site = fixture_site()
    added = add_generated(site, 25, start=1618919498 - 420)
    assert len(site) == 4 + 25
    assert len({a.title for a in site}) == 29
    assert site.find(SEED_PATH) is not None
    assert all(site.find(a.path) == a for a in added)
    # Another batch from the same seed and start does not overwrite the first.
    add_generated(site, 25, start=1618919498 - 420)
    assert len(site) == 4 + 50


def test_site_add_replaces_same_doc_id() -> None:
    article = generated_articles(1)[0]
    site = Site([article])
    moved = dataclasses.replace(article, path="/roll/2021-04-20/doc-x.shtml")
    site.add(moved)
    assert len(site) == 1
    assert site.find(article.path) is None
    assert site.find(moved.path) == moved


def test_site_article_defaults() -> None:
    article = SiteArticle(
        doc_id="iabcdefg1234567",
        path="/roll/2021-04-20/doc-iabcdefg1234567.shtml",
        title="t",
        intime=1,
        ctime=1,
        mtime=1,
        media_name="",
        keywords="",
        raw=b"<html></html>",
    )
    assert (article.lid, article.pageid, article.content_type) == (
        1686,
        155,
        "text/html; charset=utf-8",
    )
    item = article.feed_item("http://h")
    assert item["docid"] == "comos:abcdefg1234567"
    assert (
        item["wapurl"]
        == "https://finance.sina.cn/2021-04-20/detail-iabcdefg1234567.d.html"
    )


# --- python -m replica ------------------------------------------------------------


@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGINT])
def test_main_serves_until_signalled(stop: signal.Signals) -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "replica", "--articles", "60", "--seed", "2"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        match = re.fullmatch(
            r"replica serving (http://127\.0\.0\.1:\d+\S*) \((\d+) articles\)\n", line
        )
        assert match is not None, line
        assert match.group(1).endswith("/api/roll/get")
        assert match.group(2) == "64"
        status, _, body = fetch(match.group(1) + "?pageid=155&lid=1686&num=50&page=1")
        assert status == 200
        result = json.loads(body)["result"]
        assert result["total"] == 63
        # The seed's article stays the newest.
        assert result["data"][0]["docid"] == "comos:kmvwzxq0000001"
        page_url = result["data"][1]["url"]
        assert fetch(page_url)[0] == 200
    finally:
        process.send_signal(stop)
        _, stderr = process.communicate(timeout=10)
    assert process.returncode == 0, stderr


# --- Fault injection --------------------------------------------------------------


def raw_get(replica: Replica, path: str) -> tuple[bytes, bytes]:
    """Headers and body of a GET as the bytes on the wire, up to the server's
    close, or (b"reset", what came before) if the server resets the connection."""
    with socket.create_connection(("127.0.0.1", replica.port), timeout=10) as conn:
        conn.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
        chunks: list[bytes] = []
        try:
            while chunk := conn.recv(65536):
                chunks.append(chunk)
                head = b"".join(chunks)
                if b"Connection: close" not in head and b"\r\n\r\n" in head:
                    # Keep-alive: stop at the end of the announced body.
                    headers, _, body = head.partition(b"\r\n\r\n")
                    length = re.search(rb"Content-Length: (\d+)", headers)
                    if length and len(body) >= int(length.group(1)):
                        break
        except ConnectionResetError:
            return b"reset", b"".join(chunks)
    headers, _, body = b"".join(chunks).partition(b"\r\n\r\n")
    return headers, body


def test_fault_status_headers_and_body(replica: Replica) -> None:
    replica.faults[SEED_PATH] = Fault(
        status=429, headers={"Retry-After": "7"}, body=b"slow down"
    )
    status, headers, body = fetch(replica.base_url + SEED_PATH)
    assert (status, headers["Retry-After"], body) == (429, "7", b"slow down")
    assert headers["Content-Length"] == "9"
    # Still faulty: a fault without times applies every time.
    assert fetch(replica.base_url + SEED_PATH)[0] == 429
    # Other paths are not affected; the request is logged like any other.
    assert fetch(replica.base_url + "/robots.txt")[0] == 200
    assert replica.requests.count(SEED_PATH) == 2


def test_fault_times_then_normal(replica: Replica) -> None:
    replica.faults[SEED_PATH] = Fault(status=503, times=2)
    assert [fetch(replica.base_url + SEED_PATH)[0] for _ in range(3)] == [503, 503, 200]
    assert SEED_PATH not in replica.faults
    # Without a body of its own, the fault keeps the page's.
    assert (
        fetch(replica.base_url + SEED_PATH)[2]
        == (PAGES / "replica_seed_article.html").read_bytes()
    )


def test_fault_redirect_on_a_path_without_a_page(replica: Replica) -> None:
    replica.faults["/moved.shtml"] = Fault(status=301, headers={"Location": SEED_PATH})
    status, _, body = fetch(replica.base_url + "/moved.shtml")
    # urllib follows it: the page at the new place.
    assert status == 200
    assert body == (PAGES / "replica_seed_article.html").read_bytes()
    assert replica.requests == ["/moved.shtml", SEED_PATH]


def test_fault_by_exact_target_wins_over_its_path(replica: Replica) -> None:
    target = "/api/roll/get?pageid=155&lid=9001"
    replica.faults[target] = Fault(body=b"{broken")
    replica.faults[FEED_PATH] = Fault(status=500)
    status, _, body = fetch(replica.base_url + target)
    assert (status, body) == (200, b"{broken")
    assert fetch(replica.feed_url + "?pageid=155&lid=1686")[0] == 500


def test_fault_truncated_body(replica: Replica) -> None:
    replica.faults[SEED_PATH] = Fault(content_length=10**6)
    headers, body = raw_get(replica, SEED_PATH)
    assert b"Content-Length: 1000000" in headers
    assert b"Connection: close" in headers
    # The whole page, then the server closes: 10**6 bytes were promised.
    assert body == (PAGES / "replica_seed_article.html").read_bytes()
    with pytest.raises(http.client.IncompleteRead):
        conn = http.client.HTTPConnection("127.0.0.1", replica.port, timeout=10)
        conn.request("GET", SEED_PATH)
        conn.getresponse().read()


def test_fault_without_content_length(replica: Replica) -> None:
    replica.faults[SEED_PATH] = Fault(omit_length=True)
    headers, body = raw_get(replica, SEED_PATH)
    assert b"Content-Length" not in headers
    assert b"Connection: close" in headers
    assert body == (PAGES / "replica_seed_article.html").read_bytes()


def test_fault_reset_mid_body(replica: Replica) -> None:
    replica.faults[SEED_PATH] = Fault(reset_after=100)
    headers, received = raw_get(replica, SEED_PATH)
    assert headers == b"reset"
    page = (PAGES / "replica_seed_article.html").read_bytes()
    # What arrived before the reset is at most the headers and 100 bytes.
    assert len(received.partition(b"\r\n\r\n")[2]) <= 100
    assert page[:100].startswith(received.partition(b"\r\n\r\n")[2])


def test_fault_delay_is_cut_short_by_stop() -> None:
    replica = Replica(fixture_site()).start()
    replica.faults[SEED_PATH] = Fault(delay=3600)
    conn = http.client.HTTPConnection("127.0.0.1", replica.port, timeout=0.2)
    conn.request("GET", SEED_PATH)
    with pytest.raises(TimeoutError):
        conn.getresponse()
    conn.close()
    stopping = threading.Thread(target=replica.stop)
    stopping.start()
    stopping.join(timeout=30)
    # stop() does not wait out the hour: the delayed answer gives up.
    assert not stopping.is_alive()


def test_client_hanging_up_is_not_an_error(
    replica: Replica, capfd: pytest.CaptureFixture[str]
) -> None:
    replica.faults[SEED_PATH] = Fault(body=b"x" * (8 * 1024 * 1024))
    with socket.create_connection(("127.0.0.1", replica.port), timeout=10) as conn:
        conn.sendall(f"GET {SEED_PATH} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
        conn.recv(1024)
        conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    assert fetch(replica.base_url + "/robots.txt")[0] == 200
    replica.stop()
    assert "Traceback" not in capfd.readouterr().err


# --- The feed's date window (backfill) ------------------------------------------


def test_the_date_window_lists_one_day_with_its_total() -> None:
    from replica.site import BEIJING as CHINA
    from replica.site import beijing_midnight, dated_site

    site = dated_site(10, (10, 20), seed=1)
    today = datetime.now(CHINA).date()
    day = today - timedelta(days=3)
    start = beijing_midnight(day)
    inside = [a for a in site if start <= a.intime < start + 86400]
    assert 10 <= len(inside) <= 20
    result = site.feed(155, 1686, 1, 50, "http://x", window=(start, start + 86400))
    assert result["result"]["total"] == len(inside)
    assert {int(i["intime"]) for i in result["result"]["data"]} == {
        a.intime for a in inside
    }
    # The live feed counts everything but lists two pages of 50 only.
    assert len(site) > 150
    live = site.feed(155, 1686, 3, 50, "http://x")["result"]
    assert live["total"] == len(site) and live["data"] == []
    assert len(site.feed(155, 1686, 2, 50, "http://x")["result"]["data"]) == 50


def test_main_serves_days_for_a_backfill() -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "replica", "--days", "3", "--per-day", "12-12"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        first, second = process.stdout.readline(), process.stdout.readline()
        feed = first.split()[2]
        assert second.startswith("crawl it with: scrapy crawl sina_finance -s ")
        assert f"SINA_FEED_URL={feed}" in second
        status, _, body = fetch(
            feed + "?pageid=155&lid=1686&num=50&page=1&etime=0&stime=9999999999"
        )
        assert status == 200
        assert json.loads(body)["result"]["total"] <= 36
    finally:
        process.send_signal(signal.SIGTERM)
        process.communicate(timeout=10)
