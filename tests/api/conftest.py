"""Every response the API tests receive is recorded, so the run can prove that no body or
header ever carried a RAPI password."""
from __future__ import annotations

import json
from dataclasses import dataclass

import pytest

RAPI_PASSWORD = "rapi-secret"
# Passwords the tests give to backends they add; none may come back either.
SECRETS = [RAPI_PASSWORD, "extra-cluster-secret", "wrong-password-123"]
RECORDED: list["Recorded"] = []


@dataclass
class Recorded:
    method: str
    path: str
    status: int
    headers: str
    body: str


class RecordingClient:
    """stack.client, keeping every response (status, headers, body)."""

    def __init__(self, stack):
        self.stack = stack

    def open(self, method: str, path: str, **kwargs):
        response = getattr(self.stack.client, method.lower())(path, **kwargs)
        body = response.get_data(as_text=True)  # a stream (SSE) is read to its end
        RECORDED.append(Recorded(method.upper(), path, response.status_code, json.dumps(dict(response.headers)), body))
        return response

    def get(self, path, **kw):
        return self.open("GET", path, **kw)

    def post(self, path, **kw):
        return self.open("POST", path, **kw)

    def patch(self, path, **kw):
        return self.open("PATCH", path, **kw)

    def delete(self, path, **kw):
        return self.open("DELETE", path, **kw)


@pytest.fixture
def api(stack) -> RecordingClient:
    return RecordingClient(stack)


def leaks(records=None) -> list[str]:
    found = []
    for r in RECORDED if records is None else records:
        for secret in SECRETS:
            if secret in r.body or secret in r.headers:
                found.append(f"{r.method} {r.path} -> {r.status} carries {secret!r}")
    return found


@pytest.fixture(scope="session", autouse=True)
def _no_password_in_any_response():
    yield
    assert not leaks(), leaks()
