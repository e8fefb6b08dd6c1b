"""The streams process (api/streams.py) against the real stack: a client reading a server's
stream over HTTP, as a browser's EventSource does, while a create, a reboot and a destroy
run; who may open one; the bounds. Streams re-read the database only every 30 s here, so
every change they show within the test was pushed by a commit's announcement."""
from __future__ import annotations

import json
import threading

import pytest
import requests

from tests.conftest import wait_for
from tests.harness.http import streams_process
from tests.integration.helpers import act, user_headers, wait_operation

pytestmark = [pytest.mark.integration, pytest.mark.parametrize("stack", ["sqlite", "postgresql"], indirect=True)]



@pytest.fixture
def streams(stack):
    """The streams process on the stack's settings; its base URL."""
    with streams_process(stack, STREAM_RECHECK_S="30", STREAMS_PER_USER="2") as url:
        yield url


class Reader(threading.Thread):
    """Reads one stream to its end, keeping every `state` event in order."""

    def __init__(self, url: str, headers: dict):
        super().__init__(daemon=True)
        self.response = requests.get(url, headers=headers, stream=True, timeout=(5, 60))
        self.states: list[dict] = []
        self.ended = threading.Event()

    def run(self) -> None:
        event = None
        for line in self.response.iter_lines(decode_unicode=True):
            if line.startswith("event: "):
                event = line[len("event: "):]
            elif line.startswith("data: ") and event == "state":
                self.states.append(json.loads(line[len("data: "):]))
            elif line.startswith("data: ") and event == "end":
                self.ended.set()
                return


def _collapsed(states: list[dict]) -> list[str]:
    out: list[str] = []
    for state in states:
        if not out or out[-1] != state["status"]:
            out.append(state["status"])
    return out


def test_a_stream_shows_every_change_of_a_create_a_reboot_and_a_destroy(stack, streams):
    alice = user_headers(stack, f"streams-{stack.kind}")
    status, created = stack.create_server(headers=alice, name="watched")
    assert status == 202, created
    server_id = created["id"]
    reader = Reader(f"{streams}/api/v1/servers/{server_id}/events?until=deleted", alice)
    assert reader.response.status_code == 200
    assert reader.response.headers["Content-Type"].startswith("text/event-stream")
    reader.start()

    assert wait_operation(stack, created["operation"]["id"], timeout=60)["status"] == "SUCCEEDED"
    wait_for(lambda: reader.states and reader.states[-1]["status"] == "ACTIVE", 20, what="ACTIVE on the stream")
    reboot = act(stack, server_id, headers=alice, action="reboot", type="soft")
    assert reboot.status_code == 202, reboot.json
    assert wait_operation(stack, reboot.json["id"], timeout=60)["status"] == "SUCCEEDED"
    wait_for(lambda: _collapsed(reader.states)[-2:] == ["REBOOT", "ACTIVE"], 20, what="the reboot on the stream")
    destroy = stack.client.delete(f"/api/v1/servers/{server_id}", headers=alice)
    assert destroy.status_code == 202, destroy.json
    assert wait_operation(stack, destroy.json["id"], timeout=60)["status"] == "SUCCEEDED"
    assert reader.ended.wait(20), reader.states
    reader.join(5)

    statuses = _collapsed(reader.states)
    assert statuses[0] == "BUILD" and statuses[-1] == "DELETED", statuses
    assert statuses[statuses.index("ACTIVE"):] == ["ACTIVE", "REBOOT", "ACTIVE", "DELETED"], statuses
    progress = [s["build_percentage"] for s in reader.states if s["status"] == "BUILD" and s["build_percentage"]]
    assert progress == sorted(progress)
    # Each event is a change: no state is sent twice in a row.
    assert all(a != b for a, b in zip(reader.states, reader.states[1:]))
    # What the stream ended on is what the API shows.
    final = stack.client.get(f"/api/v1/servers/{server_id}", headers=alice).json
    assert final["status"] == reader.states[-1]["status"] == "DELETED"


def test_streams_are_authenticated_authorized_and_bounded(stack, streams):
    owner = user_headers(stack, f"streams-owner-{stack.kind}")
    stranger = user_headers(stack, f"streams-stranger-{stack.kind}")
    status, created = stack.create_server(headers=owner, name="private")
    assert status == 202, created
    path = f"{streams}/api/v1/servers/{created['id']}/events"

    missing = requests.get(path, timeout=5)
    assert missing.status_code == 401 and "bearer" in missing.json()["message"]
    forged = requests.get(path, headers={"Authorization": "Bearer not-a-token"}, timeout=5)
    assert forged.status_code == 401
    hidden = requests.get(path, headers=stranger, timeout=5)
    assert hidden.status_code == 404 and hidden.json()["code"] == 404
    assert requests.get(f"{streams}/api/v1/servers/999999/events", headers=owner, timeout=5).status_code == 404
    wrong = requests.get(path + "?until=never", headers=owner, timeout=5)
    assert wrong.status_code == 422 and "until" in wrong.json()["errors"]["query"]

    # Two open streams per user here (STREAMS_PER_USER=2): the third is refused, another user's is not.
    held = [requests.get(path + "?until=deleted", headers=owner, stream=True, timeout=(5, 60)) for _ in range(2)]
    assert [r.status_code for r in held] == [200, 200]
    third = requests.get(path, headers=owner, timeout=5)
    assert third.status_code == 429 and "STREAMS_PER_USER" in third.json()["message"]
    admin = requests.get(path + "?until=deleted", headers=stack.admin_headers, stream=True, timeout=(5, 60))
    assert admin.status_code == 200
    for response in (*held, admin):
        response.close()
    # Closed streams are given back (noticed at the next write: the keep-alive or a change).
    destroy = stack.client.delete(f"/api/v1/servers/{created['id']}", headers=owner)
    assert destroy.status_code == 202
    wait_for(lambda: requests.get(f"{streams}/healthz", timeout=5).json()["streams"] == 0, 30,
             what="the closed streams to be given back")
    again = requests.get(path, headers=owner, stream=True, timeout=(5, 60))
    assert again.status_code == 200
    again.close()


def test_the_api_sends_stream_readers_to_the_streams_process(stack):
    from api.app import create_app
    from orchestrator.services.context import Context

    settings = stack.ctx.settings.replace(streams_url="http://streams.example:8001")
    client = create_app(settings, Context(settings, stack.ctx.dispatcher)).test_client()
    status, created = stack.create_server(name="redirected")
    assert status == 202, created
    response = client.get(f"/api/v1/servers/{created['id']}/events?until=deleted", headers=stack.admin_headers)
    assert response.status_code == 307
    assert response.headers["Location"] == f"http://streams.example:8001/api/v1/servers/{created['id']}/events?until=deleted"
    assert client.get("/api/v1/servers/999999/events", headers=stack.admin_headers).status_code == 404
    assert client.get(f"/api/v1/servers/{created['id']}/events?until=x", headers=stack.admin_headers).status_code == 422
