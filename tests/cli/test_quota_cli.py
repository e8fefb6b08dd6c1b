"""`user list|show|modify` and `reconcile quotas` through click's runner, against the stack's
real database: usage beside limits, limits set and refused, differences reported and fixed."""
from __future__ import annotations

import json

import pytest
from click.testing import CliRunner
from sqlalchemy import update

from orchestrator.cli import main
from orchestrator.models import QuotaHolding
from tests.integration.helpers import active_server, user_headers

pytestmark = [pytest.mark.integration, pytest.mark.parametrize("stack", ["sqlite"], indirect=True)]


def run(*args: str, code: int = 0):
    result = CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)
    assert result.exit_code == code, (args, result.exit_code, result.output)
    return result


def fails(*args: str, says: str) -> str:
    result = run(*args, code=1)
    assert says in result.output and result.output.startswith("error: "), result.output
    assert len(result.output.strip().splitlines()) == 1, result.output
    return result.output


def test_user_list_show_and_modify(stack):
    user = "cli-quota-alice"
    active_server(stack, headers=user_headers(stack, user), name="cq1")
    shown = json.loads(run("user", "modify", user, "--quota", "cyclades.vm=3", "--quota", "cyclades.ram=unlimited",
                           "--output", "json").stdout)
    assert shown["quotas"]["cyclades.vm"] == {"limit": 3, "usage": 1, "pending": 0, "default": False, "over": False}
    assert shown["quotas"]["cyclades.ram"]["limit"] is None and not shown["quotas"]["cyclades.ram"]["default"]

    table = run("user", "list").stdout
    header, *rows = table.splitlines()
    assert header.split()[:3] == ["USER", "CYCLADES.VM", "CYCLADES.TOTAL_CPU"]
    mine = next(r.split() for r in rows if r.startswith(user + " "))
    assert mine[1:4] == ["1/3", "1/-", "1/-"]  # usage/limit, "-": none

    detail = run("user", "show", user).stdout
    assert "cyclades.vm" in detail and "unlimited" in detail
    listed = json.loads(run("user", "list", "--output", "json").stdout)
    assert next(u for u in listed if u["user_id"] == user)["quotas"]["cyclades.disk"]["usage"] == 10

    # Below the usage: accepted, shown over; back to the default.
    run("user", "modify", user, "--quota", "cyclades.vm=0")
    assert "1/0!" in run("user", "list").stdout
    back = json.loads(run("user", "modify", user, "--quota", "cyclades.vm=default", "--output", "json").stdout)
    assert back["quotas"]["cyclades.vm"]["default"] is True and back["quotas"]["cyclades.vm"]["limit"] is None


def test_user_modify_refusals(stack):
    user = "cli-quota-bob"
    fails("user", "modify", user, "--quota", "cyclades.vm=-1", says="cyclades.vm")
    fails("user", "modify", user, "--quota", "cyclades.ram=-2048", says="cannot be negative")
    fails("user", "modify", user, "--quota", "cyclades.gpu=1", says="cyclades.gpu")
    fails("user", "modify", user, "--quota", "cyclades.vm=many", says="cyclades.vm")
    fails("user", "modify", user, "--quota", "cyclades.vm", says="resource=limit")
    fails("user", "modify", user, says="--quota")
    shown = json.loads(run("user", "show", user, "--output", "json").stdout)
    assert all(q["default"] for q in shown["quotas"].values())  # nothing was changed


def test_reconcile_quotas_reports_and_fixes(stack):
    user = "cli-quota-carol"
    active_server(stack, headers=user_headers(stack, user), name="cr1")
    assert user not in run("reconcile", "quotas").stdout
    with stack.session() as session:
        session.execute(update(QuotaHolding)
                        .where(QuotaHolding.user_id == user, QuotaHolding.resource == "cyclades.cpu")
                        .values(usage=QuotaHolding.usage + 5))
        session.commit()
    found = json.loads(run("reconcile", "quotas", "--output", "json").stdout)
    assert [d for d in found if d["user"] == user] == [
        {"user": user, "resource": "cyclades.cpu", "recorded_usage": 6, "counted_usage": 1,
         "recorded_pending": 0, "counted_pending": 0}]
    table = run("reconcile", "quotas", "--fix").stdout
    assert user in table and "fixed" in table
    assert user not in run("reconcile", "quotas").stdout
    shown = json.loads(run("user", "show", user, "--output", "json").stdout)
    assert shown["quotas"]["cyclades.cpu"]["usage"] == 1
