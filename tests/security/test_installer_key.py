"""The OS installer's one-time config key is a credential like the user's: it is in no row
of the database, in no answer of the API nor of Ganeti (sent in `osparams_secret`, which
the cluster never stores nor shows), and it is spent as soon as its create ends, whichever
way it ends; its entry lost before the submit, the create goes on without it."""
from __future__ import annotations

import logging
from urllib.parse import urlsplit

import pytest
import requests
from sqlalchemy import inspect as sa_inspect
from sqlalchemy import text

from orchestrator import vmconfig
from orchestrator.models import Operation
from orchestrator.services import servers as server_service
from tests.conftest import wait_for
from tests.integration.helpers import RAPI_AUTH, active_server, jobs_failing, operation, user_headers, wait_operation

def config_keys(stack) -> set[str]:
    """The one-time configurations in Redis (not the installers' pointers to them)."""
    names = {n.decode() for n in stack.ctx.redis.scan_iter(match="vmconfig:*", count=1000)}
    return {n.split(":", 1)[1] for n in names if not n.startswith("vmconfig:installer:")}


def create(stack, headers, name: str) -> tuple[dict, str]:
    """A create as a user asks it, and the installer's key: the one config it stored beside
    the user's (found in Redis, where alone it lives)."""
    before = config_keys(stack)
    response = stack.client.post("/api/v1/servers", json={"name": name, "flavor_id": 1, "image_id": 1},
                                 headers=headers)
    assert response.status_code == 202, response.json
    user_key = urlsplit(response.json["config_url"]).path.rsplit("/", 1)[1]
    new = config_keys(stack) - before
    assert user_key in new and len(new) == 2, new
    (installer_key,) = new - {user_key}
    return response.json, installer_key


def database_text(stack) -> str:
    """Every row of every table, as text."""
    with stack.session() as session:
        engine = session.get_bind()
        rows = []
        for table in sa_inspect(engine).get_table_names():
            rows += [f"{table}: {tuple(row)!r}" for row in session.execute(text(f'SELECT * FROM "{table}"'))]
    return "\n".join(rows)


def spent(stack, key: str) -> bool:
    return not stack.ctx.redis.exists(f"vmconfig:{key}")


def cluster_jobs_of(stack, instance: str) -> list[tuple[object, object]]:
    """(cluster, queued job) of every job of the simulated clusters about `instance`."""
    return [(cluster, job) for cluster in stack.sim.clusters for job in list(cluster.queue.jobs.values())
            if any(op.input.get("instance_name") == instance for op in job.ops)]


@pytest.mark.integration
@pytest.mark.parametrize("stack", ["sqlite"], indirect=True)
def test_the_installer_key_is_stored_and_shown_nowhere_and_spent_when_the_create_ends(stack):
    user = user_headers(stack, "installer-key-user")
    created, installer_key = create(stack, user, "installer-key-ok")
    server_id, op_id = created["id"], created["operation"]["id"]
    server = stack.wait_status(server_id, {"ACTIVE", "ERROR"})
    assert server["status"] == "ACTIVE", server
    assert wait_operation(stack, op_id)["status"] == "SUCCEEDED"

    # (a) no row of any table holds it (the scan does read the rows: the server's name is there)
    rows = database_text(stack)
    assert "installer-key-ok" in rows
    assert installer_key not in rows and "config_url" not in rows

    # the installer got it, in osparams_secret only; the cluster shows it in no query
    instance = f"snf-{server_id}"
    (cluster, job), = [(c, j) for c, j in cluster_jobs_of(stack, instance)
                       if j.ops[0].input["OP_ID"] == "OP_INSTANCE_CREATE"]
    sent = job.ops[0].input
    assert sent["osparams_secret"] == {"config_url": vmconfig.config_url(stack.ctx.settings.public_api_url,
                                                                           installer_key)}
    assert "config_url" not in sent["osparams"]
    shown_job = requests.get(f"{cluster.url}/2/jobs/{job.id}", auth=RAPI_AUTH, timeout=5)
    assert shown_job.json()["ops"][0]["osparams_secret"] == {"config_url": "<redacted>"}
    for path in (f"/2/jobs/{job.id}", "/2/jobs?bulk=1", f"/2/instances/{instance}", "/2/instances?bulk=1"):
        answer = requests.get(f"{cluster.url}{path}", auth=RAPI_AUTH, timeout=5)
        assert answer.status_code == 200 and installer_key not in answer.text, path

    # (b) no API answer shows it: inspect (the live instance and its jobs), the server, the operation
    inspected = stack.client.get(f"/api/v1/servers/{server_id}/inspect", headers=stack.admin_headers)
    assert inspected.status_code == 200 and inspected.json["instance"]["name"] == instance
    assert "config_url" not in inspected.get_data(as_text=True)
    assert installer_key not in inspected.get_data(as_text=True)
    for path in (f"/api/v1/servers/{server_id}", f"/api/v1/operations/{op_id}", "/api/v1/operations"):
        answer = stack.client.get(path, headers=stack.admin_headers)
        assert answer.status_code == 200 and installer_key not in answer.get_data(as_text=True), path

    # (c) the create ended: the installer's URL is spent; the user's still answers, once
    wait_for(lambda: spent(stack, installer_key), 10, what="the installer's config to be spent")
    assert stack.ctx.configs.installer_key(op_id) is None
    installer = stack.client.get(f"/api/v1/config/{installer_key}")
    assert installer.status_code == 404 and installer.headers["Cache-Control"] == "no-store"
    mine = stack.client.get(urlsplit(created["config_url"]).path)
    assert mine.status_code == 200 and mine.json["password"] and mine.headers["Cache-Control"] == "no-store"
    again = stack.client.get(urlsplit(created["config_url"]).path)
    assert again.status_code == 404 and again.headers["Cache-Control"] == "no-store"


@pytest.mark.integration
@pytest.mark.parametrize("stack", ["sqlite"], indirect=True)
def test_a_create_that_fails_spends_the_installer_key(stack):
    user = user_headers(stack, "installer-key-user")
    with jobs_failing(stack):
        created, installer_key = create(stack, user, "installer-key-failed")
        op = wait_operation(stack, created["operation"]["id"])
    assert op["status"] == "FAILED" and stack.server(created["id"])["status"] == "ERROR", op
    wait_for(lambda: spent(stack, installer_key), 10, what="the failed create's installer config to be spent")
    installer = stack.client.get(f"/api/v1/config/{installer_key}")
    assert installer.status_code == 404 and installer.headers["Cache-Control"] == "no-store"
    assert installer_key not in database_text(stack)
    # the user may still read theirs (an operator may retry the create)
    assert stack.client.get(urlsplit(created["config_url"]).path).status_code == 200


@pytest.mark.integration
@pytest.mark.parametrize("stack", ["sqlite"], indirect=True)
def test_a_destroy_that_supersedes_the_create_spends_it(stack):
    user = user_headers(stack, "installer-key-user")
    created, installer_key = create(stack, user, "installer-key-destroyed")
    destroy = stack.client.delete(f"/api/v1/servers/{created['id']}", headers=user)
    assert destroy.status_code == 202, destroy.json
    wait_operation(stack, destroy.json["id"])
    assert operation(stack, created["operation"]["id"])["status"] in ("FAILED", "SUCCEEDED")
    wait_for(lambda: spent(stack, installer_key), 10, what="the superseded create's installer config to be spent")
    assert stack.client.get(f"/api/v1/config/{installer_key}").status_code == 404


@pytest.mark.integration
@pytest.mark.parametrize("stack", ["sqlite"], indirect=True)
def test_the_sweep_spends_what_no_step_saw_end(stack):
    """Entries whose create ended outside a chain step (or whose operation is gone) are
    spent by the beat's sweep; one whose create is in flight, or just being committed, stays."""
    configs, ctx = stack.ctx.configs, stack.ctx
    server = active_server(stack, name="installer-key-swept")
    with stack.session() as session:
        running = Operation(kind="create", server_id=server["id"], user_id="sweeper", status="RUNNING",
                            step="poll", params={})  # no chain drives it (the stack runs no beat)
        session.add(running)
        session.commit()
        ended_id, running_id = server["operation"]["id"], running.id
    gone_old, gone_new = 10_000_000, 10_000_001
    keys = {op_id: configs.put_installer(op_id, {"password": "x"}) for op_id in (ended_id, running_id, gone_old,
                                                                                    gone_new)}
    stack.ctx.redis.expire(f"vmconfig:installer:{gone_old}", configs.ttl_s - server_service.INSTALLER_GRACE_S - 5)
    try:
        assert sorted(server_service.sweep_installer_configs(ctx)) == [ended_id, gone_old]
        assert [spent(stack, keys[op_id]) for op_id in (ended_id, running_id, gone_old, gone_new)] == [
            True, False, True, False]
        with stack.session() as session:
            session.get(Operation, running_id).status = "FAILED"
            session.commit()
        assert server_service.sweep_installer_configs(ctx) == [running_id]
    finally:
        configs.spend_installers(*keys)
        with stack.session() as session:
            session.get(Operation, running_id).status = "FAILED"
            session.commit()
    assert "spend-installer-configs" in stack.celery.conf.beat_schedule


def test_a_submit_without_its_installer_entry_goes_on_and_says_so_once(redis_server, caplog):
    """Expired or lost (TTL, a Redis restart) or Redis down: the create is sent without it."""
    from tests.harness.services import free_port

    caplog.set_level(logging.WARNING, logger="orchestrator.vmconfig")
    store = vmconfig.ConfigStore.from_url(redis_server.url(3))
    key = store.put_installer(41, {"password": "pw"})
    assert vmconfig.installer_osparams(store, 41, "https://api.example/") == {
        "config_url": f"https://api.example/api/v1/config/{key}"}
    assert store.spend_installers(41) == 1 and store.pop(key) is None
    assert vmconfig.installer_osparams(store, 41, "https://api.example") == {}
    down = vmconfig.ConfigStore.from_url(f"redis://127.0.0.1:{free_port()}/0")
    assert vmconfig.installer_osparams(down, 42, "https://api.example") == {}
    assert down.spend_installers(42) == 0  # best effort: the sweep tries again
    warnings = [r.getMessage() for r in caplog.records if r.name == "orchestrator.vmconfig"]
    assert len([w for w in warnings if "without the installer's" in w]) == 2, warnings
    assert all(key not in w for w in warnings)
