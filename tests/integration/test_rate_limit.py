"""A backend's RAPI request budget, seen from the simulated cluster's side: many operations
through real Celery workers (two processes) on a backend allowed 10 requests per second; the
cluster never sees more in any second, and every operation still succeeds. The budget is set
and shown through the API and the CLI, and bad figures are refused naming the field."""
from __future__ import annotations

import json

import pytest
import requests
from click.testing import CliRunner

from orchestrator.cli import main
from tests.conftest import Worker, wait_for
from tests.integration.helpers import RAPI_AUTH, operation

pytestmark = [pytest.mark.integration, pytest.mark.parametrize("stack", ["sqlite"], indirect=True)]

RATE, CONCURRENCY, OPERATIONS = 10, 3, 30


def run(*args: str):
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def meter(cluster) -> dict:
    response = requests.get(f"{cluster.url}/sim/meter", auth=RAPI_AUTH, timeout=5)
    response.raise_for_status()
    return response.json()


@pytest.fixture
def budgeted_backend(stack):
    """Backend 1 with a small budget, put back to the deployment's default afterwards."""
    response = stack.client.patch("/api/v1/backends/1", json={"rate_per_s": RATE, "concurrency": CONCURRENCY},
                                  headers=stack.admin_headers)
    assert response.status_code == 200, response.json
    try:
        yield response.json
    finally:
        reset = stack.client.patch("/api/v1/backends/1", json={"rate_per_s": None, "concurrency": None},
                                   headers=stack.admin_headers)
        assert reset.status_code == 200, reset.json
        assert (reset.json["rate_per_s"], reset.json["concurrency"]) == (None, None)


def test_no_second_above_the_budget_and_every_operation_finishes(stack, budgeted_backend):
    assert (budgeted_backend["rate_per_s"], budgeted_backend["concurrency"]) == (RATE, CONCURRENCY)
    cluster = stack.sim.clusters[0]
    # The second worker hardly waits for room: its steps find the budget full and retry later.
    impatient = {**stack.env, "RAPI_BUDGET_WAIT_S": "0.2", "RAPI_BACKGROUND_WAIT_S": "0"}
    second = Worker(impatient, stack.tmp / "worker-budget.log", concurrency=4, name="budget",
                    app=stack.celery).start()
    try:
        requests.delete(f"{cluster.url}/sim/meter", auth=RAPI_AUTH, timeout=5).raise_for_status()
        ops = []
        for i in range(OPERATIONS):
            status, created = stack.create_server(name=f"budget-{i}", backend_id=1)
            assert status == 202, created
            ops.append(created["operation"]["id"])
        finished = wait_for(lambda: (lambda done: done if len(done) == len(ops) else None)(
            [op for op in (operation(stack, op_id) for op_id in ops) if op["status"] in ("SUCCEEDED", "FAILED")]),
            timeout=120, interval=0.5, what="every operation to end")
    finally:
        second.stop()
    assert [op["status"] for op in finished] == ["SUCCEEDED"] * OPERATIONS, [op["error"] for op in finished]
    seen = meter(cluster)
    # Each create sent its job and polled it at least once: all of it within the budget.
    assert seen["total"] >= 2 * OPERATIONS
    assert seen["max_per_second"] <= RATE, seen["per_second"]
    assert seen["max_in_flight"] <= CONCURRENCY
    # Steps that found no room were retried later, and that was no failure (all SUCCEEDED above).
    assert "waits for room in its backend's request budget" in second.log_path.read_text(errors="replace")


def test_the_budget_through_the_api_refuses_bad_figures(stack):
    for bad in (-1, "ten", 1.5, True, 10**9):
        response = stack.client.patch("/api/v1/backends/1", json={"rate_per_s": bad}, headers=stack.admin_headers)
        assert response.status_code == 422, (bad, response.json)
        assert "rate_per_s" in str(response.json["errors"])
    response = stack.client.patch("/api/v1/backends/1", json={"concurrency": -3}, headers=stack.admin_headers)
    assert response.status_code == 422 and "concurrency" in str(response.json["errors"])
    shown = stack.client.get("/api/v1/backends/1", headers=stack.admin_headers).json
    assert (shown["rate_per_s"], shown["concurrency"]) == (None, None)  # nothing was written


def test_the_budget_through_the_cli(stack):
    refused = CliRunner().invoke(main, ["backend", "modify", "2", "--rate-per-s", "-5"])
    assert refused.exit_code != 0 and "--rate-per-s" in refused.output and "negative" in refused.output
    refused = CliRunner().invoke(main, ["backend", "modify", "2", "--concurrency", "many"])
    assert refused.exit_code != 0 and "--concurrency" in refused.output

    shown = run("backend", "show", "2")
    assert shown.exit_code == 0 and "(default)" in shown.output
    try:
        modified = run("backend", "modify", "2", "--rate-per-s", "12", "--concurrency", "0", "--output", "json")
        assert modified.exit_code == 0, modified.output
        row = json.loads(modified.output)
        assert (row["rate_per_s"], row["concurrency"]) == (12, 0)
        listed = json.loads(run("backend", "list", "--output", "json").output)
        assert [(r["rate_per_s"], r["concurrency"]) for r in listed if r["id"] == 2] == [(12, 0)]
        api = stack.client.get("/api/v1/backends/2", headers=stack.admin_headers).json
        assert (api["rate_per_s"], api["concurrency"]) == (12, 0)
    finally:
        back = run("backend", "modify", "2", "--rate-per-s", "default", "--concurrency", "default")
        assert back.exit_code == 0, back.output
    api = stack.client.get("/api/v1/backends/2", headers=stack.admin_headers).json
    assert (api["rate_per_s"], api["concurrency"]) == (None, None)
