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

    def __init__(self, message: str, purpose: str = "") -> None:
        super().__init__(message)
        #: What the holder said it is doing ("backfill"), or "".
        self.purpose = purpose


class ArchiveLock:
    """An exclusive ``flock`` on ``<archive>/.newscrawl/lock``.

    flock locks belong to the open file: the kernel drops them when the process
    ends, however it ends (``kill -9`` included), so a stale lock never blocks the
    next run. The file keeps the holder's pid only to make the message useful.
    """

    def __init__(self, archive_root: Path, purpose: str = "") -> None:
        self.path = archive_root / STATE_DIR / LOCK_NAME
        #: Written after the pid: a run that finds the lock held reads it (a cron
        #: run leaves the archive to a backfill, which reads the live feed too).
        self.purpose = purpose
        self._fd: int | None = None

    def acquire(self) -> None:
        """Take the lock now or raise ArchiveLockedError; never waits."""
        state_dir(self.path.parent.parent, create=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as exc:
            holder, purpose = _holder(fd)
            os.close(fd)
            archive = self.path.parent.parent
            doing = f"a {purpose}" if purpose else "another run"
            raise ArchiveLockedError(
                f"{doing} (pid {holder}) is using the archive {archive}", purpose
            ) from exc
        # The pid is written over the old one in one write, then the rest cut:
        # the file is never empty while a holder has it (see `_holder`).
        purpose = f"{self.purpose}\n" if self.purpose else ""
        line = f"{os.getpid()}\n{purpose}".encode()
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


def _holder(fd: int) -> tuple[str, str]:
    """The pid and purpose in the lock file of another holder.

    A holder that has just taken the lock of a new file has not written its pid
    yet: the file is empty for a few microseconds. Wait for it (briefly).
    """
    for _ in range(200):
        found = os.pread(fd, 64, 0).decode("ascii", "replace")
        pid, _, rest = found.partition("\n")
        if pid.strip().isdigit() and found.count("\n") >= 1:
            return pid.strip(), rest.partition("\n")[0].strip()
        time.sleep(0.005)
    return "unknown", ""
