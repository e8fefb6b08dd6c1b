"""The admin CLI through click's runner, against the stack's real database and clusters."""
from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from orchestrator.cli import main
from tests.integration.helpers import failed_create, instances_named, wait_operation

pytestmark = pytest.mark.integration


def run(*args: str):
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def test_operation_list_show_retry(stack):
    created, op = failed_create(stack, "cli-retry")

    listed = run("operation", "list", "--status", "FAILED", "--output", "json")
    assert listed.exit_code == 0
    row = next(r for r in json.loads(listed.output) if r["id"] == op["id"])
    assert (row["step"], row["status"]) == ("finalize", "FAILED") and row["error"]
    table = run("operation", "list", "--status", "FAILED")
    assert "STEP" in table.output and str(op["id"]) in table.output

    retried = run("operation", "retry", str(op["id"]))
    assert retried.exit_code == 0 and "resumed at step submit" in retried.output
    assert wait_operation(stack, op["id"])["status"] == "SUCCEEDED"
    assert stack.server(created["id"])["status"] == "ACTIVE"
    assert len(instances_named(stack, f"snf-{created['id']}")) == 1

    again = run("operation", "retry", str(op["id"]))
    assert again.exit_code == 1 and "only FAILED operations" in again.output
    shown = run("operation", "show", str(op["id"]), "--output", "json")
    assert json.loads(shown.output)[0]["status"] == "SUCCEEDED"


def test_bad_cli_input_is_a_message_and_non_zero(stack):
    missing = run("operation", "show", "999999")
    assert missing.exit_code == 1 and "operation 999999 not found" in missing.output
    bad = run("operation", "list", "--status", "BOGUS")
    assert bad.exit_code == 2 and "BOGUS" in bad.output
    assert run("token", "revoke", "999999").exit_code == 1


def test_token_create_is_shown_once_and_revoke_works(stack):
    created = run("token", "create", "--user", "dora")
    assert created.exit_code == 0
    token = created.output.strip().splitlines()[-1]
    token_id = created.output.split()[2]
    headers = {"Authorization": f"Bearer {token}"}
    assert stack.client.get("/api/v1/servers", headers=headers).status_code == 200
    with stack.session() as session:
        from sqlalchemy import text

        stored = [row[0] for row in session.execute(text("SELECT token_hash FROM tokens"))]
    assert token not in stored  # only its hash is kept
    assert run("token", "revoke", token_id).exit_code == 0
    assert stack.client.get("/api/v1/servers", headers=headers).status_code == 401
