"""Every secret a run uses, looked for everywhere it could leak: the API's answers, the logs
(this process's: the API and CLI, and the worker's), the database file as bytes on disk, and
every key of every Redis database.

The run is a user's and an operator's ordinary day: tokens, a backend's RAPI password
checked (a wrong one too) and rotated, servers created with a chosen and a generated VM
password and their one-time configurations read, actions, inspection, metrics behind a
token, a bad bearer. Each secret may appear only on the one channel made to carry it (a
token printed once by the CLI that made it, the password on its one-time URL), and the scan
proves it reads each place by finding those there.
"""
from __future__ import annotations

import base64
import json
import logging
import re
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import redis

from api.app import create_app
from tests.conftest import wait_for
from tests.integration.helpers import act
from tests.reconciliation.helpers import run_cli

pytestmark = [pytest.mark.integration, pytest.mark.parametrize("stack", ["sqlite"], indirect=True)]

VM_PASSWORD = "Chosen-vm-passw0rd-7731"
WRONG_RAPI_PASSWORD = "wrong-rapi-passw0rd-5512"
METRICS_TOKEN = "metrics-scrape-token-9031"
SLOW_CREATE_S = 2.0  # so that the installer's key is still in Redis when the test reads it


class Run:
    """The run's secrets by name, and every API answer it got (with the names of the
    secrets that answer is made to carry)."""

    def __init__(self, stack, handler: logging.Handler):
        self.stack, self.handler = stack, handler
        self.secrets: dict[str, str] = {"admin token": "test-admin-token", "RAPI password": "rapi-secret",
                                        "wrong RAPI password": WRONG_RAPI_PASSWORD, "metrics token": METRICS_TOKEN,
                                        "VM password (chosen)": VM_PASSWORD}
        self.answers: list[tuple[str, str, set[str]]] = []

    def listen(self) -> None:
        """Every log record of this process at DEBUG to the test's handler, again after each
        CLI command (the CLI configures logging anew, as its process would)."""
        for name in (None, "orchestrator", "api"):
            logging.getLogger(name).setLevel(logging.DEBUG)
        if self.handler not in logging.getLogger().handlers:
            logging.getLogger().addHandler(self.handler)

    def cli(self, *args: str):
        result = run_cli(*args)
        self.listen()
        assert result.exit_code == 0, result.output
        return result

    def call(self, client, method: str, path: str, carries: set[str] = frozenset(), **kw):
        response = client.open(path, method=method, **kw)
        self.answers.append((f"{method} {path} -> {response.status_code}",
                             json.dumps(dict(response.headers)) + response.get_data(as_text=True), set(carries)))
        return response


def _key_of(url: str) -> str:
    return urlsplit(url).path.rsplit("/", 1)[1]


def _day(run: Run) -> None:
    stack = run.stack
    admin = stack.admin_headers
    run.listen()
    made = run.cli("token", "create", "--user", "dora")
    run.secrets["user token"] = token = re.search(r"\S{30,}", made.output).group(0)
    user = {"Authorization": f"Bearer {token}"}

    client = stack.client
    assert run.call(client, "PATCH", "/api/v1/backends/1", json={"password": "rapi-secret"},
                    headers=admin).status_code == 200
    refused = run.call(client, "PATCH", "/api/v1/backends/1", json={"password": WRONG_RAPI_PASSWORD}, headers=admin)
    assert 400 <= refused.status_code < 500, refused.json
    run.cli("backend", "rotate-credentials")

    for queue in (c.queue for c in stack.sim.clusters):
        queue.op_durations["OP_INSTANCE_CREATE"] = SLOW_CREATE_S
    try:
        mine = run.call(client, "POST", "/api/v1/servers", {"config key (user)"}, headers=user,
                        json={"name": "scan-1", "flavor_id": 1, "image_id": 1, "password": VM_PASSWORD})
        assert mine.status_code == 202, mine.json
        run.secrets["config key (user)"] = _key_of(mine.json["config_url"])
        run.secrets["config key (installer)"] = stack.ctx.configs.installer_key(mine.json["operation"]["id"])
        generated = run.call(client, "POST", "/api/v1/servers", {"config key (admin)"}, headers=admin,
                             json={"name": "scan-2", "flavor_id": 1, "image_id": 1})
        run.secrets["config key (admin)"] = _key_of(generated.json["config_url"])
    finally:
        for queue in (c.queue for c in stack.sim.clusters):
            queue.op_durations.pop("OP_INSTANCE_CREATE", None)
    assert run.secrets["config key (installer)"], "the installer's key was not in Redis while its create ran"

    read = run.call(client, "GET", urlsplit(mine.json["config_url"]).path, {"VM password (chosen)"})
    assert read.json["password"] == VM_PASSWORD
    read = run.call(client, "GET", urlsplit(generated.json["config_url"]).path, {"VM password (generated)"})
    run.secrets["VM password (generated)"] = read.json["password"]
    assert run.call(client, "GET", urlsplit(generated.json["config_url"]).path).status_code == 404

    ids = [mine.json["id"], generated.json["id"]]
    for server_id in ids:
        stack.wait_status(server_id, {"ACTIVE"}, timeout=60)
    wait_for(lambda: stack.ctx.configs.installer_key(mine.json["operation"]["id"]) is None, 30,
             what="the installer's entry to be spent")
    reboot = act(stack, ids[1], action="reboot")
    assert reboot.status_code == 202
    for path in [f"/api/v1/servers/{ids[0]}", f"/api/v1/servers/{ids[1]}/inspect", "/api/v1/servers",
                 "/api/v1/operations", "/api/v1/backends", "/api/v1/backends/1", "/api/v1/flavors", "/healthz"]:
        run.call(client, "GET", path, headers=admin)
    run.call(client, "GET", f"/api/v1/servers/{ids[0]}", headers=user)
    assert run.call(client, "GET", "/api/v1/servers", headers={"Authorization": "Bearer test-admin-tokenX"}
                    ).status_code == 401
    scraped = create_app(stack.ctx.settings.replace(metrics_token=METRICS_TOKEN), stack.ctx).test_client()
    run.listen()
    assert run.call(scraped, "GET", "/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"}
                    ).status_code == 200
    assert run.call(scraped, "GET", "/metrics", headers={"Authorization": "Bearer nope"}).status_code == 401
    wait_for(lambda: stack.server(ids[1])["status"] == "ACTIVE", 60, what="the reboot to end")


def _redis_text(url: str) -> tuple[str, int]:
    """Every key and value of one Redis database as text (Celery's messages with their
    base64 bodies decoded), and how many keys there were."""
    client = redis.Redis.from_url(url)
    parts, count = [], 0
    for name in client.scan_iter(count=1000):
        count += 1
        kind = client.type(name).decode()
        values = {"string": lambda: [client.get(name)], "list": lambda: client.lrange(name, 0, -1),
                  "hash": lambda: [b for kv in client.hgetall(name).items() for b in kv],
                  "set": lambda: list(client.smembers(name)), "zset": lambda: client.zrange(name, 0, -1),
                  "stream": lambda: [json.dumps({k.decode(): v.decode(errors="replace") for k, v in e[1].items()})
                                     .encode() for e in client.xrange(name)]}.get(kind, lambda: [])()
        parts.append(name.decode(errors="replace"))
        for value in values:
            text = value.decode(errors="replace") if isinstance(value, bytes) else str(value)
            parts.append(text)
            parts += _decoded_bodies(text)
    return "\n".join(parts), count


def _decoded_bodies(text: str) -> list[str]:
    try:
        message = json.loads(text)
    except ValueError:
        return []
    if isinstance(message, dict) and isinstance(message.get("body"), str):
        try:
            return [base64.b64decode(message["body"]).decode(errors="replace")]
        except ValueError:
            return []
    return []


def _found(secrets: dict[str, str], where: str, text: str, allowed: set[str] = frozenset()) -> list[str]:
    return [f"{name} in {where}" for name, value in secrets.items() if value and name not in allowed and value in text]


def test_no_secret_of_a_run_leaks_into_answers_logs_database_or_redis(stack, caplog):
    worker_log = Path(stack.worker.log_path)
    worker_start = worker_log.stat().st_size if worker_log.exists() else 0
    run = Run(stack, caplog.handler)
    _day(run)
    secrets = run.secrets
    leaks: list[str] = []

    for label, text, carries in run.answers:
        leaks += _found(secrets, f"the answer to {label}", text, allowed=carries)
    # Each channel made for a secret carries it: the scan reads what it claims to read.
    carried = {name for _label, text, carries in run.answers for name in carries if secrets[name] in text}
    assert carried == {"config key (user)", "config key (admin)", "VM password (chosen)", "VM password (generated)"}

    logs = "\n".join(f"{r.name} {r.levelname} {r.getMessage()} {r.exc_text or ''}" for r in caplog.records)
    ours = [r for r in caplog.records if r.name.split(".")[0] in ("orchestrator", "api")]
    assert any(r.getMessage().startswith("RAPI ") for r in ours), f"is logging captured? {logs[-2000:]}"
    leaks += _found(secrets, "this process's log (API, CLI)", logs)
    worker_text = worker_log.read_bytes()[worker_start:].decode(errors="replace")
    assert "succeeded" in worker_text or "finished" in worker_text, worker_text[-2000:]
    leaks += _found(secrets, "the worker's log", worker_text)

    database = Path(stack.db_url.removeprefix("sqlite:///"))
    stored = b"".join(p.read_bytes() for p in (database, Path(f"{database}-wal")) if p.exists())
    assert b"scan-1" in stored and len(stored) > 10_000, "the database file does not hold the run's rows"
    leaks += _found(secrets, "the database file", stored.decode("latin-1"))
    key_file = Path(stack.ctx.settings.credentials_key_file)
    key = key_file.read_text().split()[0]
    assert key not in stored.decode("latin-1") and key not in logs and key not in worker_text

    keys = 0
    for db in range(3):
        text, count = _redis_text(stack.broker.url(db))
        keys += count
        leaks += _found(secrets, f"Redis database {db}", text)
        assert key not in text
    assert keys > 0, "Redis held nothing: the scan would prove nothing"
    assert leaks == [], leaks
