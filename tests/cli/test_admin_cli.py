"""Every admin command through click's runner, against the stack's real database and the
simulated clusters: tables for people, --output json for scripts, --filter-by on lists, and
a non-zero exit with one line on bad input."""
from __future__ import annotations

import json

import pytest
import requests
from click.testing import CliRunner

from orchestrator.cli import main
from tests.integration.helpers import RAPI_AUTH, active_server, instances_named

pytestmark = [pytest.mark.integration, pytest.mark.parametrize("stack", ["sqlite"], indirect=True)]

EXTRA_PASSWORD = "cli-cluster-secret"


def run(*args: str, code: int = 0):
    result = CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)
    assert result.exit_code == code, (args, result.exit_code, result.output)
    return result


def run_json(*args: str):
    return json.loads(run(*args, "--output", "json").stdout)


def fails(*args: str, says: str, code: int = 1) -> str:
    """Bad input: exit status `code`, and (for our own checks) one line naming the problem."""
    result = run(*args, code=code)
    assert says in result.output, result.output
    if code == 1:
        assert len(result.output.strip().splitlines()) == 1, result.output
        assert result.output.startswith("error: ")
    return result.output


@pytest.fixture(scope="module")
def extra_cluster():
    from ganeti_sim import SimFleet

    fleet = SimFleet(clusters=1, base_port=0, host="127.0.0.1", job_duration=0.3, user="rapi",
                     password=EXTRA_PASSWORD, name_format="cli{n}.sim.local")
    fleet.start()
    yield fleet.clusters[0]
    fleet.stop()


def test_db_upgrade_demo_seed_and_tokens(stack):
    assert "database at head" in run("db", "upgrade").output
    seeded = json.loads(run("demo", "seed").output.splitlines()[0])
    assert seeded == {"backends": [], "flavors": [], "images": [], "pools": []}  # already there: nothing new
    created = run("token", "create", "--user", "cli-dora", "--admin")
    token_id, secret = created.output.split()[2], created.output.strip().splitlines()[-1]
    assert stack.client.get("/api/v1/backends", headers={"Authorization": f"Bearer {secret}"}).status_code == 200
    assert "revoked" in run("token", "revoke", token_id).output
    fails("token", "revoke", "999999", says="token 999999 does not exist")


def test_backend_add_list_modify_update_status_remove(stack, extra_cluster):
    port = extra_cluster.port
    base = ["backend", "add", "--host", "127.0.0.1", "--port", port, "--scheme", "http", "--username", "rapi",
            "--no-verify-tls"]
    fails(*base, "--password", "not-it", says="rejected the RAPI credentials")
    fails(*base[:5], "1", *base[6:], "--password", EXTRA_PASSWORD, says="does not answer")
    added = json.loads(run(*base, "--password", EXTRA_PASSWORD, "--output", "json").stdout)
    assert (added["clustername"], added["drained"]) == ("cli1.sim.local", True)
    assert EXTRA_PASSWORD not in json.dumps(added)
    bid = added["id"]
    try:
        fails(*base, "--password", EXTRA_PASSWORD, says="already reaches")

        table = run("backend", "list").output
        assert "CLUSTERNAME" in table and "cli1.sim.local" in table and EXTRA_PASSWORD not in table
        drained = run_json("backend", "list", "--filter-by", "drained=true")
        assert [b["id"] for b in drained] == [bid]
        assert [b["clustername"] for b in run_json("backend", "list", "--filter-by", "clustername=cli1.sim.local")
                ] == ["cli1.sim.local"]
        fails("backend", "list", "--filter-by", "colour=blue", says="unknown key 'colour'")
        fails("backend", "list", "--filter-by", "drained=maybe", says="expected true or false")
        fails("backend", "list", "--filter-by", "drained", says="expected key=value")

        # Public networks other tests left on the stack are put on it first (it is undrained after).
        from tests.api.test_backends import _network_operations
        from tests.integration.helpers import wait_operation

        for op_id in _network_operations(stack, bid):
            assert wait_operation(stack, op_id, timeout=60)["status"] == "SUCCEEDED"
        modified = json.loads(run("backend", "modify", bid, "--undrained", "--offline", "--disk-templates",
                                  "plain", "--output", "json").stdout)
        assert (modified["drained"], modified["offline"], modified["disk_templates"]) == (False, True, ["plain"])
        assert "administrator" in modified["offline_reason"]
        back = json.loads(run("backend", "modify", bid, "--online", "--drained", "--output", "json").stdout)
        assert (back["offline"], back["drained"]) == (False, True)
        fails("backend", "modify", bid, "--password", "wrong-again", says="rejected the RAPI credentials")
        fails("backend", "modify", bid, says="nothing to modify")
        fails("backend", "modify", "999999", "--drained", says="backend 999999 not found")
        fails("backend", "modify", bid, "--disk-templates", "floppy", says="unknown disk templates")

        status = run_json("backend", "update-status", bid)
        assert status[0]["mtotal"] > 0 and status[0]["stats_updated_at"]

        # Remove: refused while a server lives there.
        server = active_server(stack, name="cli-on-extra", backend_id=bid)
        fails("backend", "remove", bid, says="server(s) that are not deleted")
        destroy = stack.client.delete(f"/api/v1/servers/{server['id']}", headers=stack.admin_headers)
        assert wait_operation(stack, destroy.json["id"])["status"] == "SUCCEEDED"
        assert f"backend {bid} removed" in run("backend", "remove", bid).output
        bid = None
        fails("backend", "remove", "999999", says="backend 999999 not found")
    finally:
        if bid is not None:
            CliRunner().invoke(main, ["backend", "modify", str(bid), "--drained"])
            CliRunner().invoke(main, ["backend", "remove", str(bid)])


def test_flavor_create_list_modify(stack):
    created = run_json("flavor", "create", "--cpus", "11,12", "--rams", "640", "--disks", "3,4",
                       "--disk-templates", "plain,drbd")
    assert len(created) == 8 and {f["name"] for f in created} >= {"C11R640D3plain", "C12R640D4drbd"}
    table = run("flavor", "list", "--filter-by", "cpu=11,ram=640,disk=3").output
    assert "C11R640D3plain" in table and "C11R640D3drbd" in table and "C12R640D3plain" not in table
    assert "DISK_TEMPLATE" in table
    fails("flavor", "create", "--cpus", "11", "--rams", "640", "--disks", "3", says="already taken")
    fails("flavor", "create", "--cpus", "1,x", "--rams", "640", "--disks", "3", says="--cpus")
    fails("flavor", "create", "--cpus", "0", "--rams", "640", "--disks", "3", says="out of range")
    fails("flavor", "create", "--cpus", "1,2", "--rams", "640", "--disks", "3", "--name", "one",
          says="a name is for one flavor")
    named = run_json("flavor", "create", "--cpus", "13", "--rams", "640", "--disks", "3", "--name", "cli-named")
    assert named[0]["name"] == "cli-named"

    fid = named[0]["id"]
    assert run_json("flavor", "modify", fid, "--deleted")[0]["deleted"] is True
    assert fid not in [f["id"] for f in run_json("flavor", "list")]
    assert fid in [f["id"] for f in run_json("flavor", "list", "--deleted")]
    assert [f["id"] for f in run_json("flavor", "list", "--filter-by", "deleted=true,name=cli-named")] == [fid]
    refused = stack.client.post("/api/v1/servers", json={"name": "x", "flavor_id": fid, "image_id": 1},
                                headers=stack.admin_headers)
    assert refused.status_code == 422
    assert run_json("flavor", "modify", fid, "--undeleted")[0]["deleted"] is False
    fails("flavor", "modify", fid, says="nothing to modify")
    fails("flavor", "modify", "999999", "--deleted", says="flavor 999999 not found")


def test_image_register_list_show(stack):
    shown = run_json("image", "register", "--name", "cli-img", "--location", "cli.diskdump", "--public",
                     "--property", "OSFAMILY=linux", "--property", "ROOT_PARTITION=1")
    assert (shown["public"], shown["disk_format"], shown["owner"]) == (True, "diskdump", "admin")
    assert shown["properties"]["OSFAMILY"] == "linux"
    assert run_json("image", "show", shown["id"]) == shown
    table = run("image", "show", shown["id"]).output
    assert "location" in table and "cli.diskdump" in table
    listed = run_json("image", "list", "--filter-by", "name=cli-img")
    assert [i["id"] for i in listed] == [shown["id"]]
    assert "DISK_FORMAT" in run("image", "list").output
    fails("image", "register", "--name", "x", "--location", "y", "--property", "novalue", says="KEY=VALUE")
    fails("image", "show", "999999", says="image 999999 not found")
    fails("image", "register", "--name", "x", "--location", "y", "--disk-format", "qcow2", says="qcow2", code=2)
    # A user can build from it through the API.
    assert shown["id"] in [i["id"] for i in stack.client.get(
        "/api/v1/images", headers=stack.admin_headers).json]


def test_server_create_wait_list_show_inspect_modify(stack):
    created = run("server", "create", "--user", "cli-carol", "--name", "cli-vm", "--flavor", "1", "--image", "1",
                  "--wait", "--output", "json")
    row = json.loads(created.stdout)
    assert (row["status"], row["operation_status"], row["user_id"]) == ("ACTIVE", "SUCCEEDED", "cli-carol")
    assert f"operation {row['operation_id']}" in created.stderr  # the progress bar's label
    assert row["config_url"].startswith("http") and len(instances_named(stack, f"snf-{row['id']}")) == 1
    sid = row["id"]

    nowait = json.loads(run("server", "create", "--user", "cli-carol", "--name", "cli-vm2", "--flavor", "2",
                            "--image", "1", "--output", "json").stdout)
    assert nowait["status"] == "BUILD" and nowait["operation_id"]
    stack.wait_status(nowait["id"], {"ACTIVE"})

    mine = run_json("server", "list", "--filter-by", "user=cli-carol")
    assert [s["id"] for s in mine] == [sid, nowait["id"]]
    assert [s["id"] for s in run_json("server", "list", "--filter-by", "user=cli-carol,flavor=2")] == [nowait["id"]]
    assert [s["id"] for s in run_json("server", "list", "--filter-by", "name=cli-vm,status=active")] == [sid]
    backend = row["backend_id"]
    assert sid in [s["id"] for s in run_json("server", "list", "--filter-by", f"backend={backend}")]
    table = run("server", "list", "--filter-by", "user=cli-carol").output
    assert "STATUS" in table and "cli-vm2" in table
    fails("server", "list", "--filter-by", "status=FLYING", says="--filter-by status")
    fails("server", "list", "--filter-by", "flavor=abc", says="expected a number")

    detail = run_json("server", "show", sid)
    assert (detail["id"], detail["operstate"], detail["status"]) == (sid, "STARTED", "ACTIVE")
    assert "operstate" in run("server", "show", sid).output
    fails("server", "show", "999999", says="server 999999 not found")

    report = run_json("server", "inspect", sid)
    assert report["instance"]["name"] == f"snf-{sid}" and report["cluster_error"] is None
    assert report["jobs"][0]["status"] == "success" and report["operations"][0]["kind"] == "create"
    text = run("server", "inspect", sid).output
    assert "== database" in text and f"== instance snf-{sid}" in text and "INSTANCE_CREATE" in text

    suspended = json.loads(run("server", "modify", sid, "--suspended", "--name", "cli-vm-x", "--output",
                               "json").stdout)
    assert (suspended["suspended"], suspended["name"]) == (True, "cli-vm-x")
    refused = stack.client.post(f"/api/v1/servers/{sid}/actions", json={"action": "shutdown"},
                                headers=_user(stack, "cli-carol"))
    assert refused.status_code == 409 and "suspended" in refused.json["message"]
    assert json.loads(run("server", "modify", sid, "--unsuspended", "--output", "json").stdout)["suspended"] is False
    fails("server", "modify", sid, says="nothing to modify")
    fails("server", "create", "--user", "u", "--name", "n", "--flavor", "999999", "--image", "1",
          says="flavor 999999 does not exist")


def test_server_create_wait_fails_visibly(stack):
    for cluster in stack.sim.clusters:
        requests.post(f"{cluster.url}/sim/faults", json={"fail_next_jobs": 1}, auth=RAPI_AUTH,
                      timeout=5).raise_for_status()
    try:
        result = run("server", "create", "--user", "cli-erin", "--name", "doomed", "--flavor", "1", "--image", "1",
                     "--wait", code=1)
    finally:
        for cluster in stack.sim.clusters:
            requests.delete(f"{cluster.url}/sim/faults", auth=RAPI_AUTH, timeout=5)
    last = result.stderr.strip().splitlines()[-1]
    assert "FAILED" in last and last.startswith("error: operation")
    op_id = int(last.split()[2])
    assert "resumed at step submit" in run("operation", "retry", op_id).output
    from tests.integration.helpers import wait_operation

    assert wait_operation(stack, op_id)["status"] == "SUCCEEDED"
    fails("operation", "retry", op_id, says="only FAILED operations")


def test_server_import(stack):
    from sqlalchemy import func, select

    from orchestrator.models import Server

    with stack.session() as session:
        sid = (session.scalar(select(func.max(Server.id))) or 0) + 2000
    cluster = stack.sim.clusters[0]
    requests.post(f"{cluster.url}/sim/instances", json={"name": f"snf-{sid}", "memory": 2048, "vcpus": 2,
                                                        "disks": [20480], "running": False},
                  auth=RAPI_AUTH, timeout=5).raise_for_status()
    imported = json.loads(run("server", "import", "--backend", "1", "--instance", f"snf-{sid}", "--user",
                              "cli-frank", "--image", "1", "--output", "json").stdout)
    assert (imported["id"], imported["status"], imported["flavor_id"], imported["user_id"]) == \
        (sid, "STOPPED", 2, "cli-frank")
    assert [o["kind"] for o in run_json("operation", "list", "--filter-by", f"server={sid}")] == ["import"]
    fails("server", "import", "--backend", "1", "--instance", f"snf-{sid}", "--user", "x", "--image", "1",
          says="already exists")
    fails("server", "import", "--backend", "1", "--instance", "web-legacy", "--user", "x", says="gnt-instance rename")
    fails("server", "import", "--backend", "999999", "--instance", "snf-5", "--user", "x",
          says="backend 999999 not found")


def test_operation_list_filter_by(stack):
    server = active_server(stack, headers=_user(stack, "cli-gina"), name="cli-ops")
    rows = run_json("operation", "list", "--filter-by", "user=cli-gina,kind=create")
    assert [r["server_id"] for r in rows] == [server["id"]]
    assert run_json("operation", "list", "--filter-by", "user=cli-gina,status=FAILED") == []
    shown = run_json("operation", "show", rows[0]["id"])
    assert shown[0]["status"] == "SUCCEEDED"
    fails("operation", "list", "--filter-by", "status=LOST", says="--filter-by status")
    fails("operation", "list", "--filter-by", "server=x", says="expected a number")


def _user(stack, user_id):
    from tests.integration.helpers import user_headers

    return user_headers(stack, user_id)
