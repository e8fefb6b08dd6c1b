"""Broker drill: the broker restarts in the middle of 100 creates, on Redis and on RabbitMQ.
Every create still ends ACTIVE, none is duplicated on the clusters."""
from __future__ import annotations

import subprocess
import sys
import time
from collections import Counter

import pytest
from sqlalchemy import select

from orchestrator.models import Operation
from tests.conftest import Worker, record_drill, wait_for
from tests.drills.test_kill_drill import _instance_counts

pytestmark = [pytest.mark.slow, pytest.mark.integration]

CREATES = 100
QUEUES = ("provisioning", "polling", "events", "periodic")


def queued(broker_url: str) -> int:
    """Messages waiting in the product's queues (Redis lists or RabbitMQ queues)."""
    from kombu import Connection

    if broker_url.startswith("redis"):  # a queue is a list; Redis forgets an empty one
        import redis

        client = redis.Redis.from_url(broker_url)
        return sum(client.llen(name) for name in QUEUES)
    with Connection(broker_url) as conn:
        return sum(conn.channel().queue_declare(name, passive=True).message_count for name in QUEUES)


@pytest.mark.parametrize("stack", ["postgresql", "rabbitmq"], indirect=True)
def test_broker_restart_during_creates(stack, tmp_path):
    broker_name = "RabbitMQ" if stack.kind == "rabbitmq" else "Redis"
    env = {**stack.env, "OPERATION_STALL_S": "6"}
    stack.worker.stop()
    worker = Worker(env, tmp_path / "worker.log", concurrency=4, name="broker-drill").start()
    beat = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "orchestrator.worker", "beat", "--loglevel=INFO",
         "-s", str(tmp_path / "beat-schedule")],
        env=env, stdout=open(tmp_path / "beat.log", "wb"), stderr=subprocess.STDOUT,
    )
    try:
        started = time.monotonic()
        created = [stack.create_server(name=f"bd-{i}") for i in range(CREATES)]
        assert all(status == 202 for status, _ in created)
        op_ids = [body["operation"]["id"] for _, body in created]

        def done_count() -> int:
            with stack.session() as session:
                return sum(1 for op in session.scalars(select(Operation).where(Operation.id.in_(op_ids)))
                           if op.finished_at is not None)

        wait_for(lambda: done_count() >= 10, 60, what="some creates to finish before the restart")
        before = done_count()
        stack.broker.restart()
        back = time.monotonic()

        def all_ended():
            with stack.session() as session:
                ops = session.scalars(select(Operation).where(Operation.id.in_(op_ids))).all()
                return ops if all(op.finished_at is not None for op in ops) else None

        ops = wait_for(all_ended, 240, interval=1.0, what="every create to end after the broker restart")
        recovered = time.monotonic() - back
        # What the restart left behind (redeliveries, re-driven chains) drains: nothing piles up.
        wait_for(lambda: queued(env["CELERY_BROKER_URL"]) == 0, 120, interval=0.5, what="the queues to drain")
        drained = time.monotonic() - back
    finally:
        beat.terminate()
        beat.wait(timeout=15)
        worker.stop()
        stack.worker.start()
    counts = _instance_counts(stack)
    instances = Counter(counts[f"snf-{body['id']}"] for _, body in created)
    ok = sum(1 for op in ops if op.status == "SUCCEEDED")
    record_drill(f"{broker_name} restart during {CREATES} creates", CREATES, ok, instances[0],
                 sum(n for k, n in instances.items() if k > 1), time.monotonic() - started,
                 extra=f"{before} done before the restart; all done {recovered:.1f}s after it, "
                       f"queues empty after {drained:.1f}s")
    assert ok == CREATES, Counter(op.error for op in ops if op.status != "SUCCEEDED")
    assert instances == Counter({1: CREATES}), instances
