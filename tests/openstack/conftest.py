"""The stack's API served over real HTTP (OpenStack's clients need a socket), a clouds.yaml
the tests write, and a log of every call the clients made (docs/openstack.md's table)."""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from werkzeug.serving import make_server

from orchestrator import auth

ROOT = Path(__file__).resolve().parents[2]
OPENSTACK = ROOT / ".venv" / "bin" / "openstack"
CALLS: dict[tuple[str, str], set[int]] = {}
PREFIXES = ("/identity", "/compute", "/image", "/network")


def _shape(path: str) -> str:
    """A path with its ids as placeholders: /compute/v2.1/servers/12/action -> .../servers/{id}/action."""
    return re.sub(r"/(\d+|[0-9a-f]{32}|[0-9a-f-]{36})(?=/|$)", "/{id}", path)


class Logged:
    """WSGI middleware: records (method, path shape) -> statuses of each call, then the app."""

    def __init__(self, app):
        self.app = app

    def __call__(self, environ, start_response):
        key = (environ["REQUEST_METHOD"], _shape(environ.get("PATH_INFO", "")))

        def recording(status, headers, exc_info=None):
            if key[1].startswith(PREFIXES):
                CALLS.setdefault(key, set()).add(int(status.split()[0]))
            return start_response(status, headers, exc_info)

        return self.app(environ, recording)


@pytest.fixture(scope="module")
def cloud(stack, tmp_path_factory):
    """{"url", "env" (for the CLI), "user", "token", "sdk" (an openstack.connection.Connection)}."""
    server = make_server("127.0.0.1", 0, Logged(stack.app), threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{server.server_port}"
    user = "os-alice"
    with stack.session() as session:
        _row, token = auth.create_token(session, user)
        session.commit()
    tmp = tmp_path_factory.mktemp("openstack")
    clouds = tmp / "clouds.yaml"
    clouds.write_text(json.dumps({"clouds": {"test": {
        "auth_type": "v3applicationcredential",
        "auth": {"auth_url": f"{url}/identity/v3", "application_credential_id": user,
                 "application_credential_secret": token},
        "region_name": "RegionOne", "interface": "public", "identity_api_version": 3}}}))
    env = {k: v for k, v in os.environ.items() if not k.startswith("OS_")}
    env.update(OS_CLIENT_CONFIG_FILE=str(clouds), OS_CLOUD="test", HOME=str(tmp), NO_PROXY="*", no_proxy="*")
    old = {k: os.environ.get(k) for k in ("OS_CLIENT_CONFIG_FILE", "NO_PROXY", "no_proxy")}
    os.environ.update(OS_CLIENT_CONFIG_FILE=str(clouds), NO_PROXY="*", no_proxy="*")
    import openstack

    sdk = openstack.connect(cloud="test")
    try:
        yield {"url": url, "env": env, "user": user, "token": token, "sdk": sdk, "clouds": clouds}
    finally:
        server.shutdown()
        for key, value in old.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        (tmp / "calls.json").write_text(json.dumps(sorted([m, p, sorted(s)] for (m, p), s in CALLS.items()), indent=1))
        print(f"\nOpenStack API calls made by the clients: {tmp / 'calls.json'}", file=sys.stderr)


def cli(cloud, *args: str, ok: bool = True, timeout: float = 120) -> str:
    """`openstack --os-cloud test ARGS` as a subprocess; its stdout (stderr in the assertion)."""
    result = subprocess.run([str(OPENSTACK), "--os-cloud", "test", *args], env=cloud["env"], capture_output=True,
                            text=True, timeout=timeout)
    if ok:
        assert result.returncode == 0, f"openstack {' '.join(args)}: {result.stderr}"
    return result.stdout if ok else result


def cli_json(cloud, *args: str):
    return json.loads(cli(cloud, *args, "-f", "json"))
