"""Fixtures: a real simulated fleet on free ports, talked to over HTTP with requests."""
from __future__ import annotations

import time

import pytest
import requests

from ganeti_sim import SimFleet

USER, PASSWORD = "rapi", "rapi-secret"


@pytest.fixture
def fleet(tmp_path):
    f = SimFleet(clusters=2, base_port=0, job_duration=0.1, user=USER, password=PASSWORD,
                 nodes_per_cluster=3, node_memory=8192, node_disk=102400, node_cpus=8,
                 state_dir=tmp_path / "sim")
    f.start()
    yield f
    f.stop()


@pytest.fixture
def cluster(fleet):
    return fleet.clusters[0]


@pytest.fixture
def rapi(cluster):
    """A requests session bound to cluster 0: rapi.get("/2/info")."""
    return Client(cluster.url, (USER, PASSWORD))


class Client:
    def __init__(self, base: str, auth=None):
        self.base = base
        self.session = requests.Session()
        self.session.auth = auth

    def request(self, method: str, path: str, **kw) -> requests.Response:
        kw.setdefault("timeout", 15)
        return self.session.request(method, self.base + path, **kw)

    def get(self, path, **kw):
        return self.request("GET", path, **kw)

    def post(self, path, **kw):
        return self.request("POST", path, **kw)

    def put(self, path, **kw):
        return self.request("PUT", path, **kw)

    def delete(self, path, **kw):
        return self.request("DELETE", path, **kw)

    def wait_job(self, job_id: int, timeout: float = 10.0) -> dict:
        deadline = time.monotonic() + timeout
        while True:
            job = self.get(f"/2/jobs/{job_id}").json()
            if job["status"] in ("success", "error", "canceled"):
                return job
            if time.monotonic() > deadline:
                raise AssertionError(f"job {job_id} still {job['status']}")
            time.sleep(0.02)

    def create(self, name: str, memory: int = 1024, disk: int = 2048, template: str = "plain", **extra) -> int:
        body = {"__version__": 1, "mode": "create", "instance_name": name, "disk_template": template,
                "disks": [{"size": disk}], "nics": [{}], "os_type": "debootstrap+default",
                "beparams": {"maxmem": memory, "minmem": memory, "vcpus": 1},
                "name_check": False, "ip_check": False}
        body.update(extra)
        r = self.post("/2/instances", json=body)
        assert r.status_code == 200, r.text
        return r.json()
