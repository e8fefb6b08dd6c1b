"""One simulated cluster as a running service: state, job queue, faults and its HTTP server.

The HTTP server is werkzeug's threaded WSGI server on its own thread; "cluster
down" closes the listening socket (clients get connection refused) and "up"
listens again on the same port.
"""
from __future__ import annotations

import logging
import os
import threading
from pathlib import Path

from werkzeug.serving import WSGIRequestHandler, make_server

from .app import RapiApp, Users
from .cluster import Cluster
from .faults import Faults
from .jobs import JobQueue
from .meter import Meter

log = logging.getLogger(__name__)

DEFAULT_OS_LIST = ["debootstrap", "image", "snf-image", "noop"]


class _Handler(WSGIRequestHandler):
    """Quiet request handler that can drop a connection without answering (a fault)."""

    protocol_version = "HTTP/1.1"

    def log_request(self, *args, **kwargs):  # one line per request is too much at 1000 req/s
        pass

    def log_error(self, *args):
        pass

    def run_wsgi(self):
        sim = getattr(self.server, "ganeti_sim", None)
        if sim is not None and sim.faults.drop() and not self.path.startswith("/sim"):
            self.close_connection = True
            return
        return super().run_wsgi()


class SimCluster:
    """A cluster plus its RAPI endpoint. Attributes tests use: name, port, url, cluster,
    instances, nodes, queue, faults."""

    def __init__(self, name: str, port: int = 0, host: str = "127.0.0.1", job_duration: float = 2.0,
                 nodes: int = 4, node_memory: int = 65536, node_disk: int = 1048576, node_cpus: int = 16,
                 user: str = "rapi", password: str = "rapi-secret", users_file: str | None = None,
                 state_dir: str | Path | None = None, require_auth: bool = True,
                 ssl_cert: str | None = None, ssl_key: str | None = None, op_durations: dict | None = None,
                 hooks_dir: str | None = None, progress_command: str | None = None,
                 enabled_disk_templates: list | None = None, seed: int | None = None,
                 pickup_delay: float = 0.0, wait_timeout: float = 10.0):
        self.name = name
        self.host = host
        self.port = port
        self.ssl_cert, self.ssl_key = ssl_cert, ssl_key
        self.cluster = Cluster(name, nodes=nodes, node_memory=node_memory, node_disk=node_disk,
                               node_cpus=node_cpus, enabled_disk_templates=enabled_disk_templates, seed=seed)
        self.faults = Faults(seed=seed)
        self.meter = Meter()  # what this cluster was asked, per second (GET /sim/meter)
        self.users = Users.from_file(users_file) if users_file else Users()
        if user and not users_file:
            self.users.add(user, password, write=True)
        self.state_dir = Path(state_dir) / name if state_dir else None
        self.hooks = None
        if hooks_dir or progress_command:
            from .hooks import Hooks
            self.hooks = Hooks(hooks_dir, progress_command, self.state_dir)
        self.queue = JobQueue(self.cluster, job_duration=job_duration,
                              queue_dir=(self.state_dir / "queue") if self.state_dir else None,
                              op_durations=op_durations, faults=self.faults, hooks=self.hooks,
                              pickup_delay=pickup_delay)
        self.os_list = list(DEFAULT_OS_LIST)
        self.wait_timeout = wait_timeout
        self.app = RapiApp(self, require_auth=require_auth)
        self._server = None
        self._thread: threading.Thread | None = None
        self._restore_timer: threading.Timer | None = None

    # --- convenience views for tests ---------------------------------------------------

    @property
    def instances(self):
        return self.cluster.instances

    @property
    def nodes(self):
        return self.cluster.nodes

    @property
    def scheme(self) -> str:
        return "https" if self.ssl_cert else "http"

    @property
    def url(self) -> str:
        return f"{self.scheme}://{self.host}:{self.port}"

    @property
    def is_up(self) -> bool:
        return self._server is not None

    def submit_job(self, ops: list[dict]) -> int:
        return self.queue.submit(ops)

    # --- lifecycle ----------------------------------------------------------------------

    def start(self) -> "SimCluster":
        self.queue.start()
        self._listen()
        return self

    def _listen(self) -> None:
        ssl_context = None
        if self.ssl_cert:
            import ssl
            ssl_context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ssl_context.load_cert_chain(self.ssl_cert, self.ssl_key)
        server = make_server(self.host, self.port, self.app, threaded=True, request_handler=_Handler,
                             ssl_context=ssl_context)
        server.daemon_threads = True
        server.ganeti_sim = self
        self.port = server.server_port
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1},
                                        name=f"rapi-{self.name}", daemon=True)
        self._thread.start()

    def _close(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def stop(self) -> None:
        if self._restore_timer is not None:
            self._restore_timer.cancel()
        self._close()
        self.queue.stop()

    def down(self, seconds: float | None = None, pause_jobs: bool = True) -> None:
        """Take the whole cluster down: RAPI refuses connections, jobs stop advancing.
        With `seconds`, it comes back by itself."""
        self._close()
        self.queue.paused = pause_jobs
        if seconds:
            self._restore_timer = threading.Timer(seconds, self.up)
            self._restore_timer.daemon = True
            self._restore_timer.start()

    def up(self) -> None:
        self.queue.paused = False
        if self._server is None:
            self._listen()


def ensure_self_signed_cert(directory: str | Path, hostname: str = "localhost") -> tuple[str, str]:
    """A self-signed certificate for HTTPS, made with the openssl command (as Ganeti's
    own rapi.pem is self-signed). Reused if already present."""
    import subprocess

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    cert, key = directory / "rapi.pem", directory / "rapi.key"
    if not (cert.exists() and key.exists()):
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "3650",
                        "-subj", f"/CN={hostname}", "-addext", f"subjectAltName=DNS:{hostname},IP:127.0.0.1",
                        "-keyout", str(key), "-out", str(cert)],
                       check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        os.chmod(key, 0o600)
    return str(cert), str(key)
