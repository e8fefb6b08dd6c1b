"""A backend going down and coming back: refreshes that get no answer mark it offline after
N in a row (the API says why), the allocator sends creates to the other backend,
reconciliation skips it, and one answer brings it back online."""
from __future__ import annotations

import pytest
from sqlalchemy import select

from orchestrator import allocator
from orchestrator.backends import OFFLINE_AFTER_FAILURES
from orchestrator.models import Backend, Flavor
from tests.reconciliation.conftest import STACKS
from tests.reconciliation.helpers import api_run, cli_run_id, cluster_of, run_cli

pytestmark = [pytest.mark.integration, pytest.mark.parametrize("stack", STACKS, indirect=True)]


def _backends(stack) -> dict[int, dict]:
    """The stack's own backends (a drill may have left its own, offline, beside them)."""
    response = stack.client.get("/api/v1/backends", headers=stack.admin_headers)
    assert response.status_code == 200, response.json
    ours = {cluster.name for cluster in stack.sim.clusters}
    return {b["id"]: b for b in response.json if b["clustername"] in ours}


def _refresh_api(stack, backend_id: int) -> dict:
    response = stack.client.post(f"/api/v1/backends/{backend_id}/refresh", headers=stack.admin_headers)
    assert response.status_code == 200, response.json
    return response.json


def _preferred_backend(stack) -> int:
    """The backend the allocator would pick for the next create of flavor 1."""
    with stack.session() as session:
        flavor = session.get(Flavor, 1)
        ranked = allocator.rank(allocator.candidates(session.scalars(select(Backend)).all(),
                                                     allocator.Demand.of(flavor)))
        return ranked[0].id


def test_offline_after_failures_skipped_then_online_again(stack, clean_faults):
    app = stack.celery

    for backend_id in _backends(stack):
        assert _refresh_api(stack, backend_id)["offline"] is False
    down_id = _preferred_backend(stack)
    other_id = next(b for b in _backends(stack) if b != down_id)
    cluster = cluster_of(stack, down_id)
    cluster.down()  # connections refused, jobs frozen
    try:
        # N refreshes without an answer, by each way there is to ask: the API, the CLI, the beat's task.
        assert OFFLINE_AFTER_FAILURES == 3
        first = _refresh_api(stack, down_id)
        assert first["offline"] is False  # one failure is not enough
        listed = run_cli("backend", "update-status", str(down_id), "--output", "json")
        assert listed.exit_code == 0, listed.output
        answered = app.send_task("orchestrator.periodic.refresh_backend_stats").get(timeout=60)
        assert answered[cluster.name] is False and all(answered[b["clustername"]]
                                                       for b in _backends(stack).values() if b["id"] != down_id)

        shown = _backends(stack)[down_id]
        assert shown["offline"] is True
        assert shown["offline_reason"].startswith("no answer 3 times in a row") and "cannot reach" in \
            shown["offline_reason"]
        assert _backends(stack)[other_id]["offline"] is False

        # The allocator skips it: a create lands on the other backend and succeeds.
        status, created = stack.create_server(name="while-down")
        assert status == 202, created
        server = stack.wait_status(created["id"], {"ACTIVE", "ERROR"}, timeout=60)
        assert server["status"] == "ACTIVE" and server["backend_id"] == other_id

        # Reconciliation leaves it alone too, and says why.
        run = api_run(stack, cli_run_id(run_cli("reconcile", "servers").output))
        assert run["backends_checked"] == [other_id]
        assert run["backends_skipped"][str(down_id)].startswith("offline: no answer")
    finally:
        cluster.up()
        back = _refresh_api(stack, down_id)  # its first answer (and the way back for a failed drill)

    assert back["offline"] is False and back["offline_reason"] is None and back["stats_updated_at"]
    assert _preferred_backend(stack) in _backends(stack)
    run = api_run(stack, cli_run_id(run_cli("reconcile", "servers").output))
    assert sorted(run["backends_checked"]) == sorted(_backends(stack))


def test_an_operators_offline_is_not_lifted_by_an_answer(stack):
    """Only the mark refresh set is lifted when the cluster answers again."""
    backend_id = min(_backends(stack))
    with stack.session() as session:
        row = session.get(Backend, backend_id)
        row.offline, row.offline_reason = True, "maintenance: disks replaced"
        session.commit()
    try:
        app = stack.celery

        # The beat leaves it alone; an operator's explicit refresh still reads it.
        answered = app.send_task("orchestrator.periodic.refresh_backend_stats").get(timeout=60)
        assert _backends(stack)[backend_id]["clustername"] not in answered, answered
        shown = _refresh_api(stack, backend_id)
        assert shown["offline"] is True and shown["offline_reason"] == "maintenance: disks replaced"
    finally:
        with stack.session() as session:
            row = session.get(Backend, backend_id)
            row.offline, row.offline_reason = False, None
            session.commit()
