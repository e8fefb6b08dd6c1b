"""What an operator sees and does: failed operations, retries, one-time passwords."""
from __future__ import annotations

import pytest
from sqlalchemy import text

from tests.integration.helpers import clear_faults, failed_create, instances_named, set_faults, wait_operation

pytestmark = pytest.mark.integration


def test_failed_job_then_retry_through_the_api(stack):
    created, op = failed_create(stack, "retry-me")
    assert op["error"]
    assert stack.server(created["id"])["status"] == "ERROR"
    failed = stack.client.get("/api/v1/operations", query_string={"status": "FAILED"}, headers=stack.admin_headers)
    assert op["id"] in [o["id"] for o in failed.json]

    response = stack.client.post(f"/api/v1/operations/{op['id']}/retry", headers=stack.admin_headers)
    assert response.status_code == 202, response.json
    assert wait_operation(stack, op["id"])["status"] == "SUCCEEDED"
    assert stack.server(created["id"])["status"] == "ACTIVE"
    assert len(instances_named(stack, f"snf-{created['id']}")) == 1

    again = stack.client.post(f"/api/v1/operations/{op['id']}/retry", headers=stack.admin_headers)
    assert again.status_code == 409


def test_failed_job_then_retry_from_flower_s_task(stack):
    """Flower's way: send `orchestrator.ops.retry_operation` with the operation id."""
    created, op = failed_create(stack, "retry-by-task")
    assert stack.celery.send_task("orchestrator.ops.retry_operation", args=[op["id"]]).get(timeout=30) == op["id"]
    assert wait_operation(stack, op["id"])["status"] == "SUCCEEDED"
    assert stack.server(created["id"])["status"] == "ACTIVE"


def test_one_time_password_url_and_no_password_anywhere(stack):
    password = "Secret-Passw0rd-XYZ"
    status, created = stack.create_server(name="pw", password=password)
    assert status == 202
    assert password not in str(created)
    stack.wait_status(created["id"], {"ACTIVE"})

    path = created["config_url"].split("://", 1)[1].split("/", 1)[1]
    first = stack.client.get(f"/{path}")
    assert first.status_code == 200 and first.json["password"] == password
    assert stack.client.get(f"/{path}").status_code == 404

    # The password is in no table and no log line of the run.
    with stack.session() as session:
        for table in ("servers", "operations", "backends", "flavors", "images", "tokens"):
            for row in session.execute(text(f"SELECT * FROM {table}")):
                assert password not in str(tuple(row)), table
    assert password not in stack.worker.log_path.read_text(errors="replace")
    for instance in instances_named(stack, f"snf-{created['id']}"):
        assert password not in str(instance)


def test_transient_rapi_failures_are_retried_then_fail_visibly(stack):
    server = stack.wait_status(stack.create_server(name="flaky")[1]["id"], {"ACTIVE"})
    set_faults(stack, http_error_rate=1.0, http_error_code=503)
    try:
        response = stack.client.post(f"/api/v1/servers/{server['id']}/actions", json={"action": "shutdown"},
                                     headers=stack.admin_headers)
        assert response.status_code == 202
        op = wait_operation(stack, response.json["id"], timeout=60)
    finally:
        clear_faults(stack)
    assert op["status"] == "FAILED"
    assert "gave up after 4 attempts" in op["error"] and "503" in op["error"]
    assert stack.server(server["id"])["status"] == "ACTIVE"  # Ganeti never got the shutdown

    retried = stack.client.post(f"/api/v1/operations/{op['id']}/retry", headers=stack.admin_headers)
    assert retried.status_code == 202
    assert wait_operation(stack, op["id"])["status"] == "SUCCEEDED"
    assert stack.server(server["id"])["status"] == "STOPPED"


def test_transient_failures_below_the_limit_are_invisible(stack):
    set_faults(stack, http_error_rate=0.15, http_error_code=502)
    try:
        status, created = stack.create_server(name="bumpy")
        op = wait_operation(stack, created["operation"]["id"], timeout=60)
    finally:
        clear_faults(stack)
    assert op["status"] == "SUCCEEDED", op
    assert len(instances_named(stack, f"snf-{created['id']}")) == 1


def test_rerunning_the_failed_task_as_flower_does_resumes_the_operation(stack):
    app = stack.celery

    server = stack.wait_status(stack.create_server(name="flower-rerun")[1]["id"], {"ACTIVE"})
    set_faults(stack, http_error_rate=1.0, http_error_code=503)
    try:
        response = stack.client.post(f"/api/v1/servers/{server['id']}/actions", json={"action": "shutdown"},
                                     headers=stack.admin_headers)
        op = wait_operation(stack, response.json["id"], timeout=60)
    finally:
        clear_faults(stack)
    assert op["status"] == "FAILED"
    with stack.session() as session:
        from orchestrator.models import Operation

        failed = session.get(Operation, op["id"]).params["failed_task"]
    assert failed["step"] == "submit"
    from tests.conftest import wait_for

    # The task that gave up is a FAILURE in Celery's results, so Flower lists it as failed.
    assert wait_for(lambda: app.AsyncResult(failed["id"]).state == "FAILURE", 10, what="FAILURE state")

    # Flower's "apply" sends the same task by name with the same arguments.
    app.send_task("orchestrator.ops.submit_job", args=[op["id"]])
    from tests.integration.helpers import operation

    wait_for(lambda: operation(stack, op["id"])["status"] == "SUCCEEDED", 30, what="the re-run to finish it")
    assert stack.server(server["id"])["status"] == "STOPPED"
