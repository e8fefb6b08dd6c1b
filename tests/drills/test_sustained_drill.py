"""Sustained drill: mixed operations at a fixed rate for a while ("30 minutes" of production
scaled down: 3 minutes under `make drills`, 40 seconds in CI), with the memory of every
process of the stack and the broker's queue lengths sampled every second. No process
grows without bound, no queue does, and every operation still ends as asked."""
from __future__ import annotations

import json
import os
import random
import statistics
import threading
import time

import pytest
import redis

from tests.conftest import Worker, record_drill
from tests.drills.mixed_load import (MixedLoad, children, descendants, growth, queue_lengths, rss_kib, start_beat,
                                     stop_beat)
from tests.drills.scale import scaled

pytestmark = [pytest.mark.slow, pytest.mark.integration]

DURATION_S = scaled(180, 40)
RATE = 2.0  # operations per second, well under what one worker of 4 processes sustains
SAMPLE_EVERY_S = 1.0
# Growth allowed over the measured window (after a warm-up third): the larger of a share
# of the process's mean and a floor for allocator and GC noise. One that would double a
# process within the run (30 minutes' equivalent) fails. The worker's prefork children
# are the exception: each grows by some 30 MiB over its first ~200 operations, most of it
# outside Python's heap, then holds flat (one child: 67 MiB fresh, 89 after 80 operations,
# 95 after 160, 96 after 240); with 4 children at 2/s that warm-up spans even the full
# form, so they may grow up to that much each, and no more.
GROWTH_SHARE = 0.2
GROWTH_FLOOR_KIB = scaled(8, 6) * 1024
CHILD_WARMUP_KIB = 40 * 1024
CONNECTIONS_GROWTH = 8  # PostgreSQL backends (client connections and its own) over the window
QUEUE_MAX = 100  # messages waiting in all queues together, at any moment
QUEUE_END_MAX = 3  # and once the load stopped and every operation ended (beat may have one due)



@pytest.mark.parametrize("stack", ["postgresql"], indirect=True)
def test_sustained_mixed_load_has_no_memory_or_queue_growth(drill_stack, postgres_server, tmp_path):
    stack = drill_stack
    seed = int(os.environ.get("DRILL_SEED", time.time_ns() % 10**9))  # DRILL_SEED=<seed> replays a run
    rng = random.Random(seed)
    env = {**stack.env, "OPERATION_STALL_S": "30", "RECONCILIATION_INTERVAL_MIN": "0.1"}
    beat = start_beat(env, tmp_path)
    worker = Worker(env, tmp_path / "worker.log", concurrency=4, name="sustained").start()
    processes = {
        "worker": lambda: [worker.proc.pid],
        "worker children": lambda: children(worker.proc.pid),
        "beat": lambda: [beat.pid],
        "redis": lambda: [stack.broker.proc.pid],
        "API+simulator (test process)": lambda: [os.getpid()],
        # Backends come and go with connections: a mean per process, and their count apart.
        "postgresql (per process)": lambda: [postgres_server.proc.pid, *descendants(postgres_server.proc.pid)],
    }
    connections: list[tuple[float, int]] = []
    broker = redis.Redis.from_url(stack.env["CELERY_BROKER_URL"])
    samples: list[tuple[float, dict[str, int], dict[str, int]]] = []
    stop = threading.Event()

    def sample() -> None:
        t0 = time.monotonic()
        while not stop.is_set():
            now, pids = time.monotonic() - t0, {name: find() for name, find in processes.items()}
            rss = {name: rss_kib(found) // (len(found) if name.endswith("(per process)") else 1)
                   for name, found in pids.items()}
            samples.append((now, rss, queue_lengths(broker)))
            connections.append((now, len(pids["postgresql (per process)"]) - 1))
            stop.wait(SAMPLE_EVERY_S)

    load = MixedLoad(stack, "steady", rng, pool=(10, 25))
    sampler = threading.Thread(target=sample, name="sampler", daemon=True)
    started = time.monotonic()
    skipped = 0
    try:
        sampler.start()
        tick = started
        while time.monotonic() - started < DURATION_S:
            load.refresh()
            if load.issue_one() is None:
                skipped += 1  # every server busy this tick: the rate holds, this one is not made up
            tick += 1 / RATE
            time.sleep(max(0.0, tick - time.monotonic()))
        lost = load.wait_all(timeout=60)
        time.sleep(2 * SAMPLE_EVERY_S)  # the queues as they are once the load is over
        stop.set()
        sampler.join(timeout=10)
        elapsed = time.monotonic() - started
        checked = load.cluster_check()
        for server in load.idle():  # leave the clusters as found for the drills that follow (not counted)
            stack.client.delete(f"/api/v1/servers/{server.server_id}", headers=stack.admin_headers)
    finally:
        stop.set()
        worker.stop()
        stop_beat(beat)

    with open(tmp_path / "samples.jsonl", "w") as out:  # for a look at the curves when it fails
        out.writelines(json.dumps({"t": t, "rss_kib": rss, "queues": q}) + "\n" for t, rss, q in samples)
    ok = sum(1 for i in load.issued.values() if i.ok)
    # Memory: the window after a warm-up third, while the load ran.
    loaded = [s for s in samples if s[0] <= DURATION_S]
    window = loaded[len(loaded) // 3:]
    grew = {name: growth([(t, rss[name]) for t, rss, _ in window]) for name in processes}
    mean = {name: statistics.fmean(rss[name] for _, rss, _ in window) for name in processes}
    allowed = {name: max(GROWTH_SHARE * mean[name], GROWTH_FLOOR_KIB) for name in processes}
    allowed["worker children"] = max(allowed["worker children"], CHILD_WARMUP_KIB * worker.concurrency)
    totals = [sum(v for k, v in q.items() if k != "unacked") for _, _, q in samples]
    peak = max(samples, key=lambda s: sum(v for k, v in s[2].items() if k != "unacked"))[2]
    end = totals[-1]
    mib = lambda kib: f"{kib / 1024:.0f}"  # noqa: E731
    record_drill(
        f"sustained mixed load {DURATION_S}s at {RATE:g}/s", len(load.issued), ok, len(lost), checked["duplicated"],
        elapsed,
        extra=("anon RSS MiB start→end (fit growth after warm-up): "
               + ", ".join(f"{name} {mib(samples[0][1][name])}→{mib(samples[-1][1][name])} ({grew[name] / 1024:+.1f})"
                           for name in processes)
               + f"; max queue {max(totals)} ({', '.join(f'{k} {v}' for k, v in peak.items())}), at end {end}; "
               + f"max unacked {max(q['unacked'] for _, _, q in samples)}; "
               + f"PostgreSQL processes {connections[0][1]}→{connections[-1][1]}; {len(samples)} samples; "
               + f"{skipped} ticks with every server busy; seed {seed}"),
    )
    assert not lost, load.describe(lost)
    assert ok == len(load.issued), [(i.op_id, i.kind, i.why) for i in load.issued.values() if not i.ok]
    assert len(load.issued) >= 0.5 * RATE * DURATION_S, (len(load.issued), skipped)
    assert checked["duplicated"] == 0 and (checked["missing"], checked["left"], checked["wrong_state"]) == (0, 0, 0), \
        checked
    assert len(window) >= 10, len(samples)
    leaking = {name: f"{grew[name] / 1024:+.1f} MiB over {window[-1][0] - window[0][0]:.0f}s "
                     f"(allowed {allowed[name] / 1024:.1f})"
               for name in processes if grew[name] > allowed[name]}
    assert not leaking, leaking
    in_window = [c for c in connections if window[0][0] <= c[0] <= window[-1][0]]
    assert growth(in_window) <= CONNECTIONS_GROWTH, in_window
    assert max(totals) <= QUEUE_MAX, peak
    assert end <= QUEUE_END_MAX, samples[-1][2]
