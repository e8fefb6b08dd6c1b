"""The agent keeps what the broker cannot take and sends it, once, when it is back, also
across a restart of the agent itself; a killed agent loses nothing either."""
from __future__ import annotations

import signal
import time
from collections import Counter

import pytest

from tests.conftest import wait_for
from tests.events.conftest import ops_job, wait_quiet

pytestmark = [pytest.mark.integration, pytest.mark.xdist_group("events")]


def active_servers(stack, count: int, prefix: str) -> list[dict]:
    ids = [stack.create_server(name=f"{prefix}{i}")["id"] for i in range(count)]
    return [stack.wait_status(server_id, {"ACTIVE"}, timeout=40) for server_id in ids]


def sent_by_agents(stack) -> Counter:
    return sum((agent.sent() for agent in stack.agents), Counter())


def job_done(stack, cluster_index: int, job_id: int) -> bool:
    job = stack.sim.clusters[cluster_index].queue.get(job_id)
    return job is not None and job.status in ("success", "error", "canceled")


def run_jobs(stack, servers: list[dict], action: str) -> dict[str, int]:
    """One `action` job per server, on its cluster; waits until Ganeti finished them all."""
    jobs = {}
    for server in servers:
        index = server["backend_id"] - 1
        jobs[f"{stack.sim.clusters[index].name}/{server['id']}"] = (index, ops_job(stack, index, f"snf-{server['id']}", action))
    wait_for(lambda: all(job_done(stack, i, j) for i, j in jobs.values()), 20, what=f"{action} jobs to end")
    return {key: job_id for key, (_, job_id) in jobs.items()}


def final_event(cluster_key: str, job_id: int) -> tuple[str, str]:
    return ("op_status", f"{cluster_key.split('/')[0]}/{job_id}/0/success")


def test_broker_outage_and_agent_restart_lose_nothing_and_send_nothing_twice(event_stack):
    stack = event_stack
    servers = active_servers(stack, 4, "outage")
    wait_quiet(stack)
    sent_before, applied_before = sent_by_agents(stack), stack.applied()

    stack.redis.stop()
    try:
        shutdowns = run_jobs(stack, servers, "shutdown")
        time.sleep(0.5)  # a few scans: the agents spooled what they saw
        for agent in stack.agents:
            assert "broker unreachable" in agent.log_text() or not any(
                key.startswith(agent.cluster) for key in shutdowns), agent.log_text()[-2000:]
            agent.stop()  # SIGTERM with events in its spool
            agent.start()
        startups = run_jobs(stack, servers, "startup")
        time.sleep(0.5)
    finally:
        stack.redis.start()  # an empty Redis on the same port, as after a crash without persistence

    last = {f"snf-{key.split('/')[1]}": job_id for key, job_id in startups.items()}

    def all_started():
        rows = [stack.server(s["id"]) for s in servers]
        return all(r["status"] == "ACTIVE" and r["backend_job_id"] == last[f"snf-{r['id']}"]
                   and r["backend_job_status"] == "success" for r in rows) and rows

    wait_for(all_started, 60, interval=0.3, what="the events kept during the outage to be applied")
    wait_quiet(stack, timeout=30)

    # What the agents sent and what the worker ended, counted by event (op_status: the
    # hook and progress runs send their own events, which need no agent).
    sent = Counter({key: n for key, n in (sent_by_agents(stack) - sent_before).items() if key[0] == "op_status"})
    applied = Counter((kind, name) for kind, name, _ in (stack.applied() - applied_before).elements()
                      if kind == "op_status")
    twice = {key: n for key, n in sent.items() if n > 1}
    assert not twice, f"sent more than once: {twice}"
    for key, job_id in {**shutdowns, **startups}.items():
        assert sent[final_event(key, job_id)] == 1, f"the end of job {job_id} ({key}) was not sent"
    assert applied == sent, f"sent but not applied: {sent - applied}; applied twice/unsent: {applied - sent}"
    with stack.session() as session:
        from orchestrator.models import Operation

        assert all(op.status == "SUCCEEDED" for op in session.query(Operation).all())


def test_a_killed_agent_loses_nothing_and_a_resent_event_changes_nothing(event_stack):
    stack = event_stack
    servers = active_servers(stack, 2, "killed")
    wait_quiet(stack)
    applied_before = stack.applied()

    stopped = run_jobs(stack, servers, "shutdown")
    for agent in stack.agents:
        agent.stop(signal.SIGKILL)  # no chance to finish anything
    started = {}
    for server in servers:  # what happens while it is dead is read from the job files later
        index = server["backend_id"] - 1
        started[f"{stack.sim.clusters[index].name}/{server['id']}"] = ops_job(stack, index, f"snf-{server['id']}", "startup")
    for agent in stack.agents:
        agent.start()
    wait_for(lambda: all(stack.server(s["id"])["backend_job_id"] == started[
        f"{stack.sim.clusters[s['backend_id'] - 1].name}/{s['id']}"] and stack.server(s["id"])["status"] == "ACTIVE"
        for s in servers), 30, what="the jobs run while the agent was dead to be applied")
    wait_quiet(stack)

    applied = stack.applied() - applied_before
    ended = Counter((kind, name) for kind, name, _ in applied.elements())
    for key, job_id in {**stopped, **started}.items():
        assert ended[final_event(key, job_id)] >= 1, f"the end of job {job_id} ({key}) was lost"
    for (kind, name), n in ended.items():
        if n > 1:  # sent again by the killed agent: only the first one may change anything
            outcomes = [o for k, i, o in applied.elements() if (k, i) == (kind, name)]
            assert outcomes.count("applied") <= 1, (kind, name, outcomes)
