"""A mixed load for the drills: creates, start/shutdown/reboot/resize on existing servers,
and destroys, issued through the API; every operation is followed to its end and judged
on what a user sees (the operation's status, the server's state, the clusters' instances).

Only one operation runs per server (a second one gets 409), so actions go to servers
whose last operation ended; a 409 all the same is counted and retried later, never as
an issued operation.
"""
from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import requests
from sqlalchemy import select

from orchestrator.models import IN_FLIGHT, Operation, Server
from tests.integration.helpers import RAPI_AUTH

SMALL_FLAVOR = 1  # c1r1024d10
# What the cluster reports for each operstate a server may end in.
CLUSTER_STATUS = {"STARTED": "running", "STOPPED": "ADMIN_down"}


def resize_flavor(stack) -> int:
    """A flavor with the small one's disk and template but more CPU and memory."""
    response = stack.client.post("/api/v1/flavors", json={"name": "c2r2048d10", "cpu": 2, "ram": 2048, "disk": 10},
                                 headers=stack.admin_headers)
    if response.status_code == 201:
        return response.json["id"]
    return next(f["id"] for f in stack.client.get("/api/v1/flavors", headers=stack.admin_headers).json
                if f["name"] == "c2r2048d10")


@dataclass
class Issued:
    op_id: int
    kind: str
    server_id: int
    expect_state: str  # the operstate the server must show once the operation ended
    expect_flavor: int | None = None
    ended: bool = False
    ok: bool = False
    why: str = ""


@dataclass
class Tracked:
    server_id: int
    name: str
    state: str = "BUILD"
    flavor_id: int = SMALL_FLAVOR
    busy: int | None = None  # the op id in flight, None when idle
    gone: bool = False


@dataclass
class MixedLoad:
    """Issue a mix of operations and follow each to its end.

    `pool` bounds the number of live servers: below `pool[0]` it creates, at `pool[1]` it
    no longer creates; destroys keep the count steady, so a long run does not fill the
    clusters.
    """

    stack: object
    prefix: str
    rng: random.Random
    pool: tuple[int, int] = (8, 30)
    weights: dict[str, int] = field(default_factory=lambda: {"create": 2, "action": 6, "destroy": 2})
    servers: dict[int, Tracked] = field(default_factory=dict)
    issued: dict[int, Issued] = field(default_factory=dict)
    conflicts: int = 0

    def __post_init__(self) -> None:
        self.big_flavor = resize_flavor(self.stack)

    # -- issuing ---------------------------------------------------------------------
    @property
    def live(self) -> list[Tracked]:
        return [s for s in self.servers.values() if not s.gone]

    def idle(self) -> list[Tracked]:
        return [s for s in self.live if s.busy is None and s.state in ("STARTED", "STOPPED")]

    @property
    def in_flight(self) -> list[Issued]:
        return [i for i in self.issued.values() if not i.ended]

    def issue_one(self) -> Issued | None:
        """Issue one operation, or None when nothing can be issued right now."""
        live = len(self.live)
        if live < self.pool[0]:
            return self._create()
        idle = self.idle()
        choices = dict(self.weights)
        if live >= self.pool[1]:
            choices.pop("create")
        if not idle or live <= self.pool[0]:
            choices.pop("destroy", None)
        if not idle:
            choices.pop("action", None)
        if not choices:
            return None
        kind = self.rng.choices(list(choices), weights=list(choices.values()))[0]
        if kind == "create":
            return self._create()
        server = self.rng.choice(idle)
        if kind == "destroy":
            return self._destroy(server)
        return self._action(server)

    def _create(self) -> Issued:
        name = f"{self.prefix}-{len(self.servers)}"
        status, body = self.stack.create_server(name=name, flavor_id=SMALL_FLAVOR)
        assert status == 202, body
        server = Tracked(body["id"], name)
        issued = Issued(body["operation"]["id"], "create", server.server_id, "STARTED", SMALL_FLAVOR)
        server.busy = issued.op_id
        self.servers[server.server_id] = server
        self.issued[issued.op_id] = issued
        return issued

    def _destroy(self, server: Tracked) -> Issued | None:
        response = self.stack.client.delete(f"/api/v1/servers/{server.server_id}", headers=self.stack.admin_headers)
        return self._accepted(response, server, "destroy", "DESTROYED", None)

    def _action(self, server: Tracked) -> Issued | None:
        if server.state == "STARTED":
            action = self.rng.choice(["shutdown", "reboot", "reboot-hard"])
        else:
            action = self.rng.choice(["start", "resize"])
        body: dict = {"action": action}
        expect_state, expect_flavor = ("STOPPED" if action in ("shutdown", "resize") else "STARTED"), server.flavor_id
        if action == "reboot-hard":
            body = {"action": "reboot", "type": "hard"}
        elif action == "resize":
            expect_flavor = self.big_flavor if server.flavor_id == SMALL_FLAVOR else SMALL_FLAVOR
            body["flavor_id"] = expect_flavor
        response = self.stack.client.post(f"/api/v1/servers/{server.server_id}/actions", json=body,
                                          headers=self.stack.admin_headers)
        return self._accepted(response, server, body["action"], expect_state, expect_flavor)

    def _accepted(self, response, server: Tracked, kind: str, state: str, flavor: int | None) -> Issued | None:
        if response.status_code == 409:  # not idle after all: try another time
            self.conflicts += 1
            return None
        assert response.status_code == 202, (response.status_code, response.json)
        issued = Issued(response.json["id"], kind, server.server_id, state, flavor)
        server.busy = issued.op_id
        self.issued[issued.op_id] = issued
        return issued

    # -- following -------------------------------------------------------------------
    def refresh(self) -> int:
        """Read the operations still in flight; judge those that ended. Returns how many ended."""
        pending = {i.op_id: i for i in self.in_flight}
        if not pending:
            return 0
        ended = 0
        with self.stack.session() as session:
            ops = session.scalars(select(Operation).where(Operation.id.in_(list(pending)),
                                                          Operation.status.not_in(IN_FLIGHT))).all()
            for op in ops:
                issued, server = pending[op.id], self.servers[op.server_id]
                row = session.get(Server, op.server_id)
                self._judge(issued, op, row)
                issued.ended = True
                ended += 1
                server.busy = None
                server.state, server.flavor_id = row.operstate, row.flavor_id
                server.gone = row.deleted or row.operstate == "DESTROYED"
        return ended

    @staticmethod
    def _judge(issued: Issued, op: Operation, row: Server) -> None:
        problems = []
        if op.status != "SUCCEEDED":
            problems.append(f"{op.status}: {op.error}")
        if row.operstate != issued.expect_state:
            problems.append(f"server {row.operstate}, asked {issued.expect_state}")
        if issued.expect_flavor is not None and row.flavor_id != issued.expect_flavor:
            problems.append(f"flavor {row.flavor_id}, asked {issued.expect_flavor}")
        if issued.kind == "destroy" and not row.deleted:
            problems.append("not marked deleted")
        issued.ok = not problems
        issued.why = "; ".join(problems)

    def wait_all(self, timeout: float, interval: float = 0.5) -> list[Issued]:
        """Follow until nothing is in flight or `timeout`; returns what is still in flight."""
        deadline = time.monotonic() + timeout
        while self.in_flight and time.monotonic() < deadline:
            self.refresh()
            if self.in_flight:
                time.sleep(interval)
        return self.in_flight

    def describe(self, issued: list[Issued]) -> list[str]:
        """Where each of these operations stands, for a failure message."""
        with self.stack.session() as session:
            return [f"op {op.id} {op.kind} server {op.server_id}: {op.status} at {op.step}, job {op.job_id} "
                    f"{op.job_status}, heartbeat {op.heartbeat_at}, error {op.error}"
                    for op in session.scalars(select(Operation).where(Operation.id.in_([i.op_id for i in issued])))]

    # -- judging on the clusters ---------------------------------------------------------
    def cluster_check(self) -> dict:
        """Instances of every simulated cluster against what the servers should be.

        duplicated: names held by more than one instance (any name, ours or not);
        missing: live servers with no instance; left: destroyed servers still with one;
        wrong_state: live servers whose instance does not run or stop as asked.
        """
        instances: dict[str, list[dict]] = {}
        for cluster in self.stack.sim.clusters:
            response = requests.get(f"{cluster.url}/2/instances", params={"bulk": 1}, auth=RAPI_AUTH, timeout=10)
            response.raise_for_status()
            for item in response.json():
                instances.setdefault(item["name"], []).append(item)
        result = Counter(duplicated=sum(1 for found in instances.values() if len(found) > 1))
        for server in self.servers.values():
            found = instances.get(f"snf-{server.server_id}", [])
            if server.gone:
                result["left"] += bool(found)
            elif not found:
                result["missing"] += 1
            elif server.busy is None and found[0].get("status") != CLUSTER_STATUS.get(server.state):
                result["wrong_state"] += 1
        return result

    def summary(self) -> Counter:
        return Counter(i.kind for i in self.issued.values())


# -- processes -----------------------------------------------------------------------
def children(pid: int) -> list[int]:
    """Direct children of `pid`."""
    found = []
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except FileNotFoundError:
        return []
    for task in tasks:
        try:
            found += [int(c) for c in Path(f"/proc/{pid}/task/{task}/children").read_text().split()]
        except (FileNotFoundError, ProcessLookupError):
            pass
    return found


def descendants(pid: int) -> list[int]:
    out, todo = [], children(pid)
    while todo:
        child = todo.pop()
        out.append(child)
        todo += children(child)
    return out


def start_beat(env: dict[str, str], tmp: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "orchestrator.worker", "beat", "--loglevel=INFO",
         "-s", str(tmp / "beat-schedule")],
        env=env, stdout=open(tmp / "beat.log", "wb"), stderr=subprocess.STDOUT,
    )


def stop_beat(beat: subprocess.Popen) -> None:
    beat.terminate()
    try:
        beat.wait(timeout=15)
    except subprocess.TimeoutExpired:
        beat.send_signal(signal.SIGKILL)
        beat.wait()


# -- memory and queues ---------------------------------------------------------------
def rss_kib(pids: list[int], field: str = "RssAnon") -> int:
    """The sum of one /proc/<pid>/status field (KiB) over `pids`; gone processes count 0."""
    total = 0
    for pid in pids:
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith(field + ":"):
                    total += int(line.split()[1])
                    break
        except (FileNotFoundError, ProcessLookupError):
            pass
    return total


def queue_lengths(client, queues: tuple[str, ...] = ("provisioning", "polling", "events", "periodic")) -> dict:
    """Messages waiting in each queue (kombu's priority lists included) and held unacked."""
    sep = "\x06\x16"
    lengths = {q: sum(client.llen(key) for key in (q, *(f"{q}{sep}{p}" for p in (3, 6, 9)))) for q in queues}
    lengths["unacked"] = client.hlen("unacked")
    return lengths


def growth(points: list[tuple[float, float]]) -> float:
    """Least-squares slope of (t, value) times the span of t: how much the fit grew."""
    n = len(points)
    if n < 3:
        return 0.0
    mt = sum(t for t, _ in points) / n
    mv = sum(v for _, v in points) / n
    var = sum((t - mt) ** 2 for t, _ in points)
    if var == 0:
        return 0.0
    slope = sum((t - mt) * (v - mv) for t, v in points) / var
    return slope * (points[-1][0] - points[0][0])
