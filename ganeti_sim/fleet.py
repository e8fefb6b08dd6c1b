"""A fleet of simulated clusters in one process, for tests and the CLI."""
from __future__ import annotations

from pathlib import Path

from .server import SimCluster, ensure_self_signed_cert


class SimFleet:
    """`clusters` clusters named cluster1.sim.local ...; cluster i (0-based) listens on
    base_port + i, or on a free port each when base_port is 0."""

    def __init__(self, clusters: int = 2, base_port: int = 0, host: str = "127.0.0.1",
                 job_duration: float = 2.0, user: str = "rapi", password: str = "rapi-secret",
                 nodes_per_cluster: int = 4, node_memory: int = 65536, node_disk: int = 1048576,
                 node_cpus: int = 16, state_dir: str | Path | None = None, users_file: str | None = None,
                 tls: bool = False, cert_dir: str | Path | None = None, require_auth: bool = True,
                 name_format: str = "cluster{n}.sim.local", **cluster_kwargs):
        ssl_cert = ssl_key = None
        if tls:
            cert_dir = cert_dir or (Path(state_dir) / "tls" if state_dir else Path("var/sim/tls"))
            ssl_cert, ssl_key = ensure_self_signed_cert(cert_dir, host if host != "0.0.0.0" else "localhost")
        self.ssl_cert = ssl_cert
        self.clusters: list[SimCluster] = []
        for i in range(clusters):
            self.clusters.append(SimCluster(
                name_format.format(n=i + 1), port=(base_port + i) if base_port else 0, host=host,
                job_duration=job_duration, nodes=nodes_per_cluster, node_memory=node_memory,
                node_disk=node_disk, node_cpus=node_cpus, user=user, password=password,
                users_file=users_file, state_dir=state_dir, require_auth=require_auth,
                ssl_cert=ssl_cert, ssl_key=ssl_key, **cluster_kwargs))

    def start(self) -> "SimFleet":
        for c in self.clusters:
            c.start()
        return self

    def stop(self) -> None:
        for c in self.clusters:
            c.stop()

    def __enter__(self) -> "SimFleet":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def by_name(self, name: str) -> SimCluster:
        for c in self.clusters:
            if c.name == name:
                return c
        raise KeyError(name)

    def __getitem__(self, index: int) -> SimCluster:
        return self.clusters[index]

    def __len__(self) -> int:
        return len(self.clusters)
