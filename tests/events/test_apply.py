"""The event rules on a database, without a broker: order, duplicates, strangers, and how
an event and the chain's steps converge on one operation."""
from __future__ import annotations

import itertools

import pytest

from orchestrator import events, steps
from orchestrator.models import Operation, OperState, Server, Step

_ids = itertools.count(1)


@pytest.fixture(scope="module")
def db_url(tmp_path_factory) -> str:
    from orchestrator import demo, migrate
    from orchestrator.db import session_scope

    url = f"sqlite:///{tmp_path_factory.mktemp('apply') / 'events.db'}"
    migrate.upgrade(url)
    with session_scope(url) as session:
        demo.seed(session, env={"SIM_CLUSTERS": "2"})
    return url


@pytest.fixture
def server(db_url) -> int:
    from orchestrator.db import session_scope

    with session_scope(db_url) as session:
        row = Server(id=next(_ids), user_id="u", name="s", flavor_id=1, image_id=1, backend_id=1, nics=[])
        session.add(row)
        session.commit()
        return row.id


def apply(db_url, kind: str, event: dict, **kwargs) -> str:
    from orchestrator.db import session_scope

    fn = {"op_status": events.apply_op_status, "build_progress": events.apply_build_progress,
          "nic_info": events.apply_nic_info}[kind]
    with session_scope(db_url) as session:
        return fn(session, event, "snf-", **kwargs)


def row(db_url, server_id: int) -> Server:
    from orchestrator.db import session_scope

    with session_scope(db_url) as session:
        return session.get(Server, server_id)


def op_status(server_id: int, job_id: int, status: str, ts: float, opcode: str = "OP_INSTANCE_CREATE", **extra):
    return {"cluster": "cluster1.sim.local", "instance": f"snf-{server_id}", "job_id": job_id, "opcode": opcode,
            "status": status, "log_msg": f"{status} log", "timestamp": ts, **extra}


def test_a_duplicate_changes_nothing_and_an_older_status_is_stale(db_url, server):
    assert apply(db_url, "op_status", op_status(server, 10, "running", 100.0)) == "applied"
    assert apply(db_url, "op_status", op_status(server, 10, "success", 105.0)) == "applied"
    assert apply(db_url, "op_status", op_status(server, 10, "success", 105.0)) == "duplicate"
    assert apply(db_url, "op_status", op_status(server, 10, "queued", 99.0)) == "stale"
    s = row(db_url, server)
    assert (s.operstate, s.backend_job_status, s.backend_time, s.build_percentage) == ("STARTED", "success", 105.0, 100)


def test_a_late_success_still_counts_but_does_not_move_the_record_back(db_url, server):
    apply(db_url, "op_status", op_status(server, 10, "success", 105.0))
    apply(db_url, "op_status", op_status(server, 12, "running", 111.0, "OP_INSTANCE_STARTUP"))
    # the shutdown between them ends late: the server is STOPPED as of 108, job 12 still shown
    assert apply(db_url, "op_status", op_status(server, 11, "success", 108.0, "OP_INSTANCE_SHUTDOWN")) == "applied"
    s = row(db_url, server)
    assert (s.operstate, s.backend_time, s.backend_job_id, s.backend_job_status) == ("STOPPED", 108.0, 12, "running")
    # and a success older than the last one applied changes nothing
    assert apply(db_url, "op_status", op_status(server, 9, "success", 101.0, "OP_INSTANCE_REBOOT")) == "stale"


def test_nothing_brings_back_a_server_whose_removal_found_nothing(db_url, server):
    apply(db_url, "op_status", op_status(server, 20, "error", 130.0, "OP_INSTANCE_REMOVE", ecode="unknown_entity"))
    assert row(db_url, server).operstate == "DESTROYED"
    # the removal set the operstate, so it is the backend time: the create's late success is older
    assert apply(db_url, "op_status", op_status(server, 10, "success", 105.0)) == "stale"
    s = row(db_url, server)
    assert (s.operstate, s.deleted, s.backend_time, s.backend_job_id) == ("DESTROYED", True, 130.0, 20)


def test_strangers_and_malformed_events_are_dropped(db_url, server):
    assert apply(db_url, "op_status", {**op_status(server, 1, "queued", 1.0), "instance": "other-1"}) == "unknown"
    assert apply(db_url, "op_status", op_status(999_999, 1, "queued", 1.0)) == "unknown"
    assert apply(db_url, "op_status", {**op_status(server, 1, "queued", 1.0), "cluster": "cluster2.sim.local"}) \
        == "foreign"
    for bad in ({"instance": f"snf-{server}"}, {**op_status(server, 1, "sleeping", 1.0)},
                {**op_status(server, 1, "queued", "soon")}, ["not", "an", "object"]):
        with pytest.raises(events.InvalidEvent):
            apply(db_url, "op_status", bad)
    with pytest.raises(events.InvalidEvent):
        apply(db_url, "build_progress", {"instance": f"snf-{server}", "percentage": 140})


def test_progress_only_rises_and_nics_are_replaced(db_url, server):
    progress = lambda p: {"cluster": "cluster1.sim.local", "instance": f"snf-{server}", "percentage": p}  # noqa: E731
    assert [apply(db_url, "build_progress", progress(p)) for p in (25, 75, 50, 75)] == \
        ["applied", "applied", "stale", "duplicate"]
    nics = {"cluster": "cluster1.sim.local", "instance": f"snf-{server}",
            "nics": [{"index": 0, "ip": "10.0.0.2", "mac": "aa:01", "mode": "bridged", "link": "br0",
                      "network": "lan"}]}
    assert apply(db_url, "nic_info", nics) == "applied"
    assert apply(db_url, "nic_info", nics) == "duplicate"
    s = row(db_url, server)
    assert (s.build_percentage, s.nics) == (75, [{"index": 0, "ip": "10.0.0.2", "mac": "aa:01", "network": "lan"}])


def test_an_older_nic_report_arriving_late_is_stale(db_url, server):
    def nics(ip: str, ts: float) -> dict:
        return {"cluster": "cluster1.sim.local", "instance": f"snf-{server}", "timestamp": ts,
                "nics": [{"index": 0, "ip": ip, "mac": "aa:02", "network": "lan"}]}

    assert apply(db_url, "nic_info", nics("10.0.0.9", 200.0)) == "applied"  # after a NIC modify
    assert apply(db_url, "nic_info", nics("10.0.0.2", 150.0)) == "stale"  # the create's hook, late
    assert row(db_url, server).nics[0]["ip"] == "10.0.0.9"
    assert apply(db_url, "nic_info", nics("10.0.0.7", 250.0)) == "applied"
    assert row(db_url, server).nics[0]["ip"] == "10.0.0.7"


def _operation(db_url, server_id: int, step: Step, job_id: int | None) -> int:
    from orchestrator.db import session_scope

    with session_scope(db_url) as session:
        op = Operation(kind="create", server_id=server_id, user_id="u", status="RUNNING", step=step.value,
                       job_id=job_id, params={})
        session.add(op)
        session.commit()
        return op.id


def _op(db_url, op_id: int) -> Operation:
    from orchestrator.db import session_scope

    with session_scope(db_url) as session:
        return session.get(Operation, op_id)


def test_the_event_ends_the_operation_and_the_chain_then_finds_it_done(db_url, server):
    from orchestrator.db import session_scope

    op_id = _operation(db_url, server, Step.POLL, 30)
    assert apply(db_url, "op_status", op_status(server, 30, "success", 140.0)) == "applied"
    op = _op(db_url, op_id)
    assert (op.status, op.step, op.job_status) == ("SUCCEEDED", "done", "success")
    assert row(db_url, server).operstate == OperState.STARTED.value
    from tests.conftest import context_for

    with session_scope(db_url) as session:
        steps.finalize(session, op_id, context_for(db_url))  # the chain's own step, late: nothing to do
    assert _op(db_url, op_id).finished_at == op.finished_at


def test_after_the_chain_concluded_the_event_finalizes_with_the_chain_s_result(db_url, server):
    from orchestrator.db import session_scope
    from orchestrator.state import JobReport

    op_id = _operation(db_url, server, Step.POLL, 31)
    with session_scope(db_url) as session:  # the poll step saw the end first
        op = session.get(Operation, op_id)
        steps.conclude(op, JobReport(31, "OP_INSTANCE_CREATE", "error", 150.0, log_msg="OpExecError: boom"))
        session.commit()
    assert apply(db_url, "op_status", op_status(server, 31, "error", 149.9, log_msg="OpExecError: boom")) == "applied"
    op = _op(db_url, op_id)
    assert (op.status, op.error) == ("FAILED", "OpExecError: boom")
    assert row(db_url, server).operstate == OperState.ERROR.value


def test_an_end_before_the_operation_recorded_its_job_waits_for_it(db_url, server):
    _operation(db_url, server, Step.SUBMIT, None)
    with pytest.raises(events.NotYet):
        apply(db_url, "op_status", op_status(server, 32, "success", 160.0))
    assert row(db_url, server).operstate == OperState.BUILD.value  # nothing shown before the operation ends
    assert apply(db_url, "op_status", op_status(server, 32, "running", 159.0)) == "applied"  # progress is fine
    assert apply(db_url, "op_status", op_status(server, 32, "success", 160.0), wait_for_chain=False) == "applied"
