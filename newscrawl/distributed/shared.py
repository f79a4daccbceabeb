"""What workers and the writer share: the Redis connection and the names of its keys."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, cast
from urllib.parse import urlsplit, urlunsplit

from redis import Redis
from scrapy.exceptions import NotConfigured
from scrapy_redis.connection import (  # type: ignore[import-untyped]
    get_redis_from_settings,
)

if TYPE_CHECKING:
    from scrapy.settings import BaseSettings

#: What REDIS_KEY_PREFIX is when the settings do not say.
DEFAULT_PREFIX = "newscrawl"
#: What REDIS_WORKER_TIMEOUT is when the settings do not say, in seconds.
DEFAULT_WORKER_TIMEOUT = 30.0


class RedisUnavailableError(RuntimeError):
    """Redis could not be reached, or refused a command: distributed work stops."""


class RedisUnsuitableError(RuntimeError):
    """The Redis server is set up so that it may lose keys: no work starts."""


@dataclass(frozen=True, slots=True)
class Keys:
    """The Redis keys of one deployment, all under one prefix (``REDIS_KEY_PREFIX``)."""

    prefix: str

    def _key(self, name: str) -> str:
        return f"{self.prefix}:{name}"

    @property
    def requests(self) -> str:
        """scrapy-redis's request queue (a sorted set by priority) of all workers."""
        return self._key("requests")

    def dupefilter(self, run: str) -> str:
        """The fingerprints of the requests of one run (a set), dropped at its end."""
        return self._key(f"dupefilter:{run}")

    @property
    def run(self) -> str:
        """The current run (a hash: id, resuming, dirty, the Redis server's run_id)."""
        return self._key("run")

    @property
    def workers(self) -> str:
        """Workers of the current run, by the time their heartbeat runs out."""
        return self._key("workers")

    @property
    def busy(self) -> str:
        """Workers that hold requests they have not finished, same scores."""
        return self._key("busy")

    @property
    def unfinished(self) -> str:
        """Set while a run goes on, and after one that did not end cleanly: the id
        of the run that set it, or RESTORED (the writer put it back)."""
        return self._key("unfinished")

    @property
    def items(self) -> str:
        """Articles handed over by workers, waiting for the writer (a list)."""
        return self._key("items")

    @property
    def processing(self) -> str:
        """Articles the writer has taken and not yet made durable (a list)."""
        return self._key("items:processing")

    @property
    def rejected(self) -> str:
        """Hand-overs the writer could not archive (unreadable, a bad value), kept."""
        return self._key("items:rejected")

    @property
    def archived(self) -> str:
        """Each archived doc id with its feed mtime ("" if none): what workers skip."""
        return self._key("archived")

    @property
    def writer(self) -> str:
        """Which writer takes the hand-overs (host and archive), while it runs."""
        return self._key("writer")


def keys_from(settings: BaseSettings) -> Keys:
    """The keys under ``REDIS_KEY_PREFIX``."""
    return Keys(settings.get("REDIS_KEY_PREFIX") or DEFAULT_PREFIX)


def worker_timeout(settings: BaseSettings) -> float:
    """``REDIS_WORKER_TIMEOUT`` in seconds; NotConfigured if not a positive number."""
    timeout = settings.getfloat("REDIS_WORKER_TIMEOUT", DEFAULT_WORKER_TIMEOUT)
    if timeout <= 0:
        raise NotConfigured(
            "REDIS_WORKER_TIMEOUT must be a number of seconds above 0,"
            f" not {settings.get('REDIS_WORKER_TIMEOUT')!r}"
        )
    return timeout


def connect(settings: BaseSettings) -> Redis:
    """A client of the server at ``REDIS_URL`` (scrapy-redis's ``REDIS_PARAMS`` apply).

    Connecting is lazy: the first command says whether the server is there.
    """
    return cast("Redis", get_redis_from_settings(settings))


def shown_url(url: str) -> str:
    """``url`` without its password, to put in a log line."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    if parts.port is not None:
        host = f"{host}:{parts.port}"
    user = f"{parts.username}:***@" if parts.username else ":***@"
    return urlunsplit(parts._replace(netloc=user + host))


def unavailable(settings: BaseSettings, exc: Exception, doing: str) -> str:
    """How a log line says that Redis failed, and while doing what."""
    url = shown_url(str(settings.get("REDIS_URL")))
    return f"Redis at {url} is unavailable while {doing} ({exc})"


def check_server(client: Redis, settings: BaseSettings) -> None:
    """Raise RedisUnsuitableError if the server may evict keys of the deployment.

    Only ``noeviction`` keeps every key: the ``allkeys-*`` policies evict any
    key, and the ``volatile-*`` ones the keys with a time to live, which the
    keys of a run have (its dupefilter: evicted mid-run, pages are fetched
    twice). Whatever ``maxmemory`` is now: it can be set at run time.
    """
    found = client.info("memory").get("maxmemory_policy")
    if found is None or found == "noeviction":
        # A server that does not say (a proxy): nothing to go by.
        return
    raise RedisUnsuitableError(
        f"Redis at {shown_url(str(settings.get('REDIS_URL')))} may evict keys"
        f" (maxmemory-policy {found}): articles would be lost while workers"
        " report ok; set maxmemory-policy noeviction"
    )
