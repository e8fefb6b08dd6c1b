"""Celery beat with a leader lock in Redis, so that any number of beats may run (docs/beat.md).

celery-redbeat's scheduler keeps the schedule and each entry's last run in Redis and lets only
the beat holding its lock send: a standby blocks in `beat_init` until the lock is free. Each
tick renews the lock before it sends anything, so a beat that lost the lock sends nothing more.

`LeaderScheduler` adds what redbeat leaves to a process supervisor: instead of dying, a beat
that lost its lock (it stalled past the lock's timeout, or Redis restarted without its data)
goes back to standing by, and a beat that cannot reach Redis tries again each loop. On taking
the lock again it reinstalls the schedule, which a Redis that lost its data no longer has.
"""
from __future__ import annotations

import redis.exceptions
from redbeat import RedBeatScheduler
from redbeat.schedulers import LUA_EXTEND_TO_SCRIPT, get_redis, logger


class LeaderScheduler(RedBeatScheduler):
    def __init__(self, app, *args, **kwargs):
        super().__init__(app, *args, **kwargs)
        # The leader renews the lock once per loop: it must outlive two loops, or it lapses
        # between two renewals of a healthy leader and a standby takes over for nothing.
        if self.lock_key and self.lock_timeout < 2 * self.max_interval:
            raise ValueError(f"BEAT_LOCK_TIMEOUT_S ({self.lock_timeout}) must be at least twice "
                             f"BEAT_MAX_LOOP_S ({self.max_interval})")

    def tick(self, *args, **kwargs):
        try:
            if self.lock_key and self.lock is None:
                self._lead()  # blocks while another beat holds the lock
            return super().tick(*args, **kwargs)
        except redis.exceptions.LockError:
            logger.error("beat: Lost the lock %s (it expired or Redis lost it); standing by", self.lock_key)
            self.lock = None
            return 0.0
        except (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError) as exc:
            logger.warning("beat: Redis unreachable (%s); trying again in %.1fs", exc, self.max_interval)
            return self.max_interval

    def _lead(self) -> None:
        """Take the lock as redbeat's `beat_init` does, then reinstall the schedule."""
        client = get_redis(self.app)
        lock = client.lock(self.lock_key, timeout=self.lock_timeout, sleep=self.max_interval)
        lock.lua_extend = client.register_script(LUA_EXTEND_TO_SCRIPT)
        logger.info("beat: Waiting for the lock %s", self.lock_key)
        lock.acquire()
        self.lock = lock
        logger.info("beat: Acquired lock")
        self.setup_schedule()
