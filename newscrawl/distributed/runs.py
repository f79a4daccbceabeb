"""Runs of many workers: who takes part, who is busy, when the run is over.

A *run* lasts while at least one worker takes part: the first worker to start
when none is alive starts a new run (a new id, a new dupefilter); workers that
start while others are alive join theirs, so that a feed page or an article is
fetched once by all of them together. A worker is alive while its heartbeat is
renewed (``REDIS_WORKER_TIMEOUT``); busy from the moment it joins or takes a
request from the shared queue (in the same atomic step) until it is idle again.
A worker that is idle closes only when the shared queue is empty and no live
worker is busy: a busy one may still push requests. A run that began before
Redis last restarted is over, whatever its heartbeats say: its workers stopped
at their first failed command.

Every step is one Lua script, so it is atomic, and times are Redis's own clock
(TIME), so that machines whose clocks disagree still agree on who is alive.

A run ends when its last worker leaves: its dupefilter is deleted (Redis memory
is bounded by one run's fingerprints). The ``unfinished`` marker holds the id of
the run that set it: each run sets it at its start (it reads every feed page if
the marker was there already: ``resuming``) and deletes it at its end only if
every worker of it finished normally and the marker is still its own. While it is
there the next run reads every feed page, as a single-machine crawl does after a
crawl that was killed (ArchivedArticlesMiddleware). The archive writer puts back
a marker Redis lost (writer.py) under a value no run has: a run that started
without it did not read every page, and must not clear it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

if TYPE_CHECKING:
    from redis import Redis

    from newscrawl.distributed.shared import Keys

_NOW = """
local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
"""

# KEYS: workers, busy, run, unfinished.
# ARGV: worker id, timeout ms, new run id, the Redis server's run_id, arguments.
# Returns {run id, resuming (0/1), id of the abandoned run or "", the run's
# arguments (those of the worker that started it; "" for a run without)}.
_JOIN = (
    _NOW
    + """
local now = now_ms()
local stale = redis.call('ZCOUNT', KEYS[1], '-inf', '(' .. now)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', '(' .. now)
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', '(' .. now)
local run = redis.call('HGET', KEYS[3], 'id')
local abandoned = ''
-- A run started before Redis restarted lost its workers: each stops at its
-- first failed command. Their heartbeats have not run out yet; their run is over.
local restarted = redis.call('HGET', KEYS[3], 'server') ~= ARGV[4]
if redis.call('ZCARD', KEYS[1]) == 0 or not run or restarted then
  abandoned = run or ''
  local resuming = redis.call('EXISTS', KEYS[4])
  redis.call('DEL', KEYS[1], KEYS[2], KEYS[3])
  redis.call('HSET', KEYS[3], 'id', ARGV[3], 'resuming', resuming, 'dirty', 0,
             'server', ARGV[4], 'arguments', ARGV[5])
  redis.call('SET', KEYS[4], ARGV[3])
  run = ARGV[3]
elseif stale > 0 then
  redis.call('HSET', KEYS[3], 'dirty', 1)
end
local deadline = now + tonumber(ARGV[2])
redis.call('ZADD', KEYS[1], deadline, ARGV[1])
redis.call('ZADD', KEYS[2], deadline, ARGV[1])
return {run, redis.call('HGET', KEYS[3], 'resuming'), abandoned,
        redis.call('HGET', KEYS[3], 'arguments') or ''}
"""
)

# KEYS: workers, busy, run, dupefilter. ARGV: worker id, timeout ms, ttl s, run id.
# Returns 0, touching nothing, if the worker's run is over (see RunEndedError).
_HEARTBEAT = (
    _NOW
    + """
if redis.call('HGET', KEYS[3], 'id') ~= ARGV[4] then return 0 end
local deadline = now_ms() + tonumber(ARGV[2])
redis.call('ZADD', KEYS[1], deadline, ARGV[1])
redis.call('ZADD', KEYS[2], 'XX', deadline, ARGV[1])
redis.call('EXPIRE', KEYS[3], ARGV[3])
redis.call('EXPIRE', KEYS[4], ARGV[3])
return 1
"""
)

# KEYS: requests, busy, run. ARGV: worker id, timeout ms, run id.
# Takes the first request of the queue and marks the worker busy, atomically:
# no other worker can see the queue empty and this one idle in between.
# Returns -1, taking nothing, if the worker's run is over (see RunEndedError).
_POP = (
    _NOW
    + """
if redis.call('HGET', KEYS[3], 'id') ~= ARGV[3] then return -1 end
local found = redis.call('ZRANGE', KEYS[1], 0, 0)
if #found == 0 then return false end
redis.call('ZREMRANGEBYRANK', KEYS[1], 0, 0)
redis.call('ZADD', KEYS[2], now_ms() + tonumber(ARGV[2]), ARGV[1])
return found[1]
"""
)

# KEYS: requests, busy. ARGV: worker id.
# The worker is idle: returns how many reasons it has to wait (queued requests,
# or other live busy workers); 0 means the run's work is done.
_IDLE = (
    _NOW
    + """
redis.call('ZREM', KEYS[2], ARGV[1])
local queued = redis.call('ZCARD', KEYS[1])
if queued > 0 then return queued end
return redis.call('ZCOUNT', KEYS[2], now_ms(), '+inf')
"""
)

# KEYS: workers, busy, run, unfinished. ARGV: worker id, finished (1/0).
# Returns {1 if this was the run's last worker, the run's id}.
_LEAVE = (
    _NOW
    + """
local now = now_ms()
redis.call('ZREM', KEYS[1], ARGV[1])
redis.call('ZREM', KEYS[2], ARGV[1])
if ARGV[2] ~= '1' then redis.call('HSET', KEYS[3], 'dirty', 1) end
if redis.call('ZCOUNT', KEYS[1], '-inf', '(' .. now) > 0 then
  -- A worker that died without leaving: its requests were lost for this run.
  redis.call('HSET', KEYS[3], 'dirty', 1)
  redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', '(' .. now)
end
if redis.call('ZCARD', KEYS[1]) > 0 then return {0, ''} end
local run = redis.call('HGET', KEYS[3], 'id') or ''
-- Only the marker this run set: one that the archive writer put back meanwhile
-- (Redis had lost it) asks for a run that reads every page, which this one,
-- started without it, did not.
if redis.call('HGET', KEYS[3], 'dirty') == '0'
   and redis.call('GET', KEYS[4]) == run then
  redis.call('DEL', KEYS[4])
end
redis.call('DEL', KEYS[3], KEYS[2])
return {1, run}
"""
)


# KEYS: unfinished, run. ARGV: the value to put back.
# Returns 1 if the marker is (now) one that only a run reading every page clears.
_RESTORE = """
local marker = redis.call('GET', KEYS[1])
if marker and (redis.call('HGET', KEYS[2], 'id') ~= marker
               or redis.call('HGET', KEYS[2], 'resuming') == '1') then
  -- A dead run's marker, one put back before, or that of a run that reads
  -- every page: the next run, or this one, makes up for what was lost.
  return 0
end
-- Absent, or the marker of a run that started without one (Redis had lost
-- it): that run does not read every page, and its end must leave this one.
redis.call('SET', KEYS[1], ARGV[1])
return 1
"""

#: The value of the ``unfinished`` marker the archive writer puts back: no run's id.
RESTORED = "restored by the archive writer"


def restore_unfinished(client: Redis, keys: Keys) -> bool:
    """Put back the marker of an unfinished run, which Redis lost; return whether
    it was missing (or only the current run's, which does not read every page).

    Atomic: a run that starts or ends meanwhile sees the marker before or after.
    """
    script = client.register_script(_RESTORE)
    return bool(script(keys=[keys.unfinished, keys.run], args=[RESTORED]))


class RunEndedError(RuntimeError):
    """The run this worker takes part in is over: it was counted as dead.

    A worker stopped (SIGSTOP, a frozen VM) for longer than the timeout is
    dead to the others, and the run may end without it and a new one start.
    Its dupefilter is the old run's: it must take no part in the new one.
    """


@dataclass(frozen=True, slots=True)
class Joined:
    """The run a worker takes part in."""

    run: str
    #: The run before it did not end cleanly: read every feed page.
    resuming: bool
    #: A run whose workers all died: its dupefilter is to be dropped.
    abandoned: str
    #: The spider arguments of the run (its first worker's), as that one gave them.
    arguments: str = ""


class Membership:
    """One worker's part in the runs of a deployment."""

    def __init__(self, client: Redis, keys: Keys, worker: str, timeout: float) -> None:
        self.client = client
        self.keys = keys
        self.worker = worker
        self.timeout_ms = max(1, round(timeout * 1000))
        # Keys of a run outlive a silent worker a while, then expire: a run
        # whose workers all died leaves nothing behind for ever.
        self.ttl = max(60, round(timeout * 4))
        self.run = ""
        #: When this worker last knew it was in its run (time.monotonic()).
        self.confirmed = 0.0
        self._join = client.register_script(_JOIN)
        self._heartbeat = client.register_script(_HEARTBEAT)
        self._pop = client.register_script(_POP)
        self._idle = client.register_script(_IDLE)
        self._leave = client.register_script(_LEAVE)

    def join(self, new_run: str, arguments: str = "") -> Joined:
        """Take part in the current run, or start run ``new_run`` if none is alive,
        with ``arguments`` (the spider's, as a string) as the run's."""
        keys = self.keys
        server = self.client.info("server")["run_id"]
        run, resuming, abandoned, stored = cast(
            "list[bytes]",
            self._join(
                keys=[keys.workers, keys.busy, keys.run, keys.unfinished],
                args=[self.worker, self.timeout_ms, new_run, server, arguments],
            ),
        )
        self.run = run.decode()
        self.confirmed = time.monotonic()
        if abandoned:
            self.client.delete(keys.dupefilter(abandoned.decode()))
        return Joined(self.run, resuming == b"1", abandoned.decode(), stored.decode())

    def heartbeat(self) -> None:
        """Still alive (and busy, if busy): renew the deadlines; RunEndedError."""
        keys = self.keys
        started = time.monotonic()
        if not self._heartbeat(
            keys=[keys.workers, keys.busy, keys.run, keys.dupefilter(self.run)],
            args=[self.worker, self.timeout_ms, self.ttl, self.run],
        ):
            raise RunEndedError(self.run)
        self.confirmed = started

    def pop(self) -> bytes | None:
        """The first queued request (encoded), this worker marked busy with it.

        RunEndedError, taking nothing, if this worker's run is over.
        """
        started = time.monotonic()
        found = self._pop(
            keys=[self.keys.requests, self.keys.busy, self.keys.run],
            args=[self.worker, self.timeout_ms, self.run],
        )
        if found == -1:
            raise RunEndedError(self.run)
        self.confirmed = started
        return cast("bytes | None", found)

    def check(self) -> None:
        """RunEndedError if this worker may have been counted as dead and its run
        is over; otherwise nothing (no round trip while the heartbeat keeps up)."""
        started = time.monotonic()
        # Heartbeats come every fifth of the timeout: half of it without one
        # means this process was stopped, or its loop blocked, and must look.
        if started - self.confirmed < self.timeout_ms / 2000:
            return
        if cast("bytes | None", self.client.hget(self.keys.run, "id")) != (
            self.run.encode()
        ):
            raise RunEndedError(self.run)
        self.confirmed = started

    def idle(self) -> int:
        """This worker has nothing to do: how many reasons it has to wait for more."""
        return int(
            cast(
                "int",
                self._idle(
                    keys=[self.keys.requests, self.keys.busy], args=[self.worker]
                ),
            )
        )

    def leave(self, finished: bool) -> bool:
        """Leave the run; return whether it was the last worker (the run is over)."""
        keys = self.keys
        last, run = cast(
            "list[Any]",
            self._leave(
                keys=[keys.workers, keys.busy, keys.run, keys.unfinished],
                args=[self.worker, 1 if finished else 0],
            ),
        )
        if last:
            self.client.delete(keys.dupefilter(run.decode() or self.run))
        return bool(last)

    def resuming(self) -> bool:
        """Whether the current run reads every feed page (see the module docstring)."""
        return cast("bytes | None", self.client.hget(self.keys.run, "resuming")) == b"1"
