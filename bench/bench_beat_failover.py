"""Beat failover: two real `celery beat` processes (celery-redbeat's leader lock, docs/beat.md)
on a redis-server of their own; the leader is SIGKILLed `--kills` times (a new standby started
in its place each time) and the table shows the takeover time (SIGKILL to the standby's first
published periodic task), the duplicate ticks per entry (two publishes of one entry less than
half a period apart) and the ticks missed outside a takeover; the ticks that fell inside a
takeover's gap are shown as folded into its one catch-up run.

    .venv/bin/python bench/bench_beat_failover.py [--kills 5] [--settle 8] [--lock-timeout 3] [--max-loop 1]

The bound is --lock-timeout + --max-loop (BEAT_LOCK_TIMEOUT_S + BEAT_MAX_LOOP_S). What is
counted is what reached the broker (tests/drills/beat_failover.py reads the `periodic` queue
off Redis; no worker runs), so a worker's own timing does not enter the figures.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kills", type=int, default=5)
    parser.add_argument("--settle", type=float, default=8.0, help="seconds a leader publishes before its kill")
    parser.add_argument("--lock-timeout", type=int, default=3, help="BEAT_LOCK_TIMEOUT_S")
    parser.add_argument("--max-loop", type=float, default=1.0, help="BEAT_MAX_LOOP_S")
    args = parser.parse_args()

    from tests.drills.beat_failover import failover, summary, takeover_bound
    from tests.harness.services import RedisServer

    with tempfile.TemporaryDirectory(prefix="bench-beat-") as tmp:
        redis = RedisServer(Path(tmp) / "redis").start()
        started = time.monotonic()
        try:
            run = failover(redis, Path(tmp) / "beats", kills=args.kills, settle_s=args.settle,
                           lock_timeout_s=args.lock_timeout, max_loop_s=args.max_loop)
        finally:
            redis.stop()
    result = summary(run)
    lo, med, hi = result["takeover"]
    bound = takeover_bound(args.lock_timeout, args.max_loop)
    print(f"\nbeat failover: 2 beats, {args.kills} SIGKILLs of the leader, BEAT_LOCK_TIMEOUT_S={args.lock_timeout} "
          f"BEAT_MAX_LOOP_S={args.max_loop} (bound {bound:g}s), {time.monotonic() - started:.0f}s in all\n")
    print("| takeover min (s) | median (s) | max (s) | within bound |")
    print("| ---: | ---: | ---: | --- |")
    print(f"| {lo:.2f} | {med:.2f} | {hi:.2f} | {'yes' if hi <= bound else 'no'} |")
    print("\n| entry (task) | period (s) | published | duplicate ticks | missed ticks | folded into a catch-up |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    for task, period in run.periods.items():
        print(f"| {task.rsplit('.', 1)[-1]} | {period:g} | {result['published'][task]} | {result['duplicates'][task]} "
              f"| {result['missed'][task]} | {result['folded'][task]} |")
    overlap = run.publishers_overlap()
    print(f"\npublished by a beat not leading then: {len(overlap)}" + (f" ({overlap[:3]})" if overlap else ""))
    return 0 if not overlap and not any(result["duplicates"].values()) else 1


if __name__ == "__main__":
    sys.exit(main())
