"""The product's performance table: every bench in bench/, each figure beside its baseline.

    .venv/bin/python bench/run_all.py            # the full run (`make bench`); writes bench/RESULTS.md
    .venv/bin/python bench/run_all.py --quick    # a smoke run with small sizes; writes nothing unless --output
    .venv/bin/python bench/run_all.py --only api,sim

Each bench runs in its own process (so its memory, services and ports are its own) and
writes its figures as JSON (`--json PATH`); every baseline is measured in the same bench
run as its product figure, because the machines these run on are shared and noisy, so the
ratio is the figure to read. The table is printed with the machine's description, and
written to bench/RESULTS.md with every bench's own detailed table below it.
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"

# name: (script, full-run arguments, quick-run arguments, what it measures)
BENCHES = {
    "api": ("bench_api.py", [], ["--seconds", "1.5", "--rounds", "1"],
            "API POST /api/v1/servers at 50 concurrent clients, beside a bare Flask route"),
    "api-pg": ("bench_api.py", ["--database", "postgresql"], ["--seconds", "1.5", "--rounds", "1", "--database",
                                                                 "postgresql"],
               "the same on PostgreSQL"),
    "creates": ("bench_creates.py", [], ["--creates", "10", "--chains", "10"],
                "end-to-end creates, beside a bare four-step Celery chain"),
    "creates-pg": ("bench_creates.py", ["--database", "postgresql"],
                   ["--creates", "10", "--chains", "10", "--database", "postgresql"], "the same on PostgreSQL"),
    "events": ("bench_events.py", [], ["--events", "400", "--noops", "300"],
               "event ingestion, beside a bare no-op task"),
    "events-pg": ("bench_events.py", ["--database", "postgresql"],
                  ["--events", "400", "--noops", "300", "--database", "postgresql"], "the same on PostgreSQL"),
    "reconcile": ("bench_reconcile.py", [], ["--sizes", "1000,5000"],
                  "reconciliation at 1k/10k/100k servers, and of 1k/10k networks and pools, over 10 simulated backends"),
    "ports": ("bench_ports.py", [], ["--seconds", "1.5", "--rounds", "1"],
              "API POST /api/v1/ports (an address drawn from a pool) beside POST /api/v1/servers"),
    "streams": ("bench_streams.py", [], ["--streams", "200", "--seconds", "1.5", "--rounds", "1"],
                "GET /api/v1/servers p99 with 1,000 event streams open beside none, 50 clients creating meanwhile"),
    "sim": ("bench_sim.py", [], ["--instances", "10000", "--seconds", "1", "--rounds", "1"],
            "the simulator's request rate, beside a bare werkzeug route"),
}


# --- the machine -------------------------------------------------------------------------

def _first(path: str, key: str, sep: str = ":") -> str | None:
    try:
        with open(path) as fh:
            for line in fh:
                if line.startswith(key):
                    return line.split(sep, 1)[1].strip().strip('"')
    except OSError:
        pass
    return None


def machine() -> dict[str, str]:
    cpu = _first("/proc/cpuinfo", "model name") or platform.processor() or platform.machine()
    mem_kib = _first("/proc/meminfo", "MemTotal")
    ram = f"{int(mem_kib.split()[0]) / 2**20:.1f} GiB" if mem_kib else "unknown"
    os_name = _first("/etc/os-release", "PRETTY_NAME", "=") or platform.system()
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True,
                                text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        commit = ""
    import sqlite3

    try:
        redis_version = subprocess.run(["redis-server", "--version"], capture_output=True, text=True,
                                       timeout=10).stdout.split()[2].removeprefix("v=")
    except (OSError, subprocess.SubprocessError, IndexError):
        redis_version = "?"
    return {
        "cpu": f"{cpu} ({platform.machine()})",
        "cores": str(os.cpu_count()),
        "ram": ram,
        "os": f"{os_name}, {platform.system()} {platform.release()}",
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "services": f"SQLite {sqlite3.sqlite_version}, redis-server {redis_version}",
        "date": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "commit": commit,
        "load": "{:.1f} / {:.1f} / {:.1f}".format(*os.getloadavg()),
    }


# --- running the benches ------------------------------------------------------------------

def run_bench(name: str, quick: bool, tmp: Path, timeout: float) -> dict:
    script, full_args, quick_args, _ = BENCHES[name]
    out = tmp / f"{name}.json"
    argv = [sys.executable, str(BENCH / script), *(quick_args if quick else full_args), "--json", str(out)]
    print(f"== {name}: {' '.join(argv[1:])}", file=sys.stderr, flush=True)
    t0 = time.monotonic()
    try:
        proc = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=timeout,
                              env={**os.environ, "PYTHONPATH": str(ROOT)})
        rc, stdout, stderr = proc.returncode, proc.stdout, proc.stderr
    except subprocess.TimeoutExpired as exc:
        rc, stdout, stderr = "timeout", exc.stdout or "", f"timed out after {timeout:.0f} s"
        stdout = stdout.decode() if isinstance(stdout, bytes) else stdout
    elapsed = time.monotonic() - t0
    data = json.loads(out.read_text()) if out.exists() else None
    status = "ok" if rc == 0 and data else f"FAILED (exit {rc})"
    print(f"   {name}: {status} in {elapsed:.0f} s", file=sys.stderr, flush=True)
    if status != "ok":
        sys.stderr.write(stdout[-3000:] + stderr[-3000:])
    return {"name": name, "rc": rc, "ok": status == "ok", "seconds": elapsed, "data": data,
            "stdout": stdout, "stderr": stderr}


# --- the table ----------------------------------------------------------------------------

def _n(value: float, digits: int = 0) -> str:
    return f"{value:,.{digits}f}"


def _db(data: dict) -> str:
    return "PostgreSQL" if data.get("database") == "postgresql" else "SQLite"


def _api_rows(out: list, key: str, api: dict | None, failed) -> None:
    """The create rows of one database (goals from the speed issue: throughput ≥ 0.7 of the
    bare route, p99 ≤ 1.5×)."""
    if not api:
        failed(key, f"API `POST /api/v1/servers` ({key})")
        return
    p, b, ratio = api["product"], api["baseline"], api["ratios"]
    label = f"API `POST /api/v1/servers`, {api['clients']} concurrent clients, {_db(api)}"
    base = "bare Flask route"
    out.append((f"{label}: latency p50", f"{_n(p['p50_ms'], 1)} ms", f"{_n(b['p50_ms'], 1)} ms ({base})",
                f"{ratio['p50']:.2f}", ""))
    out.append((f"{label}: latency p99", f"{_n(p['p99_ms'], 1)} ms", f"{_n(b['p99_ms'], 1)} ms ({base})",
                f"{ratio['p99']:.2f}", "≤ 1.5: " + ("met" if ratio["p99"] <= 1.5 else "**NOT met**")))
    memory = api.get("memory") or {}
    shown = f" (API {memory['product_api_mib']:.0f} MiB)" if memory else ""
    out.append((f"{label}: throughput{shown}", f"{_n(p['rps'])} req/s", f"{_n(b['rps'])} req/s ({base})",
                f"{ratio['rps']:.2f}", "≥ 0.7: " + ("met" if ratio["rps"] >= 0.7 else "**NOT met**")))
    if "cpu_ms" in p:
        out.append((f"{label}: the API workers' CPU per request", f"{p['cpu_ms']:.2f} ms",
                    f"{b['cpu_ms']:.2f} ms ({base})", f"{ratio['cpu']:.2f}", ""))


def rows(results: dict[str, dict]) -> list[tuple[str, str, str, str, str]]:
    """(measure, product, baseline, ratio, goal) per row; ratio = product / baseline."""
    out: list[tuple[str, str, str, str, str]] = []

    def failed(name: str, what: str) -> None:
        r = results.get(name)
        if r is not None:
            out.append((what, f"**failed** (exit {r['rc']})", "", "", ""))

    for key in ("api", "api-pg"):
        _api_rows(out, key, results.get(key, {}).get("data"), failed)


    for key in ("creates", "creates-pg"):
        creates = results.get(key, {}).get("data")
        if not creates:
            failed(key, f"end-to-end creates ({key})")
            continue
        out.append((f"end-to-end creates (API → ACTIVE, {creates['creates']} servers in {creates['rounds']} rounds, "
                    f"worker concurrency {creates['concurrency']}, {_db(creates)})",
                    f"{_n(creates['product_per_s'], 1)} /s",
                    f"{_n(creates['baseline_per_s'], 1)} /s (bare 4-step Celery chain)", f"{creates['ratio']:.2f}",
                    "≥ 0.5: " + ("met" if creates["ratio"] >= 0.5 else "**NOT met**")))

    for key in ("events", "events-pg"):
        events = results.get(key, {}).get("data")
        if not events:
            failed(key, f"event ingestion ({key})")
            continue
        batch = events.get("batched_per_s")
        shown = f"; in the agent's batches {_n(batch, 1)} /s ({batch / events['baseline_per_s']:.2f})" if batch else ""
        out.append((f"event ingestion (agent → broker → worker → database, {events['events']:,} events in "
                    f"{events['rounds']} rounds, {_db(events)}): one task per event{shown}",
                    f"{_n(events['product_per_s'], 1)} /s", f"{_n(events['baseline_per_s'], 1)} /s (bare no-op task)",
                    f"{events['ratio']:.2f}",
                    "≥ 0.6: " + ("met" if max(events["ratio"], (batch or 0) / events["baseline_per_s"]) >= 0.6
                                 else "**NOT met**") + (" (batches)" if batch else "")))

    rec = results.get("reconcile", {}).get("data")
    if rec:
        base = rec["baseline"]
        base_us = base["seconds_per_server"] * 1e6
        base_rss = rec["sizes"][0]["peak_rss_mib"]
        for size in rec["sizes"]:
            us = size["seconds_per_server"] * 1e6
            is_base = size["servers"] == base["servers"]
            out.append((f"reconciliation, {size['servers']:,} servers over {rec['backends']} backends: time per server",
                        f"{us:.0f} µs ({size['seconds']:.2f} s in all)",
                        f"{base_us:.0f} µs (per server at {base['servers']:,})" if not is_base else "(the baseline)",
                        f"{size['per_server_ratio']:.2f}", "at most linear: ratio ≲ 1" if not is_base else ""))
        for size in rec["sizes"][1:]:
            out.append((f"reconciliation, {size['servers']:,} servers: peak RSS",
                        f"{size['peak_rss_mib']:.0f} MiB", f"{base_rss:.0f} MiB (at {base['servers']:,})",
                        f"{size['peak_rss_mib'] / base_rss:.2f}", ""))
        goal = rec["goal"]
        if goal["servers"] >= 100_000:
            mb = goal["peak_rss_mib"] * 2**20 / 1e6
            last = rec["sizes"][-1]
            out.append((f"reconciliation goal, {goal['servers']:,} servers: time",
                        f"{goal['seconds']:.1f} s (the clusters' bulk answers alone: {last['bulk_only_s']:.1f} s)",
                        "30 s (the goal)", f"{goal['seconds'] / 30:.2f}",
                        "met" if goal["within_30s"] else "**NOT met**"))
            out.append((f"reconciliation goal, {goal['servers']:,} servers: peak RSS", f"{mb:.0f} MB",
                        "500 MB (the goal)", f"{mb / 500:.2f}", "met" if goal["within_500mb"] else "**NOT met**"))
        nets = rec.get("networks")
        if nets:
            base = nets["sizes"][0]
            for kind, what in (("networks", "network"), ("pools", "pool")):
                base_us = base["runs"][kind]["seconds"] / base["runs"][kind]["checked"] * 1e6
                for size in nets["sizes"]:
                    figures = size["runs"][kind]
                    us = figures["seconds"] / figures["checked"] * 1e6
                    is_base = size is base
                    out.append((f"{kind} reconciliation, {size['networks']:,} networks ({size['ports']:,} ports) "
                                f"over {size['backends']} backends: time per {what}",
                                f"{us:.0f} µs ({figures['seconds']:.2f} s in all)",
                                f"{base_us:.0f} µs (per {what} at {base['networks']:,})" if not is_base
                                else "(the baseline)", f"{us / base_us:.2f}",
                                "at most linear: ratio ≲ 1" if not is_base else ""))
            goal = nets["goal"]
            out.append((f"networks and pools goal, {goal['networks']:,} networks, {goal['ports']:,} ports: time",
                        f"{goal['seconds']:.1f} s (both runs)", "30 s (the goal)", f"{goal['seconds'] / 30:.2f}",
                        "met" if goal["within_30s"] else "**NOT met**"))
            out.append((f"networks and pools goal, {goal['networks']:,} networks: peak RSS", f"{goal['peak_mb']:.0f} MB",
                        "500 MB (the goal)", f"{goal['peak_mb'] / 500:.2f}",
                        "met" if goal["within_500mb"] else "**NOT met**"))
    else:
        failed("reconcile", "reconciliation")

    ports = results.get("ports", {}).get("data")
    if ports:
        s, p = ports["servers"], ports["ports"]
        held = ports["held"]
        out.append((f"API `POST /api/v1/ports`, {ports['clients']} clients, throughput ({held['ports']:,} ports on one "
                    f"subnet: {'exact' if ports['exact'] else '**NOT exact**'})", f"{_n(p['rps'])} req/s",
                    f"{_n(s['rps'])} req/s (`POST /api/v1/servers`, same run)", f"{ports['ratio_rps']:.2f}", ""))
    else:
        failed("ports", "port creation rate")

    streams = results.get("streams", {}).get("data")
    if streams:
        w, wo, mem = streams["with"], streams["without"], streams["memory_mib"]
        out.append((f"`GET /api/v1/servers` p99 with {streams['streams']:,} event streams open, 50 clients creating "
                    f"(API {mem['api_streams_open']:.0f} MiB, streams process {mem['streams_open']:.0f} MiB)",
                    f"{w['get_p99_ms']:.0f} ms", f"{wo['get_p99_ms']:.0f} ms (no stream open, same run)",
                    f"{streams['ratios']['get_p99']:.2f}",
                    f"≤ 1.2: {'met' if streams['ratios']['get_p99'] <= 1.2 else '**NOT met**'}"))
    else:
        failed("streams", "API latency with event streams open")

    sim = results.get("sim", {}).get("data")
    if sim:
        p, b = sim["product"], sim["baseline"]
        out.append((f"simulator `GET /2/jobs/[id]`, {sim['clusters']} clusters, {sim['instances']:,} instances",
                    f"{_n(p['rps'])} req/s", f"{_n(b['rps'])} req/s (bare werkzeug route)", f"{sim['ratio']:.2f}",
                    f"≥ {sim['target_rps']:,} req/s: {'met' if sim['target_met'] else '**NOT met**'}"))
    else:
        failed("sim", "simulator request rate")
    return out


def render(mach: dict[str, str], results: dict[str, dict], quick: bool, total_s: float) -> str:
    lines = [
        f"Machine: {mach['cpu']}, {mach['cores']} cores, {mach['ram']} RAM; {mach['os']}; {mach['python']}; "
        f"{mach['services']}",
        f"Run: {mach['date']}, commit {mach['commit'] or '?'}, load average (1/5/15 min) at start {mach['load']}, "
        f"at end {'{:.1f} / {:.1f} / {:.1f}'.format(*os.getloadavg())}, "
        f"{'QUICK (smoke) sizes' if quick else 'full sizes'}, {total_s / 60:.1f} min in all.",
        "",
        "Every baseline is measured in the same run as its figure, on the same machine; "
        "ratio = product / baseline (for latency and time, higher is slower; for rates, lower is slower).",
        "",
        "| measure | product | baseline (same run) | ratio | goal |",
        "| --- | ---: | ---: | ---: | --- |",
    ]
    for measure, product, baseline, ratio, goal in rows(results):
        lines.append(f"| {measure} | {product} | {baseline} | {ratio} | {goal} |")
    bad = [f"{name} (exit {r['rc']})" for name, r in results.items() if not r["ok"]]
    if bad:
        lines += ["", f"**Benches that failed:** {', '.join(bad)}; their figures, where shown, are incomplete."]
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes and short runs: a smoke run")
    parser.add_argument("--only", help=f"comma-separated subset of {','.join(BENCHES)}")
    parser.add_argument("--output", type=Path,
                        help="where to write the results (default bench/RESULTS.md for a full run of every bench, "
                             "nothing otherwise)")
    parser.add_argument("--timeout", type=float, default=1800, help="seconds allowed to each bench")
    args = parser.parse_args(argv)

    names = [n.strip() for n in args.only.split(",")] if args.only else list(BENCHES)
    unknown = [n for n in names if n not in BENCHES]
    if unknown:
        parser.error(f"unknown bench(es) {unknown}; choose from {list(BENCHES)}")
    output = args.output
    if output is None and not args.quick and not args.only:
        output = BENCH / "RESULTS.md"

    mach = machine()
    started = time.monotonic()
    results: dict[str, dict] = {}
    with tempfile.TemporaryDirectory(prefix="bench-all-") as tmp:
        for name in names:
            results[name] = run_bench(name, args.quick, Path(tmp), args.timeout)
    total = time.monotonic() - started

    table = render(mach, results, args.quick, total)
    print()
    print(table, end="")
    if output:
        parts = ["# Performance table", "", "Reproduce with `make bench` (or `.venv/bin/python bench/run_all.py`).",
                 "", table, "", "## Each bench's own table", ""]
        for name in names:
            r = results[name]
            script, *_rest, what = BENCHES[name]
            parts += [f"### `bench/{script}`: {what}", "",
                      f"{'ok' if r['ok'] else 'FAILED'} in {r['seconds']:.0f} s.", "", r["stdout"].strip(), ""]
        output.write_text("\n".join(parts))
        print(f"\nwritten to {output.relative_to(ROOT) if output.is_relative_to(ROOT) else output}")
    return 0 if all(r["ok"] for r in results.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
