"""A broker outage after the commit loses nothing, whoever asked: the API's and the CLI's
create and retry answer success with their operation, which stays PENDING, and recovery
finishes every one of them once the broker is back."""
from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from api.app import create_app
from orchestrator.cli import main
from tests.conftest import Worker, celery_for, wait_for
from tests.harness.services import RedisServer
from tests.integration.helpers import clear_faults, fail_next_jobs

pytestmark = [pytest.mark.integration, pytest.mark.parametrize("stack", ["sqlite"], indirect=True)]


@pytest.fixture
def own_broker(stack, tmp_path):
    """A broker of this test's own (Redis), with a worker on it and an API publishing to it;
    recovery re-drives after one second. The stack's Redis keeps the results and passwords."""
    broker = RedisServer(tmp_path / "broker").start()
    env = {**stack.env, "CELERY_BROKER_URL": broker.url(0), "OPERATION_STALL_S": "1"}
    celery = celery_for(env)
    worker = Worker(env, tmp_path / "worker.log", app=celery, name="outage").start()
    app = create_app(celery.context.settings, celery.context)
    app.config["TESTING"] = True
    try:
        yield broker, env, celery, app.test_client()
    finally:
        worker.stop()
        celery.close()
        broker.stop()


def _operation(api, headers, op_id: int) -> dict:
    response = api.get(f"/api/v1/operations/{op_id}", headers=headers)
    assert response.status_code == 200, response.json
    return response.json


def _cli(env, *args: str):
    result = CliRunner().invoke(main, list(args), env={"CELERY_BROKER_URL": env["CELERY_BROKER_URL"]},
                                catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result


def test_create_and_retry_during_a_broker_outage_finish_when_it_is_back(stack, own_broker):
    broker, env, celery, api = own_broker
    headers = stack.admin_headers
    fail_next_jobs(stack, 2)  # two creates fail on the cluster: the retries to come
    try:
        failed = [api.post("/api/v1/servers", json={"name": f"outage-failed-{i}", "flavor_id": 1, "image_id": 1},
                           headers=headers).json["operation"]["id"] for i in range(2)]
        wait_for(lambda: all(_operation(api, headers, op)["status"] == "FAILED" for op in failed), 60,
                 what="both creates to fail")
    finally:
        clear_faults(stack)

    broker.stop()
    created = api.post("/api/v1/servers", json={"name": "outage-api", "flavor_id": 1, "image_id": 1}, headers=headers)
    assert created.status_code == 202, created.json
    retried = api.post(f"/api/v1/operations/{failed[0]}/retry", headers=headers)
    assert retried.status_code == 202, retried.json
    assert retried.json["id"] == failed[0]
    cli_created = json.loads(_cli(env, "server", "create", "--user", "outage-user", "--name", "outage-cli",
                                  "--flavor", "1", "--image", "1", "--output", "json").stdout)
    cli_retried = _cli(env, "operation", "retry", str(failed[1]))
    assert f"operation {failed[1]} resumed" in cli_retried.output
    ops = [created.json["operation"]["id"], failed[0], cli_created["operation_id"], failed[1]]
    assert [_operation(api, headers, op)["status"] for op in ops] == ["PENDING"] * 4  # accepted, durable

    broker.start()  # the same port: the worker reconnects; the beat's recovery re-drives
    def recovered() -> bool:  # the beat's task, run by the worker, as often as the test waits
        celery.send_task("orchestrator.periodic.recover_operations", ignore_result=True)
        return all(_operation(api, headers, op)["status"] != "PENDING" for op in ops)

    wait_for(recovered, 60, interval=1.0, what="recovery to re-drive the operations")
    done = wait_for(lambda: (lambda rows: rows if all(r["status"] == "SUCCEEDED" for r in rows) else None)(
        [_operation(api, headers, op) for op in ops]), 90, what="every operation to succeed")
    servers = [api.get(f"/api/v1/servers/{op['server_id']}", headers=headers).json for op in done]
    assert [s["status"] for s in servers] == ["ACTIVE"] * 4
