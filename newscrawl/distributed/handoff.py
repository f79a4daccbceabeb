"""The hand-over between workers and the writer, and the archived ids workers skip.

The hand-over is a reliable queue: workers push messages onto ``items``; the writer
moves one at a time onto ``items:processing`` (BLMOVE, atomic), writes it durably,
then, in one step (a script), records the article in the ``archived`` hash and
removes the message from ``processing``, if it still holds its claim (writer.py).
A writer that dies between the move and that step leaves the message in
``processing``, where the next writer finds it first: nothing taken is lost, and
writing it again changes nothing on disk (the archive skips unchanged bytes).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Iterator
from itertools import islice
from typing import TYPE_CHECKING, cast

from newscrawl.distributed.codec import MAX_MTIME

if TYPE_CHECKING:
    from redis import Redis

    from newscrawl.distributed.shared import Keys

logger = logging.getLogger(__name__)

#: Rows sent to Redis per round trip when publishing the whole archive.
_BATCH = 2000


def mtime_value(mtime: int | None) -> str:
    """How the ``archived`` hash stores a feed mtime ("" when there is none)."""
    return "" if mtime is None else str(mtime)


# KEYS: writer, archived, processing. ARGV: the writer's identity, the message,
# then doc id and mtime pairs. 0, changing nothing, if the claim is not its own.
_DONE = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
for i = 3, #ARGV, 2 do redis.call('HSET', KEYS[2], ARGV[i], ARGV[i + 1]) end
redis.call('LREM', KEYS[3], 1, ARGV[2])
return 1
"""


class Handoff:
    """The hand-over list: ``put`` by workers; ``take`` … ``done`` by the writer."""

    def __init__(self, client: Redis, keys: Keys) -> None:
        self.client = client
        self.keys = keys
        self._done = client.register_script(_DONE)

    def put(self, message: bytes) -> None:
        """Hand a message over (workers)."""
        self.client.lpush(self.keys.items, message)

    def take(self, timeout: float) -> bytes | None:
        """The oldest waiting message, moved to ``processing``; None after ``timeout``
        seconds without one (0: do not wait)."""
        if timeout <= 0:
            found = self.client.lmove(
                self.keys.items, self.keys.processing, "RIGHT", "LEFT"
            )
        else:
            # redis-py annotates the timeout as int; Redis takes fractions.
            found = self.client.blmove(
                self.keys.items,
                self.keys.processing,
                timeout,  # type: ignore[arg-type]
                "RIGHT",
                "LEFT",
            )
        return cast("bytes | None", found)

    def taken(self) -> list[bytes]:
        """Messages a writer took and did not finish (it stopped), oldest first."""
        found = cast("list[bytes]", self.client.lrange(self.keys.processing, 0, -1))
        return found[::-1]

    def done(
        self, message: bytes, entries: list[tuple[str, int | None]], writer: str
    ) -> bool:
        """``message`` is durably in the archive: publish ``entries`` (its doc id
        and mtime, and the doc id the feed listed for it if its page redirected)
        and drop it, all in one step, if ``writer`` still holds the claim (the
        ``writer`` key); return whether it did."""
        args: list[str | bytes] = [writer, message]
        for doc_id, mtime in entries:
            args += [doc_id, mtime_value(mtime)]
        keys = [self.keys.writer, self.keys.archived, self.keys.processing]
        return bool(self._done(keys=keys, args=args))

    def forget(self, message: bytes) -> None:
        """``message`` needs nothing done: drop it."""
        self.client.lrem(self.keys.processing, 1, message)  # type: ignore[arg-type]

    def reject(self, message: bytes) -> None:
        """``message`` cannot be archived: keep it aside, out of the way."""
        with self.client.pipeline(transaction=True) as pipe:
            pipe.rpush(self.keys.rejected, message)
            pipe.lrem(self.keys.processing, 1, message)  # type: ignore[arg-type]
            pipe.execute()

    def waiting(self) -> int:
        """Messages not yet done: waiting, or taken and unfinished."""
        with self.client.pipeline(transaction=True) as pipe:
            pipe.llen(self.keys.items)
            pipe.llen(self.keys.processing)
            waiting, taken = pipe.execute()
        return int(waiting) + int(taken)


class ArchivedIds:
    """The ``archived`` hash: doc id → feed mtime of every archived article."""

    def __init__(self, client: Redis, keys: Keys) -> None:
        self.client = client
        self.keys = keys
        self._warned = False

    def mtimes(self, doc_ids: list[str]) -> dict[str, tuple[bool, int | None]]:
        """``(archived, feed mtime)`` of each doc id, in one round trip."""
        if not doc_ids:
            return {}
        found = cast(
            "list[bytes | None]", self.client.hmget(self.keys.archived, doc_ids)
        )
        return {
            doc_id: self._entry(doc_id, value)
            for doc_id, value in zip(doc_ids, found, strict=True)
        }

    def _entry(self, doc_id: str, value: bytes | None) -> tuple[bool, int | None]:
        if value is None:
            return (False, None)
        if not value:
            return (True, None)
        if _MTIME.fullmatch(value) and int(value) <= MAX_MTIME:
            return (True, int(value))
        # Not what the writer writes: whoever wrote it, the article is fetched
        # again (and the writer's write puts a good value back); never a failed run.
        if not self._warned:
            logger.warning(
                "Ignoring a bad entry of %s: %s → %r is not a feed mtime; the"
                " article is fetched again (further bad entries are ignored"
                " silently)",
                self.keys.archived,
                doc_id,
                value[:40],
            )
            self._warned = True
        return (False, None)

    def publish(self, rows: Iterable[tuple[str, int | None]]) -> int:
        """Make the hash hold exactly ``rows`` (doc id, mtime); return how many.

        Built under a temporary key and renamed over the old hash: workers see the
        old set or the new one, never a half-built one.
        """
        building = self.keys.archived + ":building"
        self.client.delete(building)
        count = 0
        for batch in _batches(self._typed(rows), _BATCH):
            self.client.hset(building, mapping={d: mtime_value(m) for d, m in batch})
            count += len(batch)
        if count:
            self.client.rename(building, self.keys.archived)
        else:
            self.client.delete(self.keys.archived)
        return count

    def _typed(
        self, rows: Iterable[tuple[str, int | None]]
    ) -> Iterator[tuple[str, int | None]]:
        # An index row with a mtime that is no integer (a hand-over from before
        # the codec checked them) is left out: workers fetch the article again,
        # and the writer notes the feed's mtime in its row.
        warned = False
        for doc_id, mtime in rows:
            if mtime is None or (
                type(mtime) is int and 0 <= mtime <= MAX_MTIME  # not a bool either
            ):
                yield doc_id, mtime
            elif not warned:
                logger.warning(
                    "Not published as archived: %s has feed mtime %r in the index;"
                    " workers fetch it again (and any other such article)",
                    doc_id,
                    mtime,
                )
                warned = True


#: A feed mtime as the ``archived`` hash holds it: digits, nothing else.
_MTIME = re.compile(rb"[0-9]{1,19}")


def _batches(
    rows: Iterable[tuple[str, int | None]], size: int
) -> Iterator[list[tuple[str, int | None]]]:
    iterator = iter(rows)
    while batch := list(islice(iterator, size)):
        yield batch
