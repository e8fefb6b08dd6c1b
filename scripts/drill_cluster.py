#!/usr/bin/env python3
"""The multi-host drill's topology on this machine (docs/multihost-drill.md); needs root.

    scripts/drill_cluster.py run [--short]   # the drill (full form unless --short), its table
    scripts/drill_cluster.py up              # build the 14 hosts and keep them until Ctrl-C
    scripts/drill_cluster.py --teardown      # remove what a killed run left (mh-* namespaces,
                                             # mhv-* veths, the mh-br0 bridge, their processes)

`make drill-cluster` runs `run`.
"""
from __future__ import annotations

import argparse
import fcntl
import os
import signal
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def teardown(force: bool) -> int:
    from tests.multihost.cluster import LOCK_PATH, teardown_stale

    with open(LOCK_PATH, "w") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            if not force:
                print(f"a drill is running (it holds {LOCK_PATH}); --force to remove its hosts anyway",
                      file=sys.stderr)
                return 1
        removed = teardown_stale()
    print("\n".join(removed) if removed else "nothing to remove")
    return 0


def up() -> int:
    from tests.multihost.cluster import Cluster

    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    with tempfile.TemporaryDirectory(prefix="multihost-") as root, Cluster(root).up() as cluster:
        for host in cluster.hosts.values():
            print(f"  {host.name:8} {host.ip:14} netns {host.ns:11} {host.dir}")
        print(f"  API: {', '.join(cluster.api_urls)} (Authorization: {cluster.admin_headers['Authorization']})")
        steps = ", ".join(f"{k} {v:.0f}s" for k, v in cluster.timings.items())
        print(f"  up in {cluster.up_seconds:.0f}s; side by side: {steps}")
        print("  Ctrl-C tears it all down.", flush=True)
        stop.wait()
    return 0


def drill(short: bool) -> int:
    env = {**os.environ, "DRILL_SCALE": "short" if short else "full"}
    return subprocess.call([sys.executable, "-m", "pytest", "tests/multihost", "-s", "-q", "-p", "no:cacheprovider"],
                           cwd=ROOT, env=env)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("command", nargs="?", choices=("run", "up"), default="run")
    parser.add_argument("--short", action="store_true", help="run: the short form (one fault), as in CI")
    parser.add_argument("--teardown", action="store_true", help="remove a killed run's leftovers and exit")
    parser.add_argument("--force", action="store_true", help="--teardown even while a drill holds the lock")
    args = parser.parse_args()
    if os.geteuid() != 0:
        parser.error("needs root (ip netns, bridges)")
    if args.teardown:
        return teardown(args.force)
    return up() if args.command == "up" else drill(args.short)


if __name__ == "__main__":
    sys.exit(main())
