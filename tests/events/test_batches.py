"""Events an agent sends together in one message: applied by a real worker in the agent's
order, each on its own, an unapplicable one never losing or reordering the rest."""
from __future__ import annotations

import pytest

from orchestrator.models import Operation, OperState, Server, Step
from tests.conftest import wait_for

pytestmark = [pytest.mark.integration, pytest.mark.xdist_group("events")]

FIRST_ID = 50_001  # below test_replay's servers (from 100,001), which it counts by id


def _servers(db_url: str, count: int, *, op_without_job: int | None = None) -> list[int]:
    from orchestrator.db import session_scope

    with session_scope(db_url) as session:
        ids = []
        for i in range(count):
            server = Server(id=FIRST_ID + _servers.used + i, user_id="batch", name=f"batch-{i}", flavor_id=1,
                            image_id=1, backend_id=1, operstate="BUILD", build_percentage=0, nics=[])
            session.add(server)
            ids.append(server.id)
        session.flush()
        if op_without_job is not None:  # a create whose submit has not recorded its job id yet
            session.add(Operation(kind="create", server_id=ids[op_without_job], user_id="batch", status="RUNNING",
                                  step=Step.SUBMIT.value, job_id=None, params={}))
        session.commit()
    _servers.used += count
    return ids


_servers.used = 0


def _progress(server_id: int, percent: int, ts: float) -> dict:
    return {"cluster": "cluster1.sim.local", "instance": f"snf-{server_id}", "percentage": percent, "timestamp": ts}


def _op_status(server_id: int, job_id: int, status: str, ts: float) -> dict:
    return {"cluster": "cluster1.sim.local", "instance": f"snf-{server_id}", "job_id": job_id,
            "opcode": "OP_INSTANCE_CREATE", "status": status, "log_msg": f"{status} log", "timestamp": ts}


def _rows(db_url: str, ids: list[int]) -> dict[int, Server]:
    from orchestrator.db import session_scope

    with session_scope(db_url) as session:
        return {row.id: row for row in session.query(Server).filter(Server.id.in_(ids))}


def _send(stack, batch) -> None:
    from node_agent.emitter import Emitter

    emitter = Emitter(stack.env["CELERY_BROKER_URL"])
    try:
        emitter.send_many(batch)
    finally:
        emitter.close()


def test_a_batch_is_applied_in_order_and_a_bad_item_costs_only_itself(event_stack):
    stack = event_stack
    ids = _servers(stack.db_url, 3)
    before = stack.counts()
    _send(stack, [("build_progress", _progress(ids[0], 10, 1000.0)),
                  ("build_progress", _progress(ids[0], 40, 1001.0)),
                  ("op_status", {"cluster": "cluster1.sim.local"}),  # malformed: dropped alone
                  ("no_such_kind", {"instance": f"snf-{ids[1]}"}),
                  ("build_progress", _progress(ids[1], 70, 1002.0)),
                  ("op_status", _op_status(ids[2], 77, "running", 1003.0))])

    def changed():
        counts = stack.counts()
        return sum(counts.values()) - sum(before.values()) >= 6

    wait_for(changed, 60, what="the batch's six events ended")
    rows = _rows(stack.db_url, ids)
    assert rows[ids[0]].build_percentage == 40  # both, in order: the later report wins
    assert rows[ids[1]].build_percentage == 70  # after the two bad ones, still applied
    assert (rows[ids[2]].backend_job_id, rows[ids[2]].backend_job_status) == (77, "running")
    counts = stack.counts()
    assert counts.get("op_status:invalid", 0) - before.get("op_status:invalid", 0) == 1
    assert counts.get("no_such_kind:invalid", 0) - before.get("no_such_kind:invalid", 0) == 1


def test_an_event_that_must_wait_holds_the_rest_of_its_batch_behind_it(event_stack):
    from orchestrator.db import session_scope

    stack = event_stack
    ids = _servers(stack.db_url, 3, op_without_job=1)
    waiting, after = ids[1], ids[2]
    _send(stack, [("build_progress", _progress(ids[0], 25, 2000.0)),
                  # the end of a create whose submit has not recorded the job: it waits...
                  ("op_status", _op_status(waiting, 88, "success", 2001.0)),
                  # ...and so does what the agent sent after it
                  ("build_progress", _progress(after, 60, 2002.0))])
    wait_for(lambda: _rows(stack.db_url, ids)[ids[0]].build_percentage == 25, 60, what="the head applied")
    wait_for(lambda: "waits for its operation" in stack.worker.log_path.read_text(errors="replace"), 30,
             what="the end to wait for its operation")
    rows = _rows(stack.db_url, ids)
    assert rows[waiting].operstate == OperState.BUILD.value
    assert rows[after].build_percentage == 0  # not overtaken

    with session_scope(stack.db_url) as session:  # the submit step records its job
        op = session.query(Operation).filter_by(server_id=waiting).one()
        op.job_id, op.step = 88, Step.POLL.value
        session.commit()
    wait_for(lambda: _rows(stack.db_url, [after])[after].build_percentage == 60, 30,
             what="the rest of the batch applied after the wait")
    assert _rows(stack.db_url, [waiting])[waiting].operstate == OperState.STARTED.value
    with session_scope(stack.db_url) as session:
        op = session.query(Operation).filter_by(server_id=waiting).one()
        assert (op.status, op.job_status) == ("SUCCEEDED", "success")
