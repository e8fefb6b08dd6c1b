"""The node agent's reports of network jobs (op_status of OP_NETWORK_*, naming the network)
on a real database: they move the network's row on the event's backend through the one state
function for networks, in Ganeti's job order, and leave the network operations to their
poll step."""
from __future__ import annotations

import pytest

from node_agent.jobs import op_events
from orchestrator import events
from orchestrator.auth import ADMIN, Principal
from orchestrator.ganeti import OP_NETWORK_ADD, OP_NETWORK_CONNECT, OP_NETWORK_REMOVE
from orchestrator.models import Backend, BackendNetwork, Network, Operation, OpStatus, Step
from orchestrator.network import operations as netops
from orchestrator.services import networks as svc

PREFIX = "snf-"
ALICE = Principal("alice", False)


@pytest.fixture
def network(context, session) -> int:
    """Alice's network, being created on backend 1 ("one"): its row PENDING, its network_create
    operation in flight. Backend 2 ("two") does not hold it."""
    one = Backend(id=1, clustername="one", host="h", port=1, username="u", password="p")
    session.add_all([one, Backend(id=2, clustername="two", host="h", port=2, username="u", password="p")])
    session.commit()
    svc.create_pool(context, session, ADMIN, type="mac-prefix", base="aa:00:0", size=65536)
    net = svc.create_network(context, session, ALICE, name="lan")
    svc.create_subnet(context, session, ALICE, network_id=net.id, cidr="10.0.0.0/24")
    session.add_all(netops.new_create(net, one, "alice"))
    session.commit()
    return net.id


def _job(job_id: int, opcode: str, status: str, ts: float, network: str, **op) -> dict:
    """A job of one network opcode as RAPI's /2/jobs?bulk=1 lists it."""
    end = [int(ts), 0] if status in ("success", "error", "canceled") else None
    return {"id": job_id, "ops": [{"OP_ID": opcode, "network_name": network, **op}], "opstatus": [status],
            "opresult": [["OpPrereqError", ["no such group", "wrong_input"]] if status == "error" else None],
            "oplog": [[]], "received_ts": [int(ts) - 2, 0], "start_ts": [int(ts) - 1, 0], "end_ts": end}


def _event(job_id: int, opcode: str, status: str, ts: float, network: str, cluster: str = "one", **op) -> dict:
    """What the agent beside `cluster` sends for that job."""
    ((_index, _status, event),) = op_events(cluster, _job(job_id, opcode, status, ts, network, **op))
    return event


def _apply(session, event) -> str:
    try:
        return events.apply_op_status(session, event, PREFIX)
    finally:
        session.rollback()


def _row(session, network_id: int, backend_id: int = 1) -> tuple:
    session.expire_all()
    row = session.query(BackendNetwork).filter_by(network_id=network_id, backend_id=backend_id).one()
    return row.state, row.job_id, row.job_status


def test_a_successful_connect_makes_the_backends_network_active_and_an_older_report_is_ignored(session, network):
    name = f"{PREFIX}net-{network}"
    assert _apply(session, _event(7, OP_NETWORK_ADD, "running", 100.0, name)) == "applied"
    assert _row(session, network) == ("PENDING", 7, "running")
    connected = _event(8, OP_NETWORK_CONNECT, "success", 110.0, name, group_name="default",
                       network_mode="bridged", network_link="prv0")
    assert _apply(session, connected) == "applied"
    assert _row(session, network) == ("ACTIVE", 8, "success")
    assert session.get(Network, network).state == "ACTIVE"
    assert _apply(session, connected) == "duplicate"
    # The add's end, and a failure of the connect's job as a stale agent saw it: older, ignored.
    assert _apply(session, _event(7, OP_NETWORK_ADD, "error", 105.0, name)) == "stale"
    assert _apply(session, _event(8, OP_NETWORK_CONNECT, "running", 109.0, name, group_name="default")) == "stale"
    assert _row(session, network) == ("ACTIVE", 8, "success")
    # The operation is its poll step's to end.
    op = session.query(Operation).filter_by(network_id=network).one()
    assert (op.status, op.step) == (OpStatus.PENDING.value, Step.SUBMIT.value)


def test_a_failed_connect_leaves_the_backends_network_in_error(session, network):
    name = f"{PREFIX}net-{network}"
    assert _apply(session, _event(9, OP_NETWORK_CONNECT, "error", 50.0, name, group_name="nogroup")) == "applied"
    assert _row(session, network) == ("ERROR", 9, "error")


def test_a_report_of_an_ended_operations_job_is_stale(session, network):
    name = f"{PREFIX}net-{network}"
    op = session.query(Operation).filter_by(network_id=network).one()
    op.status, op.step = OpStatus.SUCCEEDED.value, Step.DONE.value
    op.params = {netops.JOBS: [{"job_id": 12, "opcode": OP_NETWORK_ADD, "group": None, "status": "success"}]}
    session.commit()
    assert _apply(session, _event(12, OP_NETWORK_ADD, "error", 20.0, name)) == "stale"  # its finalize decided
    assert _row(session, network) == ("PENDING", None, None)


def test_a_removal_reported_deletes_the_backends_network(session, network):
    name = f"{PREFIX}net-{network}"
    _apply(session, _event(8, OP_NETWORK_CONNECT, "success", 110.0, name, group_name="default"))
    assert _apply(session, _event(20, OP_NETWORK_REMOVE, "success", 200.0, name)) == "applied"
    assert _row(session, network)[0] == "DELETED"


def test_strangers_are_unknown_or_foreign_and_change_nothing(session, network):
    assert _apply(session, _event(7, OP_NETWORK_ADD, "success", 1.0, f"other-net-{network}")) == "unknown"
    assert _apply(session, _event(7, OP_NETWORK_ADD, "success", 1.0, "public")) == "unknown"
    assert _apply(session, _event(7, OP_NETWORK_ADD, "success", 1.0, f"{PREFIX}net-9999")) == "unknown"
    ours = f"{PREFIX}net-{network}"
    assert _apply(session, _event(7, OP_NETWORK_CONNECT, "success", 1.0, ours, cluster="elsewhere")) == "foreign"
    assert _apply(session, _event(7, OP_NETWORK_CONNECT, "success", 1.0, ours, cluster="two")) == "foreign"
    assert _row(session, network) == ("PENDING", None, None)


@pytest.mark.parametrize("change", [{"network": 5}, {"cluster": ""}, {"cluster": None}, {"job_id": "x"},
                                    {"status": "done"}, {"timestamp": "soon"}])
def test_a_malformed_network_report_is_invalid(session, network, change):
    event = {**_event(7, OP_NETWORK_CONNECT, "success", 1.0, f"{PREFIX}net-{network}"), **change}
    with pytest.raises(events.InvalidEvent):
        _apply(session, event)
    assert _row(session, network) == ("PENDING", None, None)
