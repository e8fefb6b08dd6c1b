"""Bad input: a 4xx with a JSON body naming the problem, and nothing written or enqueued."""
from __future__ import annotations

import pytest
from sqlalchemy import func, select

from orchestrator.models import Operation, Server

pytestmark = pytest.mark.integration


def _counts(stack) -> tuple[int, int]:
    with stack.session() as session:
        return (session.scalar(select(func.count(Server.id))), session.scalar(select(func.count(Operation.id))))


def _queued(stack) -> int:
    """Messages waiting in the task queues, whichever the broker."""
    app = stack.celery

    from amqp.exceptions import ChannelError

    total = 0
    for queue in ("provisioning", "polling", "events", "periodic"):
        with app.connection_for_write() as conn:
            try:
                total += conn.default_channel.queue_declare(queue, passive=True).message_count
            except ChannelError:  # Redis has no such key until something is queued
                pass
    return total


@pytest.mark.parametrize(
    "body, field, code",
    [
        ({"flavor_id": 1, "image_id": 1}, "name", 422),
        ({"name": "x", "image_id": 1}, "flavor_id", 422),
        ({"name": "x", "flavor_id": "one", "image_id": 1}, "flavor_id", 422),
        ({"name": "x", "flavor_id": 9999, "image_id": 1}, "flavor_id", 422),
        ({"name": "x", "flavor_id": 1, "image_id": 9999}, "image_id", 422),
        ({"name": "", "flavor_id": 1, "image_id": 1}, "name", 422),
    ],
)
def test_invalid_create_names_the_field_and_writes_nothing(stack, body, field, code):
    before = _counts(stack)
    response = stack.client.post("/api/v1/servers", json=body, headers=stack.admin_headers)
    assert response.status_code == code, response.json
    assert response.is_json
    assert field in response.json["message"]
    assert field in str(response.json["errors"])
    assert _counts(stack) == before
    assert _queued(stack) == 0


def test_malformed_json_is_a_400(stack):
    before = _counts(stack)
    response = stack.client.post(
        "/api/v1/servers", data="{not json", headers={**stack.admin_headers, "Content-Type": "application/json"}
    )
    assert response.status_code == 400
    assert response.is_json and "json" in response.json["message"].lower()
    assert _counts(stack) == before


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer wrong"}, {"Authorization": "Basic abc"}])
def test_wrong_token_is_a_401(stack, headers):
    before = _counts(stack)
    response = stack.client.post("/api/v1/servers", json={"name": "x", "flavor_id": 1, "image_id": 1}, headers=headers)
    assert response.status_code == 401
    assert response.is_json and "token" in response.json["message"]
    assert _counts(stack) == before


def test_healthz_reports_database_and_broker(stack):
    response = stack.client.get("/healthz")
    assert response.status_code == 200
    assert response.json == {"status": "ok", "database": "ok", "broker": "ok"}


def test_openapi_and_docs_are_served(stack):
    spec = stack.client.get("/openapi.json").json
    assert "/api/v1/servers" in spec["paths"]
    assert "202" in spec["paths"]["/api/v1/servers"]["post"]["responses"]
    assert stack.client.get("/docs").status_code == 200
