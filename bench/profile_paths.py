"""Where the time of the hot paths goes: cProfile over N creates through the API (in one
thread, Flask's test client, the same app gunicorn serves, SQLite file + redis-server),
printing the top functions by own time and by cumulative time.

    .venv/bin/python bench/profile_paths.py [--creates 2000] [--top 25] [--sort tottime,cumulative]

It measures CPU per request, which is what bounds the API on these 2-core machines; the
throughput under concurrency is bench_api.py's.
"""
from __future__ import annotations

import argparse
import cProfile
import io
import os
import pstats
import re
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

ADMIN_TOKEN = "bench-admin-token"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--creates", type=int, default=2000)
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--sort", default="tottime,cumulative")
    parser.add_argument("--ours", action="store_true", help="only the product's own functions (cumulative)")
    parser.add_argument("--callers", default="", help="also print who calls these functions (comma list of names)")
    args = parser.parse_args(argv)

    from tests.harness.services import RedisServer

    with tempfile.TemporaryDirectory(prefix="bench-profile-") as tmp_name:
        tmp = Path(tmp_name)
        broker = RedisServer(tmp / "redis").start()
        try:
            db_url = f"sqlite:///{tmp / 'bench.db'}"
            env = {"DATABASE_URL": db_url, "CELERY_BROKER_URL": broker.url(0),
                   "CELERY_RESULT_BACKEND": broker.url(1), "REDIS_URL": broker.url(2),
                   "ORCHESTRATOR_VAR_DIR": str(tmp), "ORCHESTRATOR_ADMIN_TOKEN": ADMIN_TOKEN,
                   "LOG_LEVEL": "WARNING"}
            from api.app import create_app
            from orchestrator import demo, migrate
            from orchestrator.db import session_scope
            from orchestrator.settings import Settings

            migrate.upgrade(db_url)
            with session_scope(db_url) as session:
                demo.seed(session, env=env)
            client = create_app(Settings.from_env({**os.environ, **env})).test_client()
            headers = {"Authorization": f"Bearer {ADMIN_TOKEN}"}

            def create(n: int) -> None:
                response = client.post("/api/v1/servers", json={"name": f"p-{n}", "flavor_id": 1, "image_id": 1},
                                       headers=headers)
                assert response.status_code == 202, response.json

            for n in range(50):  # warm up: imports, connections, caches
                create(-n - 1)
            t0 = time.perf_counter()
            for n in range(args.creates):
                create(args.creates + n)
            plain = time.perf_counter() - t0
            profile = cProfile.Profile()
            t0 = time.perf_counter()
            profile.enable()
            for n in range(args.creates):
                create(n)
            profile.disable()
            elapsed = time.perf_counter() - t0
        finally:
            broker.stop()

    print(f"{args.creates} creates through the API in one thread: {plain / args.creates * 1000:.2f} ms each "
          f"({elapsed / args.creates * 1000:.2f} ms under cProfile)")
    for key in args.sort.split(","):
        out = io.StringIO()
        pstats.Stats(profile, stream=out).strip_dirs().sort_stats(key).print_stats(args.top)
        print(f"\n## by {key}\n")
        print("\n".join(line for line in out.getvalue().splitlines()[4:] if line.strip()))
    if args.ours:
        out = io.StringIO()
        pstats.Stats(profile, stream=out).sort_stats("cumulative").print_stats(re.escape(str(ROOT)) + "/(orchestrator|api)/", args.top)
        print("\n## the product's own functions, by cumulative\n")
        print("\n".join(line.replace(str(ROOT) + "/", "") for line in out.getvalue().splitlines()[4:] if line.strip()))
    for name in filter(None, args.callers.split(",")):
        out = io.StringIO()
        pstats.Stats(profile, stream=out).strip_dirs().sort_stats("cumulative").print_callers(name)
        print(f"\n## callers of {name}\n")
        print("\n".join(line for line in out.getvalue().splitlines()[2:] if line.strip()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
