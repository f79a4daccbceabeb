"""The archive lock: one holder at a time, released however the holder ends."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from newscrawl.archive.lock import ArchiveLock, ArchiveLockedError
from replica.crawl import PROJECT_ROOT

# A process that takes the lock, says so, and waits to be killed.
HOLDER = """
import sys, time
from pathlib import Path
from newscrawl.archive.lock import ArchiveLock
ArchiveLock(Path(sys.argv[1])).acquire()
print("held", flush=True)
time.sleep(120)
"""


def test_the_lock_file_names_its_holder(tmp_path: Path) -> None:
    lock = ArchiveLock(tmp_path)
    lock.acquire()
    try:
        assert lock.path == tmp_path / ".newscrawl" / "lock"
        assert lock.path.read_text() == f"{os.getpid()}\n"
    finally:
        lock.release()


def test_a_second_holder_is_refused_at_once(tmp_path: Path) -> None:
    # flock locks belong to the open file: a second open, even in the same
    # process, is a second holder.
    with ArchiveLock(tmp_path):
        with pytest.raises(ArchiveLockedError) as raised:
            ArchiveLock(tmp_path).acquire()
        assert str(raised.value) == (
            f"another run (pid {os.getpid()}) is using the archive {tmp_path}"
        )
    with ArchiveLock(tmp_path) as again:
        assert again.path.read_text() == f"{os.getpid()}\n"


def test_released_when_the_block_raises(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError, match="boom"), ArchiveLock(tmp_path):
        raise RuntimeError("boom")
    lock = ArchiveLock(tmp_path)
    lock.acquire()
    lock.release()
    lock.release()  # twice is harmless


def test_released_when_the_holder_is_killed(tmp_path: Path) -> None:
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(tmp_path)],
        cwd=PROJECT_ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline() == "held\n"
        with pytest.raises(ArchiveLockedError, match=f"pid {holder.pid}"):
            ArchiveLock(tmp_path).acquire()
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
        assert holder.stdout is not None
        holder.stdout.close()
    assert holder.returncode == -signal.SIGKILL
    # The stale pid is still in the file; the kernel dropped the lock itself.
    assert (tmp_path / ".newscrawl" / "lock").read_text() == f"{holder.pid}\n"
    with ArchiveLock(tmp_path) as lock:
        assert lock.path.read_text() == f"{os.getpid()}\n"


def test_a_backfill_says_so_in_the_lock(tmp_path: Path) -> None:
    with ArchiveLock(tmp_path, "backfill") as held:
        assert held.path.read_text() == f"{os.getpid()}\nbackfill\n"
        with pytest.raises(ArchiveLockedError) as raised:
            ArchiveLock(tmp_path).acquire()
    assert raised.value.purpose == "backfill"
    assert str(raised.value).startswith(f"a backfill (pid {os.getpid()})")
