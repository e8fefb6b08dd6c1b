"""End-to-end creates per second through the stack, beside a bare four-step Celery chain.

Both run on the same redis-server and the same worker process in one run, alternately
for a few rounds (so load from elsewhere hits both alike; medians shown), so the ratio
says what the product's own work costs, whatever the machine's speed.

    .venv/bin/python bench/bench_creates.py [--creates 60] [--chains 60] [--rounds 3] [--database sqlite|postgresql]
                                            [--json PATH]
"""
from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--creates", type=int, default=60, help="creates per round")
    parser.add_argument("--chains", type=int, default=60, help="bare chains per round")
    parser.add_argument("--rounds", type=int, default=3, help="baseline and product alternately; medians shown")
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--job-duration", type=float, default=0.0, help="simulated Ganeti job time")
    parser.add_argument("--database", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    args = parser.parse_args()

    from bench.stack import BenchStack

    bares, products, states = [], [], {}
    with tempfile.TemporaryDirectory(prefix="bench-creates-") as tmp, \
            BenchStack(Path(tmp), args.concurrency, args.job_duration, database=args.database) as stack:
        from celery import chain

        from bench.noop_tasks import NOOP

        def bare_chain():
            """Four no-op steps on the stack's own Celery app, signed as the product's chain is."""
            return chain(*(stack.celery.signature(NOOP, immutable=True) for _ in range(4)))

        # Warm up both paths once so connection set-up is not measured.
        bare_chain().apply_async().get(timeout=30)
        stack.create_and_wait(2, prefix="warm")

        def bare_round() -> float:
            start = time.perf_counter()
            results = [bare_chain().apply_async() for _ in range(args.chains)]
            for result in results:
                result.get(timeout=120)
            rate = args.chains / (time.perf_counter() - start)
            # Drop the results while the result backend still runs: an AsyncResult collected after
            # the redis-server stopped retries its connection for 20 s in __del__, one after another.
            del results, result
            gc.collect()
            return rate

        def product_round(r: int) -> float:
            start = time.perf_counter()
            final = stack.create_and_wait(args.creates, prefix=f"r{r}-")
            rate = args.creates / (time.perf_counter() - start)
            for state, count in final.items():
                states[state] = states.get(state, 0) + count
            return rate

        for r in range(max(args.rounds, 1)):
            if r % 2 == 0:
                bares.append(bare_round())
                products.append(product_round(r))
            else:
                products.append(product_round(r))
                bares.append(bare_round())

    bare, product = statistics.median(bares), statistics.median(products)
    rounds = len(bares)
    print(f"machine: {platform.machine()} {platform.processor() or ''} {os.cpu_count()} cpus, "
          f"python {platform.python_version()}; worker concurrency {args.concurrency}, "
          f"simulated job time {args.job_duration}s, poll interval {stack.poll_interval}s, "
          f"{'SQLite' if args.database == 'sqlite' else 'PostgreSQL'}; "
          f"{rounds} alternating rounds, medians; load average {os.getloadavg()[0]:.1f}")
    print()
    print("| measure | count per round | per second (median) | each round | ratio to baseline |")
    print("| --- | ---: | ---: | ---: | ---: |")
    print(f"| bare 4-step chain of no-op tasks (baseline) | {args.chains} | {bare:.1f} "
          f"| {' / '.join(f'{x:.1f}' for x in bares)} | 1.00 |")
    print(f"| end-to-end create (API → ACTIVE) | {args.creates} | {product:.1f} "
          f"| {' / '.join(f'{x:.1f}' for x in products)} | {product / bare:.2f} |")
    print()
    print(f"final states of the creates: {states}")
    if args.json:
        args.json.write_text(json.dumps({
            "bench": "creates", "database": args.database, "creates": args.creates * rounds, "chains": args.chains * rounds, "rounds": rounds,
            "concurrency": args.concurrency, "job_duration": args.job_duration, "poll_interval": stack.poll_interval,
            "baseline_per_s": bare, "product_per_s": product, "ratio": product / bare, "baseline_rounds": bares,
            "product_rounds": products, "states": states}, indent=2))
    if states.get("BUILD") or sum(states.values()) != args.creates * rounds:
        raise SystemExit(f"some creates did not finish: {states}")


if __name__ == "__main__":
    main()
