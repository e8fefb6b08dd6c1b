"""End-to-end creates per second through the stack, beside a bare four-step Celery chain.

Both run on the same redis-server and the same worker process in one run, so the
ratio says what the product's own work costs, whatever the machine's speed.

    .venv/bin/python bench/bench_creates.py [--creates 100] [--chains 100]
"""
from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--creates", type=int, default=100)
    parser.add_argument("--chains", type=int, default=100)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--job-duration", type=float, default=0.0, help="simulated Ganeti job time")
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    args = parser.parse_args()

    from bench.stack import BenchStack

    with tempfile.TemporaryDirectory(prefix="bench-creates-") as tmp, BenchStack(Path(tmp), args.concurrency, args.job_duration) as stack:
        from celery import chain

        from bench.noop_tasks import noop

        # Warm up both paths once so connection set-up is not measured.
        chain(*(noop.si() for _ in range(4))).apply_async().get(timeout=30)
        stack.create_and_wait(2)

        start = time.perf_counter()
        results = [chain(*(noop.si() for _ in range(4))).apply_async() for _ in range(args.chains)]
        for result in results:
            result.get(timeout=120)
        bare = args.chains / (time.perf_counter() - start)
        # Drop the results while the result backend still runs: an AsyncResult collected after the
        # redis-server stopped retries its connection for 20 s in __del__, one after another.
        del results, result
        gc.collect()

        start = time.perf_counter()
        states = stack.create_and_wait(args.creates)
        product = args.creates / (time.perf_counter() - start)

    print(f"machine: {platform.machine()} {platform.processor() or ''} {os.cpu_count()} cpus, "
          f"python {platform.python_version()}; worker concurrency {args.concurrency}, "
          f"simulated job time {args.job_duration}s, poll interval {stack.poll_interval}s")
    print()
    print("| measure | count | per second | ratio to baseline |")
    print("| --- | ---: | ---: | ---: |")
    print(f"| bare 4-step chain of no-op tasks (baseline) | {args.chains} | {bare:.1f} | 1.00 |")
    print(f"| end-to-end create (API → ACTIVE) | {args.creates} | {product:.1f} | {product / bare:.2f} |")
    print()
    print(f"final states of the creates: {states}")
    if args.json:
        args.json.write_text(json.dumps({
            "bench": "creates", "creates": args.creates, "chains": args.chains, "concurrency": args.concurrency,
            "job_duration": args.job_duration, "poll_interval": stack.poll_interval, "baseline_per_s": bare,
            "product_per_s": product, "ratio": product / bare, "states": states}, indent=2))


if __name__ == "__main__":
    main()
