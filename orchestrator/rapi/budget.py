"""A per-cluster RAPI request budget, shared by every worker on every host through Redis.

A Ganeti master's RAPI daemon serves few requests at a time (ganeti-rapi --max-clients,
20 by default, answers nothing more until some close), and every request reaches its
master daemon: a fleet of workers polling hundreds of jobs could swamp it. So each backend
has a budget, drawn by every RAPI request the orchestrator sends it: at most `rate` requests
in any second and `concurrency` requests in flight (0: no limit). One Lua script keeps the
count in Redis, on Redis's clock, so every process on every host draws atomically from the
same budget.

Two classes of caller: USER (a user's or operator's action being sent: the chain's allocate
and submit steps) may use the whole rate and every slot; BACKGROUND (polls, refreshes,
reconciliation; the default) only (1 - RAPI_USER_RESERVE) of them, so polls yield to user
actions. A request waits for room up to a bound (RAPI_BUDGET_WAIT_S for users,
RAPI_BACKGROUND_WAIT_S for the rest), then raises RapiThrottled: a chain's task retries
later, which is no failure. A slot in flight is a lease that expires after the call's own
deadline, so a worker killed mid-call cannot leak it.

Requests are counted over a window a little longer than a second (WINDOW_S): a request
admitted at the end of one window reaches the cluster a moment later, and the cluster,
counting per second, must still never see more than the rate.
"""
from __future__ import annotations

import contextlib
import contextvars
import logging
import math
import random
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import redis as redis_lib

from .errors import RapiUnavailable

log = logging.getLogger(__name__)

USER, BACKGROUND = "user", "background"
CLASSES = (USER, BACKGROUND)
WINDOW_S = 1.1  # one second, and room for a request's way to the cluster
KEY = "orchestrator:rapi-budget:{backend}:{part}"
# A caller whose concurrency slots are all taken looks again after about this long: a
# slot frees when some request ends, which no one can foretell.
SLOT_RECHECK_S = 0.02
# A read that urllib3 retries draws again (the cluster sees each try), waiting at most this.
RETRY_WAIT_S = 1.0

_caller: contextvars.ContextVar[str] = contextvars.ContextVar("rapi_caller", default=BACKGROUND)

# KEYS[1]: the window, a sorted set of request tokens scored by admission time (ms);
# KEYS[2]: the leases, a sorted set of request tokens scored by lease expiry (ms).
# ARGV: token, rate for this class (0: none), window (ms), concurrency for this class (0: none),
# lease (ms). Returns {1, 0} when admitted, else {0, ms to wait} (-1: until a slot frees).
_ACQUIRE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local token, rate, window = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
local conc, lease = tonumber(ARGV[4]), tonumber(ARGV[5])
if rate > 0 then
  redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
  local used = redis.call('ZCARD', KEYS[1])
  if used >= rate then
    local oldest = redis.call('ZRANGE', KEYS[1], used - rate, used - rate, 'WITHSCORES')
    return {0, math.max(1, tonumber(oldest[2]) + window - now)}
  end
end
if conc > 0 then
  redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now)
  if redis.call('ZCARD', KEYS[2]) >= conc then
    return {0, -1}
  end
  redis.call('ZADD', KEYS[2], now + lease, token)
  if redis.call('PTTL', KEYS[2]) < lease then
    redis.call('PEXPIRE', KEYS[2], lease)
  end
end
if rate > 0 then
  redis.call('ZADD', KEYS[1], now, token)
  redis.call('PEXPIRE', KEYS[1], window)
end
return {1, 0}
"""


class RapiThrottled(RapiUnavailable):
    """The backend's request budget had no room within the caller's wait: nothing was sent.
    Try again in about `retry_in` seconds (a chain's task retries; this is no failure)."""

    def __init__(self, message: str, retry_in: float):
        super().__init__(message, code=None)
        self.retry_in = retry_in


@contextlib.contextmanager
def acting_for(caller: str) -> Iterator[None]:
    """RAPI requests made inside are drawn as `caller`'s (USER or BACKGROUND)."""
    if caller not in CLASSES:
        raise ValueError(f"caller must be one of {CLASSES}, got {caller!r}")
    token = _caller.set(caller)
    try:
        yield
    finally:
        _caller.reset(token)


def current_caller() -> str:
    return _caller.get()


@dataclass(frozen=True)
class Limits:
    """One backend's budget: requests per second and in flight (0: no limit), the share
    only users may use, and how long each class waits for room."""

    rate_per_s: int = 0
    concurrency: int = 0
    user_reserve: float = 0.0
    user_wait_s: float = 0.0
    background_wait_s: float = 0.0

    @property
    def unlimited(self) -> bool:
        return not self.rate_per_s and not self.concurrency

    def for_caller(self, caller: str) -> tuple[int, int, float]:
        """(rate, concurrency, wait) for a class: the background's shares are rounded down
        and never below one, so polls always move, however small the budget."""
        if caller == USER:
            return self.rate_per_s, self.concurrency, self.user_wait_s
        share = 1.0 - self.user_reserve

        def part(total: int) -> int:
            return max(1, math.floor(total * share + 1e-9)) if total else 0
        return part(self.rate_per_s), part(self.concurrency), self.background_wait_s


def limits_for(backend, settings) -> Limits:
    """A backend's limits: its own columns, else the deployment's RAPI_RATE_PER_S and
    RAPI_CONCURRENCY (NULL: the default; 0: no limit)."""
    rate = backend.rate_per_s if backend.rate_per_s is not None else settings.rapi_rate_per_s
    concurrency = backend.concurrency if backend.concurrency is not None else settings.rapi_concurrency
    return Limits(int(rate), int(concurrency), settings.rapi_user_reserve, settings.rapi_budget_wait_s,
                  settings.rapi_background_wait_s)


class Budget:
    """One backend's budget in Redis, drawn by every request sent to it."""

    def __init__(self, redis: redis_lib.Redis, backend_id: int, limits: Limits):
        self.redis = redis
        self.backend_id = backend_id
        self.limits = limits
        self.keys = [KEY.format(backend=backend_id, part="window"), KEY.format(backend=backend_id, part="leases")]
        self._script = redis.register_script(_ACQUIRE)

    def __repr__(self) -> str:
        return f"Budget(backend={self.backend_id}, {self.limits.rate_per_s}/s, {self.limits.concurrency} at once)"

    def _try(self, token: str, rate: int, concurrency: int, lease_s: float) -> float:
        """0 when admitted, else the seconds to wait for room (negative: until a slot frees)."""
        admitted, wait_ms = self._script(keys=self.keys, args=[
            token, rate, int(WINDOW_S * 1000), concurrency, max(1, int(lease_s * 1000))])
        return 0.0 if admitted else float(wait_ms) / 1000.0

    def acquire(self, lease_s: float, *, slot: bool = True, wait_s: float | None = None) -> str | None:
        """Wait for room and take it: a rate token and (with `slot`) a lease on a concurrency
        slot for `lease_s`. Returns the lease's token to `release`, None when no slot was
        taken; RapiThrottled past the caller's wait. Fails open (logged) if Redis does not
        answer: a budget protects the cluster, it must not stop the fleet."""
        caller = _caller.get()
        rate, concurrency, class_wait = self.limits.for_caller(caller)
        if not slot:
            concurrency = 0
        if not rate and not concurrency or time.monotonic() < _unmetered_until.get(_target(self.redis), 0.0):
            return None
        wait_s = class_wait if wait_s is None else wait_s
        token = uuid.uuid4().hex
        deadline = time.monotonic() + wait_s
        while True:
            try:
                wait = self._try(token, rate, concurrency, lease_s)
            except redis_lib.RedisError as exc:
                _warn_unmetered(self.redis, self.backend_id, exc)
                return None
            if wait == 0.0:
                return token if concurrency else None
            pause = SLOT_RECHECK_S if wait < 0 else wait
            pause *= random.uniform(1.0, 1.5)  # waiters woken together do not all ask at once
            left = deadline - time.monotonic()
            if pause > left:
                retry_in = max(pause, SLOT_RECHECK_S)
                raise RapiThrottled(f"backend {self.backend_id}: its request budget ({self.describe(caller)}) "
                                    f"had no room within {wait_s:g}s", retry_in=retry_in)
            time.sleep(pause)

    def release(self, token: str | None) -> None:
        if token is None:
            return
        try:
            self.redis.zrem(self.keys[1], token)
        except redis_lib.RedisError as exc:  # the lease expires by itself
            _warn_unmetered(self.redis, self.backend_id, exc)

    @contextlib.contextmanager
    def slot(self, lease_s: float) -> Iterator[None]:
        """Hold room for one request (the lease outlives it only if its worker dies)."""
        token = self.acquire(lease_s)
        try:
            yield
        finally:
            self.release(token)

    def draw_retry(self) -> None:
        """A rate token for a read urllib3 is about to try again (its slot is already held)."""
        self.acquire(0, slot=False, wait_s=min(RETRY_WAIT_S, self.limits.for_caller(_caller.get())[2]))

    def describe(self, caller: str | None = None) -> str:
        rate, concurrency, _ = self.limits.for_caller(caller or _caller.get())
        return f"{rate or 'unlimited'}/s, {concurrency or 'unlimited'} at once for {caller or _caller.get()} calls"


def for_backend(redis: redis_lib.Redis, backend, settings) -> Budget | None:
    """The budget of a backend row, or None when it has no limit."""
    limits = limits_for(backend, settings)
    return None if limits.unlimited else Budget(redis, backend.id, limits)


UNMETERED_S = 10.0  # after Redis failed to answer, requests go unmetered this long before it is asked again
_unmetered_until: dict[tuple, float] = {}  # per Redis server and database this process talks to


def _target(client: redis_lib.Redis) -> tuple:
    kwargs = client.connection_pool.connection_kwargs
    return (kwargs.get("host"), kwargs.get("port"), kwargs.get("path"), kwargs.get("db"))


def _warn_unmetered(client: redis_lib.Redis, backend_id: int, exc: Exception) -> None:
    """One line per UNMETERED_S per process while a Redis does not answer; meanwhile no
    request waits on its timeouts (another Redis, another deployment's, is still asked)."""
    now = time.monotonic()
    target = _target(client)
    if now >= _unmetered_until.get(target, 0.0):
        _unmetered_until[target] = now + UNMETERED_S
        log.warning("backend=%s request budget not metered, Redis does not answer: %s", backend_id,
                    type(exc).__name__)
