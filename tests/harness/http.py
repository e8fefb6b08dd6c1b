"""An app under test served over real HTTP on loopback, for clients that need a socket
(browsers, OpenStack's clients, raw-socket probes)."""
from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator


@contextlib.contextmanager
def served(app, name: str = "live-api") -> Iterator[str]:
    """The base URL of `app` behind werkzeug's threaded server (one thread per request)."""
    from werkzeug.serving import make_server

    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name=name, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(timeout=10)
        server.server_close()


@contextlib.contextmanager
def streams_process(stack, **env: str) -> Iterator[str]:
    """The real streams process (`python -m api.streams`) on the stack's settings, with `env`
    changing some; its base URL once it listens. Stopped (and its log closed) after."""
    import subprocess
    import sys
    from pathlib import Path

    import requests

    from tests.conftest import stop_group, wait_for
    from tests.harness.services import free_port

    root = Path(__file__).resolve().parents[2]
    port = free_port()
    log_path = stack.tmp / f"streams-{port}.log"
    log = open(log_path, "wb")
    proc = subprocess.Popen([sys.executable, "-m", "api.streams", "--port", str(port)], cwd=root,
                            env={**stack.env, "PYTHONPATH": str(root), **env},
                            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"

    def listening():
        assert proc.poll() is None, log_path.read_text()
        try:
            return requests.get(f"{url}/healthz", timeout=1).json()["listening"]
        except requests.RequestException:
            return False

    try:
        wait_for(listening, 30, what="the streams process to listen")
        yield url
    finally:
        stop_group(proc)
        log.close()
