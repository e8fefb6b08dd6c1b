"""Beat failover drill: two real `celery beat` processes on the harness's Redis; exactly one
publishes the periodic tasks; the active one is SIGKILLed and the standby takes over within
BEAT_LOCK_TIMEOUT_S + BEAT_MAX_LOOP_S, with no entry published twice for one tick and none
missed beyond the takeover gap (tests/drills/beat_failover.py counts what reaches the broker)."""
from __future__ import annotations

import json
import signal
import time

import pytest

from tests.conftest import record_drill
from tests.drills.beat_failover import SLACK_S, BeatPair, failover, summary, takeover_bound
from tests.drills.scale import scaled

# In the multi-host drill's group: not beside its fourteen hosts' processes, whose load can stall a beat
# past its lock (which this drill then sees as a handover, not a kill's).
pytestmark = [pytest.mark.slow, pytest.mark.integration, pytest.mark.xdist_group("multihost")]


def test_beat_failover(redis_server, tmp_path):
    kills = scaled(full=5, short=1)
    started = time.monotonic()
    run = failover(redis_server, tmp_path, kills=kills, settle_s=scaled(full=12, short=8))
    bound = takeover_bound()
    result = summary(run)
    takeovers = [k["takeover_s"] for k in run.kills]
    ticks = sum(result["published"].values())
    duplicated = sum(result["duplicates"].values())
    missed = sum(result["missed"].values())
    lo, med, hi = result["takeover"]
    record_drill(f"beat failover: 2 beats, {kills} SIGKILL of the leader", ticks, ticks - duplicated, missed,
                 duplicated, time.monotonic() - started,
                 extra=f"takeover {lo:.1f}/{med:.1f}/{hi:.1f}s min/median/max (bound {bound:.0f}s + "
                       f"{SLACK_S:.0f}s slack); ticks folded into the catch-up run: "
                       f"{sum(result['folded'].values())}")
    assert len(run.kills) == kills
    assert all(n > 0 for n in result["published"].values()), result["published"]  # every entry ran
    assert run.publishers_overlap() == []  # exactly one beat publishes at a time
    assert max(takeovers) <= bound + SLACK_S, takeovers
    assert result["duplicates"] == {task: 0 for task in run.periods}, result["duplicates"]
    assert result["missed"] == {task: 0 for task in run.periods}, result["missed"]
    assert run.late_after_kill(bound) == []


def test_beat_schedule_follows_the_settings_and_survives_a_graceful_stop(redis_server, tmp_path):
    """The schedule redbeat keeps in Redis is the Settings' (broker.beat_schedule): a changed
    period is what the next start stores and uses; a stopped leader hands over its lock at once."""
    pair = BeatPair(redis_server, tmp_path, dbs=(8, 9, 10))
    prefix = pair.env["BEAT_KEY_PREFIX"]

    def stored_period(entry: str) -> float:
        return json.loads(pair.store.hget(prefix + entry, "definition"))["schedule"]["every"]

    try:
        first = pair.start_beat()
        pair.wait_publish(first, timeout=60)
        assert stored_period("reconcile-servers") == 3.0
        assert pair.store.get(prefix + ":lock")  # the lock is held
        # SIGTERM: beat releases its lock, and the next beat (a longer reconciliation) takes it at once.
        pair.kill(first, signal.SIGTERM)
        assert pair.store.get(prefix + ":lock") is None
        pair.env["RECONCILIATION_INTERVAL_MIN"] = "0.1"
        since = time.monotonic()
        second = pair.start_beat()
        pair.wait_publish(second, since=since, timeout=60)
        assert stored_period("reconcile-servers") == 6.0
        time.sleep(14)
    finally:
        pair.close()
    times = [m.at for m in pair.published if m.pid == second and m.task == "orchestrator.periodic.reconcile_servers"]
    gaps = [b - a for a, b in zip(times, times[1:])]
    assert gaps and all(5.0 <= g <= 6.0 + SLACK_S for g in gaps), gaps


def test_a_beat_outlives_a_redis_that_restarts_without_its_data(tmp_path):
    """Redis comes back empty (no persistence): the leader's lock and the schedule are gone.
    The beat neither dies nor stops sending: it finds its lock lost, takes it again and
    reinstalls the schedule from its settings."""
    from tests.harness.services import RedisServer

    server = RedisServer(tmp_path / "redis").start()
    pair = BeatPair(server, tmp_path / "beats", dbs=(0, 1, 2))
    prefix = pair.env["BEAT_KEY_PREFIX"]
    try:
        beat = pair.start_beat()
        pair.wait_publish(beat, timeout=60)
        server.restart(keep_data=False)
        restarted = time.monotonic()
        pair.wait_publish(beat, since=restarted + 0.5, timeout=60)
        assert pair.store.exists(prefix + ":lock") and pair.store.exists(prefix + "recover-operations")
        assert pair.procs[beat].poll() is None
    finally:
        pair.close()
        server.stop()
    log = pair.logs[beat].read_text()
    assert "beat: Lost the lock" in log or "beat: Redis unreachable" in log, log[-3000:]
    assert log.count("beat: Acquired lock") == 2, log[-3000:]
