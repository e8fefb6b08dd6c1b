"""Replay: 10,000 events for 500 servers, shuffled with 20 % duplicates and applied by a
real worker, end in exactly the database state the same events give in Ganeti's order.

The histories are what clusters produce: per server a create (progress reports during
the install, the NIC hook after it), then start/stop/reboot jobs, some failing, some
servers removed; some creates fail (or are canceled) and are then removed from a cluster
that no longer has the instance; some instances vanish and their removal finds nothing.
Job ids grow per cluster in submission order; one server's jobs never overlap, as the
orchestrator runs one operation per server at a time.
"""
from __future__ import annotations

import random
import time
from collections import Counter

import pytest
from sqlalchemy import select

from orchestrator.models import Server
from tests.conftest import wait_for

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.xdist_group("events")]

SERVERS = 500
EVENTS_PER_SERVER = 20
DUPLICATES = 0.20
FIRST_ID = 100_001
CLUSTERS = ("cluster1.sim.local", "cluster2.sim.local")

LOGS = {
    "OP_INSTANCE_CREATE": ["* creating instance disks...", "* running the instance OS create scripts...",
                           "* starting instance..."],
    "OP_INSTANCE_SHUTDOWN": ["Shutting down instance"],
    "OP_INSTANCE_STARTUP": ["Starting instance"],
    "OP_INSTANCE_REBOOT": ["Rebooting instance (soft)"],
    "OP_INSTANCE_REMOVE": ["Removing block devices"],
}


class History:
    """One server's events, on one clock."""

    def __init__(self, rng: random.Random, server_id: int, cluster: str, clock: float):
        self.rng, self.server_id, self.cluster, self.clock = rng, server_id, cluster, clock
        self.instance = f"snf-{server_id}"
        self.events: list[tuple[str, dict]] = []
        self.jobs: list[dict] = []  # job ids are given per cluster once every history is known

    def _at(self, step: float) -> float:
        self.clock = round(self.clock + step, 6)
        return self.clock

    def job(self, opcode: str, end: str, ecode: str | None = None, progress: bool = False,
            start: bool = True) -> None:
        job: dict = {"cluster": self.cluster, "received": self._at(self.rng.uniform(0.1, 5.0)), "events": []}
        self.jobs.append(job)
        log = LOGS[opcode]

        def op_status(status: str, ts: float, log_msg: str | None, **extra) -> None:
            event = {"cluster": self.cluster, "instance": self.instance, "job_id": None, "opcode": opcode,
                     "status": status, "log_msg": log_msg, "timestamp": ts, **extra}
            job["events"].append(event)
            self.events.append(("op_status", event))

        op_status("queued", job["received"], None)
        if start:
            first = self.rng.choice(["running", "waiting"])
            op_status(first, self._at(self.rng.uniform(0.01, 0.5)), log[0])
            if progress:
                for pct in (25, 50, 75, 100)[: 4 if end == "success" else 2]:
                    self.events.append(("build_progress", {
                        "cluster": self.cluster, "instance": self.instance, "percentage": pct,
                        "message": "image-copy-progress", "timestamp": self._at(self.rng.uniform(0.05, 0.5))}))
        if end == "success":
            op_status("success", self._at(self.rng.uniform(0.2, 2.0)), log[-1])
        elif end == "error":
            message = "OpPrereqError: Instance '%s' not known" % self.instance if ecode else \
                "OpExecError: Could not start instance: hypervisor error"
            op_status("error", self._at(self.rng.uniform(0.2, 2.0)), message, **({"ecode": ecode} if ecode else {}))
        else:
            op_status("canceled", self._at(self.rng.uniform(0.2, 2.0)), "Job canceled by request")

    def nic_hook(self) -> None:
        n = self.server_id
        self.events.append(("nic_info", {
            "cluster": self.cluster, "instance": self.instance, "hook_path": "instance-add",
            "opcode": "OP_INSTANCE_CREATE", "timestamp": self._at(0.05),
            "nics": [{"index": 0, "ip": f"10.{n >> 16 & 255}.{n >> 8 & 255}.{n & 255}",
                      "mac": f"aa:00:00:{n >> 16 & 255:02x}:{n >> 8 & 255:02x}:{n & 255:02x}",
                      "mode": "bridged", "link": "br0", "network": "public"}]}))


def fill(h: History, target: int, next_job) -> None:
    """Jobs until the history has `target` events: 3 each (queued, running or waiting,
    the end), or 2 when the agent saw it only queued and then ended."""
    while len(h.events) < target:
        left = target - len(h.events)
        next_job(start=left >= 3 and left != 4)
    assert len(h.events) == target


def build_history(rng: random.Random, server_id: int, cluster: str) -> History:
    h = History(rng, server_id, cluster, clock=1_700_000_000 + rng.uniform(0, 600))
    kind = rng.random()
    if kind < 0.10:  # the create fails (or is canceled); starting it fails; removing it finds nothing
        if rng.random() < 0.5:
            h.job("OP_INSTANCE_CREATE", "error", progress=True)
        else:
            h.job("OP_INSTANCE_CREATE", "canceled", start=False)
        removed = rng.random() < 0.5
        fill(h, EVENTS_PER_SERVER - (3 if removed else 0),
             lambda start: h.job("OP_INSTANCE_STARTUP", "error", ecode="unknown_entity", start=start))
        if removed:
            h.job("OP_INSTANCE_REMOVE", "error", ecode="unknown_entity")
    else:
        h.job("OP_INSTANCE_CREATE", "success", progress=True)
        h.nic_hook()
        vanishes, removed = kind < 0.20, kind < 0.40
        running = [True]

        def next_job(start: bool) -> None:
            opcode = rng.choice(["OP_INSTANCE_SHUTDOWN", "OP_INSTANCE_REBOOT"]) if running[0] else "OP_INSTANCE_STARTUP"
            end = "success" if rng.random() < 0.85 else rng.choice(["error", "canceled"] if not start else ["error"])
            h.job(opcode, end, start=start)
            if end == "success" and opcode != "OP_INSTANCE_REBOOT":
                running[0] = opcode == "OP_INSTANCE_STARTUP"

        fill(h, EVENTS_PER_SERVER - (3 if removed else 0), next_job)
        if removed:
            h.job("OP_INSTANCE_REMOVE", "error" if vanishes else "success",
                  ecode="unknown_entity" if vanishes else None)
    assert len(h.events) == EVENTS_PER_SERVER, (server_id, len(h.events))
    return h


def generate(seed: int = 5) -> list[tuple[str, dict]]:
    rng = random.Random(seed)
    histories = [build_history(rng, FIRST_ID + i, CLUSTERS[i % 2]) for i in range(SERVERS)]
    for cluster in CLUSTERS:  # Ganeti numbers jobs per cluster in the order it receives them
        jobs = sorted((j for h in histories for j in h.jobs if j["cluster"] == cluster), key=lambda j: j["received"])
        for job_id, job in enumerate(jobs, start=1):
            for event in job["events"]:
                event["job_id"] = job_id
    return [e for h in histories for e in h.events]


def insert_servers(url: str) -> None:
    from sqlalchemy import delete

    from orchestrator.db import session_scope

    with session_scope(url) as session:
        session.execute(delete(Server).where(Server.id >= FIRST_ID, Server.id < FIRST_ID + SERVERS))  # a re-run's
        for i in range(SERVERS):
            session.add(Server(id=FIRST_ID + i, user_id="replay", name=f"replay-{i}", flavor_id=1, image_id=1,
                               backend_id=1 + i % 2, operstate="BUILD", build_percentage=0, nics=[]))
        session.commit()


IGNORED_COLUMNS = {"created_at", "updated_at", "last_reconciled_at"}


def server_rows(url: str) -> dict[int, dict]:
    from orchestrator.db import session_scope

    columns = [c for c in Server.__table__.columns if c.name not in IGNORED_COLUMNS]
    with session_scope(url) as session:
        rows = session.execute(select(*columns).where(Server.id >= FIRST_ID).order_by(Server.id)).mappings().all()
    return {row["id"]: dict(row) for row in rows}


@pytest.mark.parametrize("batch", [1, 50], ids=["one-by-one", "in-batches"])
def test_shuffled_duplicated_events_end_in_the_state_of_the_ordered_ones(event_stack, tmp_path, batch):
    from node_agent.emitter import Emitter
    from orchestrator import demo, events, migrate
    from orchestrator.db import session_scope

    stack = event_stack
    unique = generate()
    assert len(unique) == SERVERS * EVENTS_PER_SERVER == 10_000

    # The events shuffled, a fifth of them twice, through the broker to a real worker
    # (sent the way the agent sends them).
    insert_servers(stack.db_url)
    rng = random.Random(11)
    messages = unique + rng.sample(unique, int(len(unique) * DUPLICATES))
    rng.shuffle(messages)
    before = sum(stack.counts().values())
    emitter = Emitter(stack.env["CELERY_BROKER_URL"])
    started = time.monotonic()
    for start in range(0, len(messages), batch):  # one task per event, or the agent's batches
        emitter.send_many(messages[start:start + batch])
    emitter.close()

    # Meanwhile the reference: the same events one after the other in Ganeti's time
    # order, applied by the same domain functions to a database of their own.
    reference = f"sqlite:///{tmp_path / 'in-order.db'}"
    migrate.upgrade(reference)
    with session_scope(reference) as session:
        demo.seed(session, env={"SIM_CLUSTERS": "2"})
    insert_servers(reference)
    apply = {"op_status": events.apply_op_status, "build_progress": events.apply_build_progress,
             "nic_info": events.apply_nic_info}
    in_order = Counter()
    for kind, event in sorted(unique, key=lambda ke: ke[1]["timestamp"]):
        with session_scope(reference) as session:
            in_order[apply[kind](session, event, "snf-")] += 1
    assert set(in_order) <= {"applied", "duplicate"}, in_order  # in order, nothing is behind

    wait_for(lambda: sum(stack.counts().values()) - before >= len(messages), timeout=200, interval=0.5,
             what=f"{len(messages)} events applied")
    elapsed = time.monotonic() - started
    counts = Counter(stack.counts())
    print(f"\nreplay: {len(messages)} events in {elapsed:.1f}s ({len(messages) / elapsed:.0f}/s); {dict(counts)}")

    assert not any(k.endswith((":failed", ":invalid", ":unknown", ":foreign")) for k in counts), counts
    ignored = sum(v for k, v in counts.items() if k.endswith((":duplicate", ":stale")))
    assert ignored >= len(messages) - len(unique), counts

    expected, actual = server_rows(reference), server_rows(stack.db_url)
    assert len(expected) == len(actual) == SERVERS
    differences = {sid: {c: (expected[sid][c], actual[sid][c]) for c in expected[sid]
                         if expected[sid][c] != actual[sid][c]}
                   for sid in expected if expected[sid] != actual[sid]}
    assert not differences, f"{len(differences)} servers differ, e.g. {list(differences.items())[:3]}"

    # And the histories were not trivial.
    states = Counter(row["operstate"] for row in expected.values())
    assert {"STARTED", "STOPPED", "DESTROYED", "ERROR"} <= set(states), states
