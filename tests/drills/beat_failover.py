"""Two (or more) real `celery beat` processes on one Redis; the active one is SIGKILLed and a
standby must take over. Shared by tests/drills/test_beat_failover.py and bench/bench_beat_failover.py.

What is counted is what beat actually published: no worker consumes the `periodic` queue of
the broker database used here, and a reader thread pops each message off its Redis list as
it arrives (kombu's Redis transport: one list per queue, a JSON envelope per message), noting
the time, the task and the publishing process (Celery's `origin` header: gen<pid>@host). No
log is parsed for a figure, and a worker's own timing cannot blur the publish times.
"""
from __future__ import annotations

import json
import os
import signal
import statistics
import subprocess
import sys
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import redis

ROOT = Path(__file__).resolve().parents[2]

# A short period for every entry of broker.beat_schedule, through the settings' own variables:
# recover-operations and spend-installer-configs every OPERATION_STALL_S / 2 = 1 s, the three
# reconciliations every RECONCILIATION_INTERVAL_MIN = 3 s, the stats refresh every 4 s.
SCHEDULE_ENV = {"OPERATION_STALL_S": "2", "RECONCILIATION_INTERVAL_MIN": "0.05", "BACKEND_REFRESH_MIN": "0.0666667"}
LOCK_TIMEOUT_S = 3
MAX_LOOP_S = 1.0
# What a loaded 2-core machine may add to the bound: one tick's Redis round trips and publishes,
# the SIGKILL itself, a Python process's scheduling delay.
SLACK_S = 2.0
QUEUE = "periodic"
IN_FLIGHT_S = 0.5
QUEUE_KEYS = [QUEUE] + [f"{QUEUE}\x06\x16{p}" for p in (3, 6, 9)]  # kombu's priority lists


def takeover_bound(lock_timeout_s: float = LOCK_TIMEOUT_S, max_loop_s: float = MAX_LOOP_S) -> float:
    """The lock outlives its last renewal by at most lock_timeout_s; a standby asks every max_loop_s."""
    return lock_timeout_s + max_loop_s


@dataclass
class Published:
    at: float  # time.monotonic() when popped off the list
    task: str
    pid: int


@dataclass
class Run:
    periods: dict[str, float]
    published: list[Published] = field(default_factory=list)
    kills: list[dict] = field(default_factory=list)  # {"pid", "at", "takeover_s", "standby"}
    logs: dict[int, Path] = field(default_factory=dict)
    lock_timeout_s: float = LOCK_TIMEOUT_S

    def by_task(self) -> dict[str, list[Published]]:
        out: dict[str, list[Published]] = {task: [] for task in self.periods}
        for message in self.published:
            out.setdefault(message.task, []).append(message)
        return out

    def duplicates(self) -> dict[str, int]:
        """Per task: publishes less than half a period after the one before (two beats, one tick)."""
        return {task: sum(1 for a, b in zip(ms, ms[1:]) if b.at - a.at < self.periods[task] / 2)
                for task, ms in self.by_task().items()}

    def gaps(self) -> dict[str, dict[str, int]]:
        """Per task: ticks missed outside the takeovers (a gap over 1.5 periods that spans no kill)
        and ticks folded into one catch-up run across a takeover (a gap spanning a kill)."""
        out = {}
        for task, ms in self.by_task().items():
            period, missed, folded = self.periods[task], 0, 0
            for a, b in zip(ms, ms[1:]):
                skipped = max(0, int((b.at - a.at) / period + 0.5) - 1)  # ticks that would fit between
                if any(a.at <= k["at"] <= b.at for k in self.kills):
                    folded += skipped
                elif b.at - a.at > 1.5 * period + SLACK_S:
                    missed += skipped
            out[task] = {"missed": missed, "folded": folded}
        return out

    def late_after_kill(self, bound: float) -> list[str]:
        """Entries whose first publish after a kill came later than it would have with no kill
        (their last publish + period) or than the takeover bound after the kill, plus slack."""
        late = []
        for kill in self.kills:
            for task, ms in self.by_task().items():
                before = [m.at for m in ms if m.at < kill["at"]]
                after = [m.at for m in ms if m.at > kill["at"]]
                if not before or not after:
                    continue
                due = max(before[-1] + self.periods[task], kill["at"] + bound)
                if after[0] > due + SLACK_S:
                    late.append(f"{task}: {after[0] - kill['at']:.1f}s after kill {kill['pid']}")
        return late

    def publishers_overlap(self) -> list[str]:
        """Messages from a beat other than the one leading then: the first publisher until the
        first kill, then each kill's standby (a killed beat's last messages may still be on
        their way to the reader for a moment after its kill, IN_FLIGHT_S). A leader may also
        lose its lock without a kill (a process stalled past the lock's timeout on a loaded
        machine): that handover is sound only if the new leader's first message comes at least
        LOCK_TIMEOUT_S after the old one's last, since the lock outlives its last renewal by that
        long, and a tick renews it."""
        problems = []
        ordered = sorted(self.published, key=lambda m: m.at)
        if not ordered:
            return ["nothing published"]
        kills = sorted(self.kills, key=lambda k: k["at"])
        leader = kills[0]["pid"] if kills else ordered[0].pid
        last_at = float("-inf")  # the leader's last message
        for m in ordered:
            while kills and kills[0]["at"] < m.at:  # a kill hands over to its standby
                leader, last_at = kills.pop(0)["standby"], float("-inf")
            killed_just_now = any(k["pid"] == m.pid and 0 <= m.at - k["at"] <= IN_FLIGHT_S for k in self.kills)
            if m.pid == leader or killed_just_now:
                last_at = max(last_at, m.at) if m.pid == leader else last_at
                continue
            if m.at - last_at >= self.lock_timeout_s:
                leader, last_at = m.pid, m.at  # the lock expired and the other beat took it
                continue
            problems.append(f"{m.task} at {m.at:.2f} from {m.pid} while {leader} leads")
        return problems


class BeatPair:
    """Beats of one deployment (its own broker and Redis databases and key prefix) and a reader
    of what they publish."""

    def __init__(self, redis_server, workdir: Path, *, dbs: tuple[int, int, int] = (5, 6, 7),
                 lock_timeout_s: int = LOCK_TIMEOUT_S, max_loop_s: float = MAX_LOOP_S,
                 extra_env: dict[str, str] | None = None) -> None:
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        broker, results, store = (redis_server.url(db) for db in dbs)
        self.env = {**os.environ, **SCHEDULE_ENV, "CELERY_BROKER_URL": broker, "CELERY_RESULT_BACKEND": results,
                    "REDIS_URL": store, "BEAT_LOCK_TIMEOUT_S": str(lock_timeout_s),
                    "BEAT_MAX_LOOP_S": str(max_loop_s), "BEAT_KEY_PREFIX": f"drill-{uuid.uuid4().hex[:8]}:",
                    "ORCHESTRATOR_VAR_DIR": str(self.workdir), "LOG_LEVEL": "INFO",
                    "PYTHONUNBUFFERED": "1", **(extra_env or {})}
        self.broker = redis.Redis.from_url(broker)
        self.store = redis.Redis.from_url(store, decode_responses=True)
        self.broker.delete(*QUEUE_KEYS)
        self.procs: dict[int, subprocess.Popen] = {}
        self.logs: dict[int, Path] = {}
        self.published: list[Published] = []
        self._stop = threading.Event()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def periods(self) -> dict[str, float]:
        from orchestrator.broker import beat_schedule
        from orchestrator.settings import Settings

        return {e["task"]: float(e["schedule"]) for e in beat_schedule(Settings.from_env(self.env)).values()}

    def _read(self) -> None:
        reader = redis.Redis.from_url(self.env["CELERY_BROKER_URL"])
        while not self._stop.is_set():
            try:
                item = reader.brpop(QUEUE_KEYS, timeout=0.5)
            except (redis.ConnectionError, redis.TimeoutError):  # a drill restarting Redis
                time.sleep(0.2)
                continue
            if item is None:
                continue
            at = time.monotonic()
            headers = json.loads(item[1])["headers"]
            pid = int(headers["origin"].split("@")[0].removeprefix("gen"))
            self.published.append(Published(at, headers["task"], pid))

    def start_beat(self, *args: str) -> int:
        log = self.workdir / f"beat-{len(self.logs) + 1}.log"
        proc = subprocess.Popen([sys.executable, "-m", "celery", "-A", "orchestrator.worker", "beat",
                                 "--loglevel=INFO", *args], cwd=ROOT, env=self.env,
                                stdout=open(log, "wb"), stderr=subprocess.STDOUT, start_new_session=True)
        self.procs[proc.pid], self.logs[proc.pid] = proc, log
        return proc.pid

    def wait_publish(self, pid: int | None = None, since: float = 0.0, timeout: float = 30.0) -> Published:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for m in list(self.published):
                if m.at > since and (pid is None or m.pid == pid):
                    return m
            time.sleep(0.02)
        raise AssertionError(f"no publish from {pid or 'any beat'} within {timeout}s; logs: "
                             + "; ".join(f"{p}: {log.read_text()[-1500:]}" for p, log in self.logs.items()))

    def kill(self, pid: int, sig: int = signal.SIGKILL) -> float:
        at = time.monotonic()
        os.kill(pid, sig)
        proc = self.procs.pop(pid)
        try:
            proc.wait(timeout=60)  # a graceful stop on a loaded machine: what it releases is asserted after
        except subprocess.TimeoutExpired:
            proc.kill()
            raise AssertionError(f"beat {pid} still running 60 s after signal {sig}; its log: "
                                 + self.logs[pid].read_text()[-3000:]) from None
        return at

    def close(self) -> None:
        for pid, proc in list(self.procs.items()):
            proc.terminate()
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        self.procs.clear()
        self._stop.set()
        self._reader.join(timeout=5)


def failover(redis_server, workdir: Path, kills: int, settle_s: float, **kwargs) -> Run:
    """Two beats; `kills` times: let the leader publish for `settle_s`, SIGKILL it, measure until
    the standby publishes, then start a new standby in the killed one's place."""
    pair = BeatPair(redis_server, workdir, **kwargs)
    run = Run(periods=pair.periods(), published=pair.published, logs=pair.logs,
              lock_timeout_s=float(pair.env["BEAT_LOCK_TIMEOUT_S"]))
    bound = takeover_bound(int(pair.env["BEAT_LOCK_TIMEOUT_S"]), float(pair.env["BEAT_MAX_LOOP_S"]))
    try:
        pair.start_beat()
        pair.start_beat()
        leader = pair.wait_publish(timeout=60).pid
        for _ in range(kills):
            time.sleep(settle_s)
            standby = next(pid for pid in pair.procs if pid != leader)
            at = pair.kill(leader)
            first = pair.wait_publish(standby, since=at, timeout=bound + 30)
            run.kills.append({"pid": leader, "at": at, "takeover_s": first.at - at, "standby": standby})
            leader = standby
            pair.start_beat()  # the killed host's beat comes back, as a standby
        time.sleep(settle_s)
    finally:
        pair.close()
    return run


def summary(run: Run) -> dict:
    takeovers = [k["takeover_s"] for k in run.kills]
    gaps = run.gaps()
    return {
        "takeover": (min(takeovers), statistics.median(takeovers), max(takeovers)) if takeovers else None,
        "duplicates": run.duplicates(),
        "missed": {t: g["missed"] for t, g in gaps.items()},
        "folded": {t: g["folded"] for t, g in gaps.items()},
        "published": {t: len(ms) for t, ms in run.by_task().items()},
    }
