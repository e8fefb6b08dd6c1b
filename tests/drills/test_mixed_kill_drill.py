"""Mixed kill drill: 500 operations of every kind (creates, start, shutdown, reboot, resize,
destroys) while the worker is SIGKILLed at random moments, whole or one child at a time,
and restarted; beat re-drives what stalled. Every operation ends, as asked, and no
instance is duplicated on the clusters."""
from __future__ import annotations

import os
import random
import signal
import time
from collections import Counter

import pytest

from tests.conftest import Worker, record_drill
from tests.drills.mixed_load import MixedLoad, children, start_beat, stop_beat
from tests.drills.scale import scaled

pytestmark = [pytest.mark.slow, pytest.mark.integration]

OPERATIONS = scaled(500, 300)
IN_FLIGHT_MAX = 16  # operations outstanding at once
# A kill after a random number of operations issued (so a slow machine gets as many),
# at whatever step the operations in flight have reached: every third one a single child.
KILL_EVERY_OPS = (12, 36)
STALL_S = 5



@pytest.mark.timeout(scaled(1800, 540))
@pytest.mark.parametrize("stack", ["postgresql"], indirect=True)
def test_mixed_operations_survive_random_worker_kills(drill_stack, tmp_path):
    stack = drill_stack
    seed = int(os.environ.get("DRILL_SEED", time.time_ns() % 10**9))  # DRILL_SEED=<seed> replays a run
    rng = random.Random(seed)
    env = {**stack.env, "OPERATION_STALL_S": str(STALL_S)}

    def new_worker() -> Worker:
        return Worker(env, tmp_path / "worker.log", concurrency=4, name="mixed-victim").start()

    load = MixedLoad(stack, "mixed", rng)
    kills = Counter()
    beat = start_beat(env, tmp_path)
    worker = new_worker()
    started = time.monotonic()
    try:
        next_kill = rng.randint(*KILL_EVERY_OPS)
        give_up = time.monotonic() + scaled(1200, 360)
        while len(load.issued) < OPERATIONS and time.monotonic() < give_up:
            load.refresh()
            if len(load.issued) >= next_kill:
                pool = children(worker.proc.pid)
                if pool and sum(kills.values()) % 3 == 2:  # one prefork child: its task is rejected and requeued
                    os.kill(rng.choice(pool), signal.SIGKILL)
                    kills["child"] += 1
                else:  # the whole worker, parent and children: its unacked messages wait for beat
                    os.killpg(worker.proc.pid, signal.SIGKILL)
                    worker.proc.wait()
                    kills["whole"] += 1
                    worker = new_worker()
                next_kill = len(load.issued) + rng.randint(*KILL_EVERY_OPS)
            while len(load.in_flight) < IN_FLIGHT_MAX and len(load.issued) < OPERATIONS:
                if load.issue_one() is None:
                    break
            time.sleep(0.1)
        issuing = time.monotonic() - started
        lost = load.wait_all(timeout=scaled(300, 90))
        load_s = time.monotonic() - started
        checked = load.cluster_check()
        # Leave the clusters as found for the drills that follow: destroy what is left (not counted).
        for server in load.idle():
            stack.client.delete(f"/api/v1/servers/{server.server_id}", headers=stack.admin_headers)
    finally:
        worker.stop()
        stop_beat(beat)

    kinds = load.summary()
    ok = sum(1 for i in load.issued.values() if i.ok)
    bad = Counter(f"{i.kind}: {i.why}" for i in load.issued.values() if i.ended and not i.ok)
    record_drill(
        f"{len(load.issued)} mixed operations, worker SIGKILLed at random", len(load.issued), ok, len(lost),
        checked["duplicated"], load_s,
        extra=(f"{kills['whole']} whole-worker kills, {kills['child']} child kills; "
               + ", ".join(f"{n} {k}" for k, n in sorted(kinds.items()))
               + f"; issued in {issuing:.0f}s; {load.conflicts} 409s retried; seed {seed}"),
    )
    assert sum(kills.values()) >= OPERATIONS // KILL_EVERY_OPS[1] and kills["whole"] >= 3 and kills["child"] >= 1, kills
    assert not lost, load.describe(lost)
    assert not bad, bad
    assert ok == len(load.issued) == OPERATIONS
    assert checked["duplicated"] == 0, checked
    assert (checked["missing"], checked["left"], checked["wrong_state"]) == (0, 0, 0), checked
    assert all(kinds[k] for k in ("create", "start", "shutdown", "reboot", "resize", "destroy")), kinds
