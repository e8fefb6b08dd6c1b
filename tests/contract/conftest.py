"""Fixtures for the contract tests: a simulated cluster on a free port (fresh per test),
a users file with a writer and a read-only user, and a client bound to it."""
from __future__ import annotations

import threading
import time
from collections.abc import Callable

import pytest
import requests

from ganeti_sim import SimFleet
from ganeti_sim.server import ensure_self_signed_cert
from orchestrator.rapi import Endpoint, RapiClient

USER, PASSWORD = "rapi", "contract-Wr1ter-s3cret"
READER, READER_PASSWORD = "monitor", "contract-Re4der-s3cret"
JOB_DURATION = 0.05

# Field lists rapi.rst names for each resource (rlib2.I_FIELDS, N_FIELDS, G_FIELDS,
# NET_FIELDS, J_FIELDS_BULK, J_FIELDS).
COMMON_FIELDS = ["ctime", "mtime", "uuid", "serial_no", "tags"]
I_FIELDS = ["name", "admin_state", "os", "pnode", "snodes", "disk_template", "nic.ips", "nic.macs",
            "nic.modes", "nic.uuids", "nic.names", "nic.links", "nic.networks", "nic.networks.names",
            "nic.bridges", "network_port", "disk.sizes", "disk.spindles", "disk_usage", "disk.uuids",
            "disk.names", "beparams", "hvparams", "oper_state", "oper_ram", "oper_vcpus", "status",
            "custom_hvparams", "custom_beparams", "custom_nicparams", "custom_osparams"] + COMMON_FIELDS
N_FIELDS = ["name", "offline", "master_candidate", "drained", "dtotal", "dfree", "sptotal", "spfree",
            "mtotal", "mnode", "mfree", "pinst_cnt", "sinst_cnt", "ctotal", "cnos", "cnodes", "csockets",
            "pip", "sip", "role", "pinst_list", "sinst_list", "master_capable", "vm_capable", "ndparams",
            "group.uuid"] + COMMON_FIELDS
G_FIELDS = ["alloc_policy", "name", "node_cnt", "node_list", "ipolicy", "custom_ipolicy", "diskparams",
            "custom_diskparams", "ndparams", "custom_ndparams"] + COMMON_FIELDS
NET_FIELDS = ["name", "network", "gateway", "network6", "gateway6", "mac_prefix", "free_count",
              "reserved_count", "map", "group_list", "inst_list", "external_reservations"] + COMMON_FIELDS
J_FIELDS_BULK = ["id", "ops", "status", "summary", "opstatus", "received_ts", "start_ts", "end_ts"]
J_FIELDS = J_FIELDS_BULK + ["oplog", "opresult"]


class RequestLog:
    """WSGI middleware in front of a simulated cluster's app: what reached the server."""

    def __init__(self, app):
        self.app = app
        self.calls: list[tuple[str, str]] = []
        self._lock = threading.Lock()

    def __call__(self, environ, start_response):
        with self._lock:
            self.calls.append((environ["REQUEST_METHOD"], environ.get("PATH_INFO") or "/"))
        return self.app(environ, start_response)

    def count(self, method: str, path: str) -> int:
        with self._lock:
            return sum(1 for m, p in self.calls if m == method and p == path)


@pytest.fixture(scope="session")
def tls_dir(tmp_path_factory):
    directory = tmp_path_factory.mktemp("tls")
    ensure_self_signed_cert(directory, "localhost")  # made once, reused by every TLS fleet
    return directory


@pytest.fixture
def users_file(tmp_path):
    path = tmp_path / "rapi-users"
    path.write_text("# Ganeti RAPI users file (doc/rapi.rst, Users and passwords)\n"
                    f"{USER} {{cleartext}}{PASSWORD} write\n"
                    f"{READER} {READER_PASSWORD}\n")
    return str(path)


@pytest.fixture
def make_cluster(tmp_path, users_file, tls_dir) -> Callable:
    """make_cluster(**SimCluster options) -> a started simulated cluster whose `app` is a
    RequestLog; all of them are stopped after the test."""
    fleets: list[SimFleet] = []

    def make(**options):
        options.setdefault("job_duration", JOB_DURATION)
        fleet = SimFleet(clusters=1, base_port=0, users_file=users_file, state_dir=tmp_path / f"sim{len(fleets)}",
                         cert_dir=tls_dir, **options)
        for cluster in fleet.clusters:
            cluster.app = RequestLog(cluster.app)
        fleets.append(fleet.start())
        return fleet.clusters[0]

    yield make
    for fleet in fleets:  # a werkzeug server takes up to its poll interval to stop: do it aside
        stopper = threading.Thread(target=fleet.stop, name="stop-sim", daemon=True)
        stopper.start()
        _stopping.append(stopper)


_stopping: list[threading.Thread] = []


@pytest.fixture(scope="session", autouse=True)
def _all_fleets_stopped():
    """Every simulated cluster is stopped (ports closed, threads ended) before the session ends."""
    yield
    for stopper in _stopping:
        stopper.join(timeout=10)


@pytest.fixture
def cluster(make_cluster):
    return make_cluster()


@pytest.fixture
def make_client(cluster) -> Callable:
    clients: list[RapiClient] = []

    def make(username: str = USER, password: str = PASSWORD, *, url: str | None = None, verify=True,
             timeout: float = 5.0, **options) -> RapiClient:
        client = RapiClient(Endpoint(url or cluster.url, username, password, verify, timeout), **options)
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.close()


@pytest.fixture
def client(make_client) -> RapiClient:
    return make_client()


# --- helpers ---------------------------------------------------------------------------

def spec(name: str, memory: int = 512, disk: int = 1024, template: str = "plain", **extra) -> dict:
    """The create-opcode parameters the product sends (orchestrator.actions.create_spec)."""
    body = {"mode": "create", "instance_name": name, "disk_template": template, "disks": [{"size": disk}],
            "nics": [{}], "os_type": "debootstrap+default", "osparams": {},
            "beparams": {"maxmem": memory, "minmem": memory, "vcpus": 1}, "hvparams": {},
            "iallocator": "hail", "start": True, "name_check": False, "ip_check": False,
            "conflicts_check": False, "tags": []}
    body.update(extra)
    if "pnode" in extra:
        body.pop("iallocator")
    return body


def done(client: RapiClient, job_id: int) -> dict:
    """The job's record once it succeeded (JobFailed otherwise)."""
    return client.wait_for_job(job_id, timeout=15)


def make_instance(client: RapiClient, name: str, **kw) -> dict:
    done(client, client.create_instance(spec(name, **kw)))
    return client.instance(name)


def wait_status(client: RapiClient, job_id: int, statuses, timeout: float = 5.0) -> dict:
    """Poll /2/jobs/[id] until the job is in one of `statuses`."""
    statuses = {statuses} if isinstance(statuses, str) else set(statuses)
    deadline = time.monotonic() + timeout
    while True:
        job = client.job(job_id)
        if job["status"] in statuses:
            return job
        if time.monotonic() > deadline:
            raise AssertionError(f"job {job_id} is {job['status']}, not {sorted(statuses)}")
        time.sleep(0.01)


def admin(cluster, method: str, path: str, body: dict | None = None) -> dict:
    """The simulator's own drill endpoints (outside /2/): change a cluster behind RAPI's back."""
    r = requests.request(method, cluster.url + path, json=body, auth=(USER, PASSWORD), timeout=5,
                         verify=cluster.ssl_cert or True)
    r.raise_for_status()
    return r.json()
