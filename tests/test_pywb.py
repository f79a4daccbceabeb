"""Interoperability: a captured article page replayed by pywb (``wb-manager`` and
``wayback`` on 127.0.0.1) gives back the bytes the replica served.

pywb pins an old redis client that conflicts with the project's, so it lives in a
virtualenv of its own, ``.venv-pywb`` (made by ``.ci/run`` and ``make setup``;
``PYWB_VENV`` names another). Without it the test is skipped on a developer's
machine and fails under CI, which must always run it.
"""

from __future__ import annotations

import gzip
import os
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from newscrawl.archive.files import DEFAULT_PATH_TEMPLATE
from newscrawl.archive.owner import Archive
from newscrawl.archive.warc import warc_dir, warc_files
from replica.crawl import PROJECT_ROOT, run_crawl
from replica.server import Replica
from replica.site import generated_site

PYWB = Path(os.environ.get("PYWB_VENV", PROJECT_ROOT / ".venv-pywb")) / "bin"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_pywb_replays_a_captured_article_page(tmp_path: Path) -> None:
    if not (PYWB / "wayback").exists():
        message = f"pywb is not installed in {PYWB.parent} (see README.md, set-up)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    archive = tmp_path / "archive"
    site = generated_site(3, seed=1)
    with Replica(site) as replica:
        replica.gzip = True
        run = run_crawl(replica.feed_url, archive)
        sent = dict(replica.sent)
    assert run.returncode == 0, run.stderr[-3000:]
    owner = Archive(archive, DEFAULT_PATH_TEMPLATE)
    try:
        row = next(iter(owner.index.rows()))
        (version,) = owner.versions(row.doc_id)
    finally:
        owner.close()
    article = site.get(row.doc_id)
    served = sent[article.path]
    assert gzip.decompress(served) == article.page

    pywb_dir = tmp_path / "pywb"
    pywb_dir.mkdir()
    for argv in (
        ["wb-manager", "init", "news"],
        ["wb-manager", "add", "news", *map(str, warc_files(warc_dir(archive)))],
    ):
        done = subprocess.run(
            [str(PYWB / argv[0]), *argv[1:]],
            cwd=pywb_dir,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert done.returncode == 0, done.stdout + done.stderr
    port = free_port()
    log = tmp_path / "wayback.log"
    with log.open("wb") as output:
        wayback = subprocess.Popen(
            [str(PYWB / "wayback"), "-b", "127.0.0.1", "-p", str(port)],
            cwd=pywb_dir,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    try:
        stamp = version.fetched[:19].replace("-", "").replace(":", "").replace("T", "")
        # id_: the original response, not rewritten for replay.
        url = f"http://127.0.0.1:{port}/news/{stamp}id_/{version.url}"
        body, encoding = b"", ""
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(url, timeout=10) as answer:
                    body = answer.read()
                    encoding = answer.headers.get("Content-Encoding", "")
                break
            except (urllib.error.URLError, ConnectionError):
                assert wayback.poll() is None, log.read_text()
                assert time.monotonic() < deadline, "wayback did not answer"
                time.sleep(0.3)
    finally:
        wayback.terminate()
        wayback.wait(timeout=10)
    # pywb undoes the Content-Encoding it replays (id_ keeps the bytes otherwise):
    # the page the replica served, byte for byte.
    assert (gzip.decompress(body) if encoding == "gzip" else body) == article.page
