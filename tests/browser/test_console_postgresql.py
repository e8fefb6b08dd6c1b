"""The console's charts on PostgreSQL (its minute expression, the fold's lock) and on a
RabbitMQ broker (the queues sampled there): the page as the console serves it, through the
app, on those stacks with their real workers."""
from __future__ import annotations

import datetime as dt
import re

import pytest

from tests.integration.helpers import active_server, failed_create, wait_operation

# postgresql: on the Redis broker; rabbitmq: PostgreSQL on RabbitMQ (its quorum queues' counts).
pytestmark = [pytest.mark.integration, pytest.mark.parametrize("stack", ["postgresql", "rabbitmq"], indirect=True)]


def _signed_in_client(stack):
    client = stack.app.test_client()
    form = client.get("/console/login").get_data(as_text=True)
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', form).group(1)
    answer = client.post("/console/login", data={"token": stack.ctx.settings.admin_token, "csrf_token": csrf})
    assert answer.status_code == 302, answer.status_code
    return client


def test_the_charts_on_postgresql(stack):
    from sqlalchemy import delete, func, select

    from orchestrator.models import Operation, OperationMinute, RollupMark, utcnow
    from orchestrator.services import console

    wait_operation(stack, active_server(stack, name="pg-chart-ok")["operation"]["id"])  # ended, not only ACTIVE
    failed_create(stack, "pg-chart-failed")
    start = utcnow().replace(second=0, microsecond=0) + dt.timedelta(minutes=1) - dt.timedelta(hours=3)
    client = _signed_in_client(stack)

    def shown() -> dict[str, int]:
        page = client.get("/console/").get_data(as_text=True)
        return {"SUCCEEDED": int(re.search(r"succeeded (\d+)", page).group(1)),
                "FAILED": int(re.search(r"failed (\d+)", page).group(1))}

    def ended() -> dict[str, int]:
        with stack.session() as session:
            return dict(session.execute(select(Operation.status, func.count()).where(
                Operation.finished_at >= start, Operation.status.in_(("SUCCEEDED", "FAILED")))
                .group_by(Operation.status)).all())

    try:
        assert stack.celery.send_task("orchestrator.periodic.fold_operation_minutes").get(timeout=60) >= 175
        expected = ended()
        assert expected.get("SUCCEEDED") and expected.get("FAILED")
        assert shown() == expected  # folded minutes from the rollup, the last ones live
        with stack.session() as session:  # every minute folded, twice: the same counts
            for _ in range(2):
                console.fold_minutes(stack.ctx, session, now=utcnow() + dt.timedelta(minutes=2))
            rolled = dict(session.execute(select(OperationMinute.outcome, func.sum(OperationMinute.count))
                                          .where(OperationMinute.minute >= start)
                                          .group_by(OperationMinute.outcome)).all())
        assert rolled == expected
        assert shown() == expected  # from the rollup alone
    finally:
        with stack.session() as session:
            session.execute(delete(OperationMinute))
            session.execute(delete(RollupMark))
            session.commit()

    lengths = stack.celery.send_task("orchestrator.periodic.sample_queues").get(timeout=60)
    assert set(lengths) == {"provisioning", "polling", "events", "periodic"}
    page = client.get("/console/").get_data(as_text=True)
    assert set(re.findall(r'<g class="queue" data-queue="([a-z]+)"', page)) == set(lengths)
