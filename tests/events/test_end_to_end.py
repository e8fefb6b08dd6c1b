"""End to end: the simulator writes job files and runs the hook and the progress command,
the agents turn them into events, a real worker applies them; the chain's polling is
slowed to a minute so the create can only end through the events."""
from __future__ import annotations

import json
import re
import time

import pytest

from orchestrator.models import Operation
from tests.conftest import wait_for

# One xdist worker runs every test of the stack, so `make test` starts it once.
pytestmark = [pytest.mark.integration, pytest.mark.xdist_group("events")]


def server_sent_events(stack, server_id: int, timeout: float = 30.0) -> list[dict]:
    """The `state` events of GET /servers/{id}/events until its `end` event."""
    response = stack.client.get(f"/api/v1/servers/{server_id}/events", headers=stack.admin_headers,
                                buffered=False)
    assert response.status_code == 200
    assert response.mimetype == "text/event-stream"
    states, buffer, deadline = [], "", time.monotonic() + timeout
    try:
        for chunk in response.response:
            buffer += chunk.decode() if isinstance(chunk, bytes) else chunk
            while "\n\n" in buffer:
                block, buffer = buffer.split("\n\n", 1)
                lines = dict(line.split(": ", 1) for line in block.splitlines() if ": " in line)
                if lines.get("event") == "end":
                    return states
                if lines.get("event") == "state":
                    states.append(json.loads(lines["data"]))
            assert time.monotonic() < deadline, f"no end event within {timeout}s: {states}"
    finally:
        response.close()
    raise AssertionError(f"the stream ended without an end event: {states}")


def test_create_shows_rising_progress_then_active_with_nics_from_the_hook(event_stack):
    stack = event_stack
    started = time.monotonic()
    body = stack.create_server(name="e2e")
    server_id, op_id = body["id"], body["operation"]["id"]

    states = server_sent_events(stack, server_id)
    elapsed = time.monotonic() - started

    building = [s["build_percentage"] for s in states if s["status"] == "BUILD"]
    assert building == sorted(building), f"progress went back: {building}"
    assert any(0 < p < 100 for p in building), f"no progress seen while building: {states}"
    assert len(set(building)) >= 2, f"progress did not rise: {building}"
    final = states[-1]
    assert final["status"] == "ACTIVE", states
    assert final["build_percentage"] == 100

    # NICs come from the instance-add post hook: what the cluster says the instance has.
    server = wait_for(lambda: (lambda s: s if s["nics"] else None)(stack.server(server_id)), 15,
                      what="NICs from the hook")
    assert server["status"] == "ACTIVE" and server["build_percentage"] == 100
    cluster = stack.sim.clusters[server["backend_id"] - 1]
    instance = cluster.instances[f"snf-{server_id}"]
    assert [(n["index"], n["mac"]) for n in server["nics"]] == [(i, nic["mac"]) for i, nic in enumerate(instance.nics)]

    # The create ended through the event, long before the chain's next poll (a minute).
    assert elapsed < 30
    with stack.session() as session:
        op = session.get(Operation, op_id)
        assert (op.status, op.step, op.job_status) == ("SUCCEEDED", "done", "success")
    assert f"op={op_id} server={server_id} create finished SUCCEEDED by event" in stack.worker.log_path.read_text()
    log = stack.worker.log_path.read_text()
    for kind in ("op_status", "build_progress", "nic_info"):
        assert re.search(rf" event {kind} id=\S+ instance=snf-{server_id} outcome=applied", log), kind
