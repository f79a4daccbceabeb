"""One run at a time per archive: an advisory lock the OS releases if we die."""

from __future__ import annotations

import fcntl
import os
import time
from pathlib import Path
from types import TracebackType

from newscrawl.archive.files import STATE_DIR
from newscrawl.archive.index import state_dir

LOCK_NAME = "lock"


class ArchiveLockedError(RuntimeError):
    """Another run holds the archive."""


class ArchiveLock:
    """An exclusive ``flock`` on ``<archive>/.newscrawl/lock``.

    flock locks belong to the open file: the kernel drops them when the process
    ends, however it ends (``kill -9`` included), so a stale lock never blocks the
    next run. The file keeps the holder's pid only to make the message useful.
    """

    def __init__(self, archive_root: Path) -> None:
        self.path = archive_root / STATE_DIR / LOCK_NAME
        self._fd: int | None = None

    def acquire(self) -> None:
        """Take the lock now or raise ArchiveLockedError; never waits."""
        state_dir(self.path.parent.parent, create=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as exc:
            holder = _holder(fd)
            os.close(fd)
            archive = self.path.parent.parent
            raise ArchiveLockedError(
                f"another run (pid {holder}) is using the archive {archive}"
            ) from exc
        # The pid is written over the old one in one write, then the rest cut:
        # the file is never empty while a holder has it (see `_holder`).
        line = f"{os.getpid()}\n".encode()
        os.pwrite(fd, line, 0)
        os.ftruncate(fd, len(line))
        self._fd = fd

    def release(self) -> None:
        """Let the next run in."""
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> ArchiveLock:
        self.acquire()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.release()


def _holder(fd: int) -> str:
    """The pid in the lock file of another holder.

    A holder that has just taken the lock of a new file has not written its pid
    yet: the file is empty for a few microseconds. Wait for it (briefly).
    """
    for _ in range(200):
        found = os.pread(fd, 64, 0).decode("ascii", "replace")
        pid = found.split("\n", 1)[0].strip()
        if pid.isdigit() and found.count("\n") >= 1:
            return pid
        time.sleep(0.005)
    return "unknown"
