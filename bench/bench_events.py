"""Event ingestion per second through a real worker, beside a bare no-op task.

Both are published the way the node agent publishes (its Emitter, by task name, to the
`events` queue) on the same redis-server and consumed by the same worker process in one
run, so the ratio says what applying an event costs (parse, lock the server's row, the
state function, commit, count), whatever the machine's speed. The events are realistic
histories (creates with install progress and the NIC hook, then stop/start/reboot jobs,
failures, removals) for a few hundred servers, in the order an agent sends them. Half of
them go one task per event, half as the agent sends a burst (spooled by its scan, then
drained in batches of up to --batch, one task each).

    .venv/bin/python bench/bench_events.py [--events 3000] [--noops 3000] [--rounds 3] [--concurrency 4] [--batch 50]
                                           [--database sqlite|postgresql] [--json PATH]
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def wait_until(done, total: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while done() < total:
        if time.monotonic() > deadline:
            raise SystemExit(f"timed out: {done()} of {total} done after {timeout}s")
        time.sleep(0.02)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=3000, help="events to apply (20 per server)")
    parser.add_argument("--noops", type=int, default=3000)
    parser.add_argument("--rounds", type=int, default=3, help="baseline and product alternately; medians shown")
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--batch", type=int, default=50, help="the agent's batch size (NODE_AGENT_BATCH)")
    parser.add_argument("--database", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    args = parser.parse_args()

    import redis

    import tests.events.test_replay as histories
    from bench.stack import BenchStack

    servers = max(1, args.events // histories.EVENTS_PER_SERVER)
    histories.SERVERS = servers
    stream = sorted(histories.generate(seed=1), key=lambda ke: ke[1]["timestamp"])
    warmup_servers = 5
    with tempfile.TemporaryDirectory(prefix="bench-events-") as tmp, BenchStack(Path(tmp), args.concurrency,
                                                                                 database=args.database) as stack:
        from bench.noop_tasks import NOOP
        from node_agent.emitter import Emitter
        from node_agent.spool import Spool

        histories.insert_servers(stack.db_url)
        results = redis.Redis.from_url(stack.settings.result_backend)
        counts = redis.Redis.from_url(stack.settings.redis_url)
        emitter = Emitter(stack.settings.broker_url)

        def noop_done() -> int:
            return results.dbsize()  # one result key per finished no-op; event tasks keep none

        def events_done() -> int:
            return sum(int(v) for v in counts.hgetall("events:counts").values())

        def send_noops(n: int) -> None:
            for i in range(n):
                emitter.publish(NOOP, [{"i": i}], ignore_result=False)

        # Warm up both paths once so connection set-up is not measured.
        send_noops(20)
        wait_until(noop_done, 20, 60)
        warm = [ke for ke in stream if int(ke[1]["instance"][4:]) < histories.FIRST_ID + warmup_servers]
        for kind, event in warm:
            emitter.send(kind, event)
        wait_until(events_done, len(warm), 60)
        measured = [ke for ke in stream if int(ke[1]["instance"][4:]) >= histories.FIRST_ID + warmup_servers]

        def bare_round(n: int) -> float:
            base = noop_done()
            start = time.perf_counter()
            send_noops(n)
            wait_until(lambda: noop_done() - base, n, 300)
            return n / (time.perf_counter() - start)

        def product_round(events: list) -> float:
            base = events_done()
            start = time.perf_counter()
            for kind, event in events:
                emitter.send(kind, event)
            wait_until(lambda: events_done() - base, len(events), 300)
            return len(events) / (time.perf_counter() - start)

        spool = Spool(Path(tmp) / "agent-spool.sqlite")

        def batched_round(events: list) -> float:
            """As the agent sends a burst: spooled by its scan, drained in batches."""
            base = events_done()
            start = time.perf_counter()
            spool.put_many([(kind, event, None) for kind, event in events])
            spool.drain_batches(emitter.send_many, size=args.batch)
            wait_until(lambda: events_done() - base, len(events), 300)
            return len(events) / (time.perf_counter() - start)

        # Alternate rounds so load from elsewhere hits both alike; each round's events are whole
        # histories of its own servers, in the order the agent sends them.
        rounds = max(args.rounds, 1)
        noops_per_round = max(args.noops // rounds, 1)
        bares, products, batched = [], [], []
        for r in range(rounds):
            events = [ke for ke in measured if int(ke[1]["instance"][4:]) % (2 * rounds) == 2 * r]
            in_batches = [ke for ke in measured if int(ke[1]["instance"][4:]) % (2 * rounds) == 2 * r + 1]
            if r % 2 == 0:
                bares.append(bare_round(noops_per_round))
                products.append(product_round(events))
                batched.append(batched_round(in_batches))
            else:
                batched.append(batched_round(in_batches))
                products.append(product_round(events))
                bares.append(bare_round(noops_per_round))
        bare, product, batch = statistics.median(bares), statistics.median(products), statistics.median(batched)
        outcomes = Counter({k.decode(): int(v) for k, v in counts.hgetall("events:counts").items()})
        emitter.close()

    kinds = Counter(kind for kind, _ in measured)
    print(f"machine: {platform.machine()} {platform.processor() or ''} {os.cpu_count()} cpus, "
          f"python {platform.python_version()}; worker concurrency {args.concurrency}, "
          f"{'SQLite' if args.database == 'sqlite' else 'PostgreSQL'}, Redis broker; "
          f"{rounds} alternating rounds, medians; load average {os.getloadavg()[0]:.1f}")
    print()
    print("| measure | count in all | per second (median) | each round | ratio to baseline |")
    print("| --- | ---: | ---: | ---: | ---: |")
    print(f"| bare no-op task on the events queue (baseline) | {noops_per_round * rounds} | {bare:.1f} "
          f"| {' / '.join(f'{x:.1f}' for x in bares)} | 1.00 |")
    print(f"| event applied, one task each (agent → broker → worker → database) | {len(measured) // 2} | {product:.1f} "
          f"| {' / '.join(f'{x:.1f}' for x in products)} | {product / bare:.2f} |")
    print(f"| event applied, the agent's batches of up to {args.batch} (spool → one task per batch) "
          f"| {len(measured) - len(measured) // 2} | {batch:.1f} "
          f"| {' / '.join(f'{x:.1f}' for x in batched)} | {batch / bare:.2f} |")
    print()
    print(f"events by kind: {dict(kinds)}; outcomes (warm-up included): {dict(outcomes)}")
    if args.json:
        args.json.write_text(json.dumps({
            "bench": "events", "database": args.database, "events": len(measured), "noops": noops_per_round * rounds, "rounds": rounds,
            "concurrency": args.concurrency, "baseline_per_s": bare, "product_per_s": product, "ratio": product / bare,
            "baseline_rounds": bares, "product_rounds": products,
            "batched_per_s": batch, "batched_ratio": batch / bare, "batched_rounds": batched, "batch": args.batch, "kinds": dict(kinds), "outcomes": dict(outcomes)},
            indent=2))


if __name__ == "__main__":
    main()
