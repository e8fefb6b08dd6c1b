"""The beat's recovery re-drives a stalled operation once per period, the period doubling."""
from __future__ import annotations

import datetime as dt

from orchestrator import demo
from orchestrator.models import Operation, Server
from orchestrator.operations import claim_stalled


def test_a_stalled_operation_is_claimed_once_per_stall_period(session):
    demo.seed(session, env={"SIM_CLUSTERS": "1"})
    now = dt.datetime(2026, 1, 1, 12, 0, tzinfo=dt.timezone.utc)
    old = now - dt.timedelta(seconds=600)
    for i, (status, seen) in enumerate([("RUNNING", old), ("RUNNING", now), ("SUCCEEDED", old)], start=1):
        session.add(Server(id=i, user_id="u", name=f"s{i}", flavor_id=1, image_id=1, nics=[]))
        session.add(Operation(id=i, kind="create", server_id=i, user_id="u", status=status, step="poll",
                              params={}, heartbeat_at=seen))
    session.commit()

    assert claim_stalled(session, 300, now) == [1]  # the finished one and the fresh one are left alone
    assert claim_stalled(session, 300, now + dt.timedelta(seconds=3)) == []  # the next beat tick
    later = now + dt.timedelta(seconds=301)
    assert claim_stalled(session, 300, later) == [2]  # 1 was re-driven once: it waits twice as long
    assert claim_stalled(session, 300, now + dt.timedelta(seconds=601)) == [1]
    assert session.get(Operation, 1).redrives == 2
