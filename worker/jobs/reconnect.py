"""Redis connections for workers that ride out a Redis restart.

redis-py retries a failed command on a new connection, but by default only ten times within about a
second; a worker whose Redis restarts takes longer than that to come back, and an error that escapes a
running job's heartbeat ends rq's work loop, so the worker used to exit. Here every command of a worker
(and of its work horses, which inherit the connection settings across the fork) is retried with
exponential backoff, ``RETRY_BASE_SECONDS`` doubling up to ``RETRY_CAP_SECONDS``, until
``LOSSDOCTOR_REDIS_OUTAGE_SECONDS`` have passed; the first failure of each command and every
``LOG_EVERY``-th after it are logged, so an outage shows in the worker's log.

The API does not use this: a request during an outage should fail fast (a ``503``), not hang.
"""

from __future__ import annotations

import logging
from typing import Any

import redis
from redis import Redis
from redis.backoff import ExponentialBackoff
from redis.driver_info import DriverInfo
from redis.exceptions import ConnectionError, TimeoutError
from redis.retry import Retry

log = logging.getLogger(__name__)

#: Seconds before the first retry of a failed command; each further retry waits twice as long ...
RETRY_BASE_SECONDS = 0.05
#: ... but never more than this many seconds.
RETRY_CAP_SECONDS = 2.0
#: Log one line per this many failed attempts of one command (and its first failure).
LOG_EVERY = 10
#: Errors after which a command is retried on a new connection.
RETRIED_ERRORS: tuple[type[Exception], ...] = (ConnectionError, TimeoutError)


class LoggedBackoff(ExponentialBackoff):
    """Exponential backoff that logs while Redis does not answer."""

    def __init__(self, where: str, cap: float = RETRY_CAP_SECONDS, base: float = RETRY_BASE_SECONDS) -> None:
        super().__init__(cap=cap, base=base)
        self.where = where

    def compute(self, failures: int) -> float:
        """Seconds to wait before retry number ``failures``; logs the first and every ``LOG_EVERY``-th."""
        delay = float(super().compute(failures))
        if failures == 1 or failures % LOG_EVERY == 0:
            log.warning("Redis at %s is unreachable (attempt %d); retrying in %.2f s", self.where, failures, delay)
        return delay


def retries_for(outage_seconds: float, base: float = RETRY_BASE_SECONDS, cap: float = RETRY_CAP_SECONDS) -> int:
    """How many retries with this backoff together wait at least ``outage_seconds`` seconds."""
    waited, retries = 0.0, 0
    while waited < outage_seconds:
        retries += 1
        waited += min(cap, base * 2**retries)
    return retries


def patient_redis(url: str, outage_seconds: float, **kwargs: Any) -> Redis:
    """A client on ``url`` whose commands wait out a Redis outage of up to ``outage_seconds`` seconds."""
    # An explicit DriverInfo: otherwise every new connection, so one per work horse after the fork, looks
    # up redis-py's version with importlib.metadata (about 10 ms in a freshly forked horse).
    client = Redis.from_url(url, driver_info=DriverInfo(lib_version=redis.__version__), **kwargs)
    where = "{host}:{port}".format(**{"host": "?", "port": "?", **client.get_connection_kwargs()})
    client.set_retry(Retry(LoggedBackoff(where), retries_for(outage_seconds), supported_errors=RETRIED_ERRORS))
    return client
