"""The archive writer of the distributed mode: the one process that writes the archive.

Workers hand finished articles over through Redis (handoff.py); the writer takes
them one at a time and runs the project's own ArchivePipeline on each, writing
through the same archive owner (newscrawl/archive/owner.py) as a single-machine
run: the same exporter, atomic writes, index, journal and runs log, and the
same group commit (``ARCHIVE_COMMIT_BATCH``, ``ARCHIVE_COMMIT_INTERVAL``). Once an
article's batch is durable, and not before, it publishes the doc id and feed mtime
in the ``archived`` hash, which workers read to skip what is archived without
fetching it, and acknowledges the hand-over: a writer killed before that leaves
the batch's hand-overs taken, and the next writer writes them again. The raw
fetches workers hand over, every one (with an article; with the 404 or 410 of an
archived article, which it then marks withdrawn; or alone: a feed page, any fetch
that gave no article) go into the WARC files through the same owner, by the rules
of a single-machine crawl's capture.

One writer per archive: the archive's lock (as a crawl holds it) on its machine,
and a claim in Redis against a writer of another archive on another machine
taking the same hand-overs. The claim fences every write: right before an
article is written, and again before the batch's commit puts its files in place,
the writer renews it (atomically, only if it is still its own) and writes
nothing if it is not (WriterClaimLostError); it publishes a written article in
the ``archived`` hash in the same script as another such check. What remains: a
writer frozen for longer than the claim lasts (``REDIS_WORKER_TIMEOUT``) between
the commit's check and its end (the renames, the index transaction) still
completes that batch in its own archive; it is published only by a writer that
still holds the claim.
"""

from __future__ import annotations

import json
import logging
import socket
import sqlite3
import time
from typing import TYPE_CHECKING, Any

from redis.exceptions import RedisError
from scrapy.exceptions import DropItem

from newscrawl.archive.files import STATE_DIR
from newscrawl.archive.index import IndexUnusableError
from newscrawl.archive.owner import Archive
from newscrawl.archive.runlog import UNFINISHED_NAME
from newscrawl.archive.warc import fetch_from_json
from newscrawl.capture import filed_under
from newscrawl.distributed.codec import (
    MessageError,
    PageFetch,
    Seen,
    Withdrawn,
    decode,
)
from newscrawl.distributed.handoff import ArchivedIds, Handoff
from newscrawl.distributed.runs import restore_unfinished
from newscrawl.distributed.shared import connect, keys_from, worker_timeout
from newscrawl.pipelines import ArchivePipeline

if TYPE_CHECKING:
    from pathlib import Path

    from redis import Redis
    from scrapy.settings import Settings

    from newscrawl.archive.warc import Capture
    from newscrawl.distributed.shared import Keys
    from newscrawl.items import Article

logger = logging.getLogger(__name__)

#: Longest wait for a hand-over before the writer looks around (stop asked? claim
#: to renew? a run record to write?), in seconds.
POLL = 1.0

# KEYS: writer. ARGV: identity, ttl ms. 1 if the claim is (now) ours, else 0.
_CLAIM = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then return 1 end
return 0
"""

# KEYS: writer. ARGV: identity, ttl ms. 1 if the claim is still ours (renewed);
# 0 if it ran out, even if nobody took it since: a writer that held it meanwhile
# may have written what this one holds.
_HOLD = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
"""

# KEYS: writer. ARGV: identity.
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


class WriterClaimedError(RuntimeError):
    """Another archive writer takes this Redis's hand-overs."""


class WriterClaimLostError(WriterClaimedError):
    """This writer's claim ran out (it was stopped, or frozen, for longer than
    the claim lasts): another writer may have taken what it holds."""


class ArchiveUnwritableError(RuntimeError):
    """A write into the archive failed: the writer stops; the article waits in Redis."""


class ArchiveWriter:
    """Takes hand-overs from Redis and archives them with ArchivePipeline."""

    def __init__(self, settings: Settings, client: Redis, keys: Keys) -> None:
        self.client = client
        self.keys = keys
        self.handoff = Handoff(client, keys)
        self.archived = ArchivedIds(client, keys)
        self.ttl_ms = round(worker_timeout(settings) * 1000)
        self.archive = Archive.from_settings(settings)
        self.capturing = settings.getbool("ARCHIVE_WARC_ENABLED")
        self.stats = Counts()
        self.pipeline = ArchivePipeline(
            self.stats,
            self.archive,
            log_articles=settings.getbool("ARCHIVE_LOG_ARTICLES"),
        )
        self.root: Path = self.archive.root
        self.identity = f"{socket.gethostname()}:{self.root.resolve()}"
        self._claim = client.register_script(_CLAIM)
        self._release = client.register_script(_RELEASE)
        self._hold = client.register_script(_HOLD)
        self._claimed_at = 0.0
        #: Hand-overs whose articles are durable, to publish and acknowledge.
        self._durable: list[tuple[bytes, list[tuple[str, int | None]]]] = []
        # Every write into the archive checks the claim first (the module docstring).
        self.archive.fence = self.hold
        self._unfinished = (self.root / STATE_DIR / UNFINISHED_NAME).exists()
        #: The Redis server (its run_id) the marker was last put back on.
        self._server = ""
        self.stopping = False
        self.rejected = 0
        self._base = self._totals()

    @classmethod
    def from_settings(cls, settings: Settings) -> ArchiveWriter:
        """The writer of the archive ``ARCHIVE_DIR`` for the Redis ``REDIS_URL``."""
        return cls(settings, connect(settings), keys_from(settings))

    # --- Starting and stopping -------------------------------------------------------

    def claim(self) -> None:
        """Be the one writer of these hand-overs, or raise WriterClaimedError.

        A claim of this archive on this host is a dead writer's: this process
        holds the archive's lock, which the OS released when that writer died.
        """
        if not self._claim(keys=[self.keys.writer], args=[self.identity, self.ttl_ms]):
            holder = self.client.get(self.keys.writer)
            shown = holder.decode() if isinstance(holder, bytes) else "?"
            raise WriterClaimedError(
                f"another archive writer ({shown}) takes the articles at this"
                f" REDIS_URL and REDIS_KEY_PREFIX; one writer per archive (a dead"
                f" writer's claim runs out within {self.ttl_ms / 1000:g} s)"
            )
        self._claimed_at = time.monotonic()

    def hold(self) -> None:
        """Renew the claim before a write; WriterClaimLostError if it ran out."""
        started = time.monotonic()
        if not self._hold(keys=[self.keys.writer], args=[self.identity, self.ttl_ms]):
            raise WriterClaimLostError(
                f"this archive writer lost its claim on the hand-overs (it was"
                f" stopped for longer than {self.ttl_ms / 1000:g} s): it writes"
                " nothing more; what it held waits in Redis for the writer that"
                " holds the claim"
            )
        self._claimed_at = started

    def release(self) -> None:
        """Let another writer take over."""
        self._release(keys=[self.keys.writer], args=[self.identity])

    def close(self) -> None:
        """Write the last run record and close the index."""
        self.record()
        self.archive.close()

    def stop(self) -> None:
        """Finish the article in hand, then return from ``serve``."""
        self.stopping = True

    # --- What workers read -----------------------------------------------------------

    def restore_unfinished(self) -> bool:
        """Put back the marker of an unfinished run if Redis lost it; return whether.

        The archive keeps its own copy of the marker (as a single-machine crawl
        does): a Redis that restarted empty must not make the next run stop at
        the first known feed page when the run before it never ended. Workers
        may have started a run before this writer (without the marker): the
        marker put back is not that run's, so its end does not clear it, and
        the run after it reads every page (runs.py).
        """
        self._server = self.client.info("server")["run_id"]
        return self._unfinished and restore_unfinished(self.client, self.keys)

    def mirror_unfinished(self) -> None:
        """Keep the archive's copy of the unfinished-run marker in step with Redis.

        The copy goes only when a run that read every page ended cleanly: the
        marker in Redis was put back at start (restore_unfinished), and runs
        started without it leave it. Redis restarted empty meanwhile (without
        this writer noticing: its client reconnects) is no such run: the marker
        is put back again instead.
        """
        unfinished = bool(self.client.exists(self.keys.unfinished))
        if unfinished == self._unfinished:
            return
        if unfinished:
            self.archive.start_crawl()
        elif self._server not in ("", self.client.info("server")["run_id"]):
            logger.warning(
                "Redis restarted: the marker of the unfinished run is put back"
                " (the next run reads every feed page)"
            )
            self.restore_unfinished()
            return
        else:
            self.archive.end_crawl()
        self._unfinished = unfinished

    def publish(self) -> int:
        """Publish every archived doc id of the index to workers; return how many."""
        # Streamed from the index: a million rows need not sit in memory at once.
        # An article whose file went missing is not published: workers fetch it.
        return self.archived.publish(self.archive.archived_ids())

    # --- Writing ---------------------------------------------------------------------

    def recover(self) -> int:
        """Write what a writer took and did not finish; return how many."""
        taken = self.handoff.taken()
        if taken:
            logger.warning(
                "Recovering %d article(s) taken by a writer that stopped before"
                " finishing them",
                len(taken),
            )
        for message in taken:
            self.write(message)
            self.acknowledge()
        self.commit()
        return len(taken)

    def serve(self, *, drain: bool) -> None:
        """Write hand-overs as they come until stopped, or until none waits (drain)."""
        while not self.stopping:
            if time.monotonic() - self._claimed_at > self.ttl_ms / 3000:
                self.claim()
            self.mirror_unfinished()
            # With a batch open, only a hand-over already waiting joins it.
            message = self.handoff.take(0 if drain or self.archive.pending else POLL)
            if message is None:
                if self.archive.pending:
                    # Nothing waits: the batch is as big as it gets; commit it,
                    # so workers learn at once what is archived.
                    self.commit()
                    continue
                # A good moment to tell downstream tools what changed.
                self.record()
                if drain:
                    return
                continue
            self.write(message)
            # A store may have committed the batch before it (the same article
            # twice, a full batch), whatever became of this message: what that
            # made durable is published now, not at the next commit.
            self.acknowledge()
            if self.archive.due():
                self.commit()
        self.commit()

    def commit(self) -> None:
        """Make the open batch durable, then publish and acknowledge its articles."""
        try:
            self.archive.commit()
        except (OSError, sqlite3.Error) as exc:
            raise ArchiveUnwritableError(
                f"cannot write into the archive {self.root} ({exc}); the last"
                " articles wait in Redis"
            ) from exc
        self.acknowledge()

    def acknowledge(self) -> None:
        """Publish and acknowledge the hand-overs whose batch is durable."""
        durable, self._durable = self._durable, []
        for message, entries in durable:
            self.done(message, entries)

    def write(self, message: bytes) -> None:
        """Archive one taken message, then mark it done; a bad one is set aside.

        Only a fault of the writer's own archive (its disk, its index) stops the
        writer: anything else about one message sets that message aside, or one
        bad hand-over would stop the writer, and every restart after it, for good.
        """
        try:
            decoded = decode(message)
        except MessageError as exc:
            self.reject(message, str(exc))
            return
        try:
            if isinstance(decoded, Seen):
                self.adopt(decoded, message)
                self.acknowledge()
                return
            if isinstance(decoded, PageFetch):
                self.capture(decoded)
                self.when_durable(message, [])
                return
            if isinstance(decoded, Withdrawn):
                self.withdraw(decoded, message)
                return
            if decoded.fetch is not None:
                # The raw fetch first, durably, as a single-machine crawl does:
                # the article is stored only with its capture.
                fetched, metadata = fetch_from_json(decoded.fetch)
                decoded.fetch = None
                capture = self.capture(PageFetch(fetched, metadata))
                if capture is not None:
                    decoded.capture = json.dumps(capture.to_dict())
            self.pipeline.process_item(decoded)
        except (IndexUnusableError, RedisError, WriterClaimLostError):
            raise
        except (OSError, sqlite3.Error) as exc:
            raise ArchiveUnwritableError(
                f"cannot write into the archive {self.root} ({exc})"
            ) from exc
        # Whatever else the pipeline makes of an Article it was not built for: the
        # message is kept in items:rejected, with the reason in the log.
        except Exception as exc:
            failure = getattr(self.pipeline, "failure", None)
            if failure is not None:
                # The disk refused the write (ArchivePipeline says why); the next
                # article would meet the same disk. This one waits in Redis.
                raise ArchiveUnwritableError(
                    f"cannot write into the archive {self.root}"
                    f" ({failure}); the article waits in Redis"
                ) from exc
            # DropItem's reason names the article; another error does not.
            why = (
                str(exc) if isinstance(exc, DropItem) else f"{exc!r} ({_url(decoded)})"
            )
            self.reject(message, why)
            return
        entries = [(decoded.doc_id, decoded.feed_mtime)]
        if decoded.listed_doc_id and decoded.listed_doc_id != decoded.doc_id:
            entries.append((decoded.listed_doc_id, decoded.listed_feed_mtime))
        self.when_durable(message, entries)

    def when_durable(
        self, message: bytes, entries: list[tuple[str, int | None]]
    ) -> None:
        """Publish ``entries`` and acknowledge ``message`` once what it brought
        (its article, its capture) is durable: at the batch's commit (``commit``).
        A writer killed before then leaves it taken, to be written again."""
        self.archive.when_committed(lambda: self._durable.append((message, entries)))
        self.acknowledge()

    def done(self, message: bytes, entries: list[tuple[str, int | None]]) -> None:
        """``message`` is in the archive: publish ``entries`` (doc id, mtime) and
        drop it, as Handoff.done does, if the claim is still this writer's."""
        if not self.handoff.done(message, entries, self.identity):
            # Written here, and taken by the writer that holds the claim now: the
            # window the module docstring tells of. Its archive is the one
            # published: this writer adds nothing to it.
            raise WriterClaimLostError(
                f"this archive writer lost its claim while writing an article"
                f" ({entries[0][0]}), which it wrote into {self.root}; it writes"
                " nothing more"
            )

    def capture(self, fetch: PageFetch) -> Capture | None:
        """Write a handed-over fetch into the WARC files, as a crawl's capture
        middleware does (None when capture is off)."""
        if not self.capturing:
            return None
        capture = self.archive.capture(
            fetch.fetched,
            fetch.metadata,
            filed_under(fetch.fetched.url, fetch.metadata),
        )
        self.stats.inc_value("warc/revisits" if capture.revisit else "warc/responses")
        self.stats.inc_value("warc/bytes", capture.length)
        return capture

    def withdraw(self, withdrawn: Withdrawn, message: bytes) -> None:
        """An archived article's page answered 404 or 410 on a worker: its answer
        captured, the article kept and marked withdrawn (journalled), as a crawl
        marks it; an article this archive does not hold changes nothing."""
        if withdrawn.fetch is not None:
            self.capture(withdrawn.fetch)
        # The doc id the feed listed may be an alias of the archived article (its
        # page redirected), as the worker's ``archived`` hash holds both.
        row, _ = (
            self.archive.index.lookup(withdrawn.doc_id)
            if self.archive.has_index()
            else (None, None)
        )
        if row is not None and row.archived:
            self.hold()
            if self.archive.withdraw(row.doc_id, withdrawn.status):
                self.stats.inc_value("archive/withdrawn")
                logger.warning(
                    "Withdrawn: %s answers %d; the archived %s is kept, marked"
                    " withdrawn",
                    withdrawn.url,
                    withdrawn.status,
                    row.path,
                )
        # Its captured answer is durable with the batch: acknowledged then.
        self.when_durable(message, [])

    def adopt(self, seen: Seen, message: bytes) -> None:
        """A row rebuilt by ``reindex`` takes the feed's mtime (as a crawl does)."""
        row = self.archive.index.get(seen.doc_id) if self.archive.has_index() else None
        if row is None or not row.archived:
            self.handoff.forget(message)
            return
        mtime = row.feed_mtime
        if mtime is None:
            self.hold()
            self.archive.adopt(seen.doc_id, seen.url, seen.feed_mtime)
            mtime = seen.feed_mtime
        self.done(message, [(seen.doc_id, mtime)])

    def reject(self, message: bytes, why: str) -> None:
        """Set ``message`` aside in ``items:rejected``; the crawl goes on."""
        logger.warning("Not archived: %s", why)
        self.stats.inc_value("archive/rejected")
        self.rejected += 1
        self.handoff.reject(message)

    # --- The runs log ----------------------------------------------------------------

    def _totals(self) -> dict[str, int]:
        value = self.stats.get_value
        return {
            "new": value("archive/written", 0),
            "updated": value("archive/updated", 0),
            "unchanged": value("archive/skipped/unchanged", 0),
            "skipped": 0,
            "failed": self.rejected,
        }

    def record(self) -> None:
        """Append what was written since the last record to the runs log, if any.

        Workers keep no record; the writer's lines (through the archive owner, as
        a crawl's) let ``scrapy changes`` tell downstream tools what changed. The
        open batch is committed first (and its hand-overs acknowledged): only
        what is durable is counted.
        """
        self.commit()
        totals = self._totals()
        counts = {k: n - self._base[k] for k, n in totals.items()}
        if not any(counts.values()):
            return
        self.archive.record_run(
            exit_status=0,
            finish_reason="written",
            counts=counts,
            writer=self.identity,
        )
        logger.info(
            "Archive writer: %s",
            ", ".join(f"{n} {k}" for k, n in counts.items() if k != "skipped"),
        )
        self._base = totals


def _url(decoded: Article | Seen | PageFetch | Withdrawn) -> str:
    """The page a hand-over is about, for the log line that sets it aside."""
    return decoded.fetched.url if isinstance(decoded, PageFetch) else decoded.url


class Counts:
    """The writer's counters: what ArchivePipeline counts (``inc_value``)."""

    def __init__(self) -> None:
        self.values: dict[str, int] = {}

    def inc_value(self, key: str, count: int = 1, start: int = 0) -> None:
        """Add ``count`` to ``key``."""
        self.values[key] = self.values.get(key, start) + count

    def get_value(self, key: str, default: Any = 0) -> Any:
        """The value of ``key``, or ``default``."""
        return self.values.get(key, default)
