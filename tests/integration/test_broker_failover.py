"""Celery's failover list of broker URLs, on Redis and on RabbitMQ: with the first host of
the list down, the API and the worker use the next one and a create ends ACTIVE."""
from __future__ import annotations

import socket

import pytest

from tests.conftest import Worker

pytestmark = pytest.mark.integration


def _dead_url(live: str) -> str:
    """A URL of the same broker kind on a port where nothing listens."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    if live.startswith("amqp"):
        return f"amqp://guest:guest@127.0.0.1:{port}//"
    return f"redis://127.0.0.1:{port}/0"


def _api_on(stack, broker_url: str):
    """An API of its own (a test client) whose dispatcher publishes on `broker_url`."""
    from api.app import create_app
    from tests.conftest import celery_for

    celery = celery_for(stack.env, broker_url=broker_url)
    app = create_app(celery.context.settings, celery.context)
    app.config["TESTING"] = True
    return app.test_client()


@pytest.mark.parametrize("stack", ["postgresql", "rabbitmq"], indirect=True)
def test_first_broker_down_the_next_in_the_list_carries_the_create(stack, tmp_path):
    live = stack.env["CELERY_BROKER_URL"]
    failover = f"{_dead_url(live)};{live}"
    stack.worker.stop()
    try:
        api = _api_on(stack, failover)
        worker = Worker({**stack.env, "CELERY_BROKER_URL": failover}, tmp_path / "worker.log",
                        name="failover").start(timeout=60)
        try:
            response = api.post("/api/v1/servers", json={"name": "failover", "flavor_id": 1, "image_id": 1},
                                headers=stack.admin_headers)
            assert response.status_code == 202, response.json
            server = stack.wait_status(response.json["id"], {"ACTIVE", "ERROR"}, timeout=60)
        finally:
            worker.stop()
    finally:
        stack.worker.start()
    assert server["status"] == "ACTIVE", server
    log = (tmp_path / "worker.log").read_text()
    assert "Will retry using next failover" in log, "the first URL of the list was never tried"


@pytest.mark.parametrize("stack", ["rabbitmq"], indirect=True)
def test_rabbitmq_queues_are_durable_quorum_queues(stack):
    """The broker holds the product's queues as quorum queues: declaring one again with the
    same arguments is accepted, declaring it as a classic queue is refused."""
    from amqp.exceptions import PreconditionFailed
    from kombu import Connection, Exchange, Queue

    names = ("provisioning", "polling", "events", "periodic")
    with Connection(stack.env["CELERY_BROKER_URL"]) as conn:
        exchange = Exchange("orchestrator", type="topic", durable=True)
        for name in names:
            Queue(name, exchange, routing_key=name, durable=True,
                  queue_arguments={"x-queue-type": "quorum"})(conn.channel()).declare()
        for name in names:
            with pytest.raises(PreconditionFailed, match="x-queue-type"):
                Queue(name, exchange, routing_key=name, durable=True)(conn.channel()).declare()
