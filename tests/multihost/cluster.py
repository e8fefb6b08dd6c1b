"""The multi-host drill's topology on one machine: each host a Linux network namespace with
its own address on a private subnet, all joined by one bridge.

    with Cluster(root).up() as cluster:     # namespaces, bridge, then every service
        cluster.client                      # the API hosts over HTTP, in turn
        cluster.kill_host("worker2")        # SIGKILL every process of a host
        cluster.start_workers("worker2")    # the host comes back

This process (the drill, the operator) sits on the bridge too, at GATEWAY: it reaches each
host as a client on another machine would. Every host has its own directory under `root`
(its var/, logs, spool, Mnesia, cookie copy); no process reads or writes another host's.
The services are the harness's own (tests/harness/services.py) started inside a namespace;
teardown removes every process, namespace, veth and the bridge, also after a failure, and
`teardown_stale()` does the same by name prefix for what a killed run left.
"""
from __future__ import annotations

import atexit
import contextlib
import fcntl
import ipaddress
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace

import requests
from cryptography.fernet import Fernet
from urllib3.exceptions import NewConnectionError

from tests.conftest import QUEUES, ROOT, StackAccess, Stack, celery_for, stack_env, wait_for
from tests.harness.services import PostgresServer, RabbitServer, RedisServer, ServiceError, wait_for_port

PREFIX = "mh-"  # every namespace and the bridge; veths are "mhv-<host>"
BRIDGE = "mh-br0"
SUBNET = ipaddress.ip_network("10.231.57.0/24")
GATEWAY = "10.231.57.1"  # the drill's own address on the bridge
HOSTS = {  # host -> last octet
    "rmq1": 11, "rmq2": 12, "rmq3": 13, "pg": 20, "redis": 21, "api1": 31, "api2": 32,
    "worker1": 41, "worker2": 42, "worker3": 43, "beat1": 51, "beat2": 52, "sim1": 61, "sim2": 62,
}
RABBITS, APIS, WORKERS, BEATS, SIMS = (tuple(h for h in HOSTS if h.startswith(p))
                                       for p in ("rmq", "api", "worker", "beat", "sim"))
IP = shutil.which("ip") or "/usr/sbin/ip"
SETPRIV = shutil.which("setpriv") or "/usr/bin/setpriv"
API_PORT, SIM_PORT, AMQP_PORT, PG_PORT, REDIS_PORT = 8000, 5080, 5672, 5432, 6379
ADMIN_TOKEN = "drill-admin-token"
LOCK_PATH = "/tmp/mh-drill.lock"
# Beat: a short lock and loop (a standby takes over within 5 s), recovery every 3 s.
BEAT_ENV = {"BEAT_LOCK_TIMEOUT_S": "4", "BEAT_MAX_LOOP_S": "1", "OPERATION_STALL_S": "6"}


def run(*argv: str, check: bool = True) -> subprocess.CompletedProcess:
    result = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=120)
    if check and result.returncode != 0:
        raise ServiceError(f"{' '.join(argv)} failed ({result.returncode}): {result.stderr.strip()}")
    return result


def subnet_in_use() -> list[str]:
    """Addresses or routes of this machine that overlap the drill's subnet (none may)."""
    found = []
    for item in json.loads(run(IP, "-j", "addr").stdout):
        for addr in item.get("addr_info", []):
            if addr.get("family") == "inet" and item["ifname"] != BRIDGE:
                net = ipaddress.ip_interface(f"{addr['local']}/{addr['prefixlen']}").network
                if net.overlaps(SUBNET):
                    found.append(f"{item['ifname']} {addr['local']}/{addr['prefixlen']}")
    for route in json.loads(run(IP, "-j", "route").stdout):
        dst = route.get("dst")
        if dst and dst != "default" and route.get("dev") != BRIDGE and ipaddress.ip_network(dst).overlaps(SUBNET):
            found.append(f"route {dst} dev {route.get('dev')}")
    return found


def netns_pids(ns: str) -> list[int]:
    result = run(IP, "netns", "pids", ns, check=False)
    return [int(p) for p in result.stdout.split()] if result.returncode == 0 else []


def kill_netns(ns: str) -> int:
    """SIGKILL every process in the namespace (a host losing power); how many there were."""
    pids = netns_pids(ns)
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while netns_pids(ns) and time.monotonic() < deadline:
        time.sleep(0.05)
    return len(pids)


def teardown_stale() -> list[str]:
    """Remove what any run of the drill left: its namespaces (their processes first), veths
    and bridge, found by name prefix. Returns what was removed."""
    removed = []
    for line in run(IP, "netns", "list", check=False).stdout.splitlines():
        ns = line.split()[0] if line.strip() else ""
        if ns.startswith(PREFIX):
            kill_netns(ns)
            run(IP, "netns", "delete", ns, check=False)
            removed.append(f"netns {ns}")
    for item in json.loads(run(IP, "-j", "link").stdout):
        name = item["ifname"].split("@")[0]
        if name.startswith("mhv-") or name == BRIDGE:
            run(IP, "link", "delete", name, check=False)
            removed.append(f"link {name}")
    return removed


@dataclass
class Host:
    """One machine of the drill: a namespace, an address, a directory of its own."""

    name: str
    ip: str
    dir: Path
    procs: dict[str, subprocess.Popen] = field(default_factory=dict)

    @property
    def ns(self) -> str:
        return PREFIX + self.name

    @property
    def veth(self) -> str:
        return "mhv-" + self.name

    def create(self) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        (self.dir / "var").mkdir(exist_ok=True)
        run(IP, "netns", "add", self.ns)
        run(IP, "link", "add", self.veth, "type", "veth", "peer", "name", "eth0", "netns", self.ns)
        run(IP, "link", "set", self.veth, "master", BRIDGE, "up")
        run(IP, "-n", self.ns, "link", "set", "lo", "up")
        run(IP, "-n", self.ns, "addr", "add", f"{self.ip}/{SUBNET.prefixlen}", "dev", "eth0")
        run(IP, "-n", self.ns, "link", "set", "eth0", "up")
        run(IP, "-n", self.ns, "route", "add", "default", "via", GATEWAY)

    def argv(self, argv: list[str], uid: int | None = None, gid: int | None = None) -> list[str]:
        """`argv` run inside this host's namespace (as uid:gid when given)."""
        prefix = [IP, "netns", "exec", self.ns]
        if uid is not None:
            prefix += [SETPRIV, f"--reuid={uid}", f"--regid={gid}", "--clear-groups", "--"]
        return prefix + argv

    def spawn(self, role: str, argv: list[str], env: dict[str, str]) -> subprocess.Popen:
        """A process of this host, in a session of its own, logging to <dir>/<role>.log."""
        with open(self.dir / f"{role}.log", "ab") as log:
            proc = subprocess.Popen(self.argv(argv), env=env, cwd=self.dir, stdin=subprocess.DEVNULL,
                                    stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        self.procs[role] = proc
        return proc

    def log(self, role: str) -> str:
        try:
            return (self.dir / f"{role}.log").read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def kill(self) -> int:
        """SIGKILL every process of the host, as a power cut would; reaps our children."""
        count = kill_netns(self.ns)
        for proc in self.procs.values():
            with contextlib.suppress(Exception):
                proc.wait(timeout=5)
        self.procs.clear()
        return count

    def destroy(self) -> None:
        self.kill()
        run(IP, "netns", "delete", self.ns, check=False)
        run(IP, "link", "delete", self.veth, check=False)


class _InHost:
    """A harness service (redis, postgres, rabbitmq) started inside a host's namespace, on
    the host's address and the service's usual port."""

    def __init__(self, host: Host, port: int, *args, **kwargs) -> None:
        super().__init__(host.dir / self.name, *args, **kwargs)
        self.on = host
        self.host, self.port = host.ip, port

    def _spawn(self, argv: list[str], **kwargs) -> subprocess.Popen:
        uid, gid = kwargs.pop("user", None), kwargs.pop("group", None)
        kwargs.pop("extra_groups", None)  # setpriv --clear-groups
        proc = super()._spawn(self.on.argv(argv, uid, gid), **kwargs)
        self.on.procs[self.name] = proc
        return proc


class HostRedis(_InHost, RedisServer):
    pass


class HostPostgres(_InHost, PostgresServer):
    """PostgreSQL on the pg host; the drill's subnet may connect (initdb trusts loopback only)."""

    default_database = "orchestrator"

    def _run(self, argv: list[str], timeout: float = 120.0) -> None:
        super()._run(argv, timeout)
        if argv[0].endswith("/initdb"):
            with open(self.data_dir / "pg_hba.conf", "a") as hba:
                hba.write(f"host all all {SUBNET} trust\n")



class HostRabbit(_InHost, RabbitServer):
    """A RabbitMQ node named rabbit@<address> (long names: no /etc/hosts entry needed), with
    the drill's Erlang cookie in its own home and one scheduler thread (2-core machine)."""

    def __init__(self, host: Host, cookie: str, join: str | None = None) -> None:
        super().__init__(host, AMQP_PORT)
        self.dist_port = 25672
        self.cookie, self.join = cookie, join

    @property
    def nodename(self) -> str:
        return f"rabbit@{self.host}"

    def url(self, vhost: str = "") -> str:
        return f"amqp://guest:guest@{self.host}:{self.port}/{vhost}"

    def _env(self) -> dict[str, str]:
        return {**super()._env(), "RABBITMQ_USE_LONGNAME": "true",
                "RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS": "+S 1:1 +sbwt none +sbwtdcpu none +sbwtdio none"}

    def start(self, _keep_data: bool = False) -> "HostRabbit":
        self.workdir.mkdir(parents=True, exist_ok=True)
        cookie = self.workdir / ".erlang.cookie"
        if not cookie.exists():
            cookie.write_text(self.cookie)
            cookie.chmod(0o400)
        # guest may log in from other hosts (it is refused off loopback by default); a blank
        # node given `join` joins that node's cluster as it boots (config peer discovery).
        conf = "loopback_users = none\n"
        if self.join:
            conf += ("cluster_formation.peer_discovery_backend = classic_config\n"
                     f"cluster_formation.classic_config.nodes.1 = {self.join}\n")
        (self.workdir / "rabbitmq.conf").write_text(conf)
        return super().start(_keep_data)

    def ctl(self, *args: str, timeout: float = 120) -> str:
        argv = self.on.argv(["/usr/lib/rabbitmq/bin/rabbitmqctl", "-n", self.nodename, *args])
        result = subprocess.run(argv, env=self._env(), capture_output=True, text=True, timeout=timeout,
                                stdin=subprocess.DEVNULL)
        if result.returncode != 0:
            raise ServiceError(f"rabbitmqctl {' '.join(args)} on {self.nodename}: {result.stdout}{result.stderr}")
        return result.stdout

    def queues(self) -> dict[str, dict]:
        """The broker's queues by name: type, leader, members (quorum queues' replicas)."""
        rows = json.loads(self.ctl("list_queues", "name", "type", "leader", "members", "--formatter", "json"))
        return {row["name"]: row for row in rows}

    def wait_booted(self, timeout: float = 120) -> None:
        self.ctl("await_startup", "--timeout", str(int(timeout)), timeout=timeout + 10)


class ApiClient:
    """The API hosts over HTTP, one request to each in turn, as a load balancer would: a
    host that refuses the connection is skipped (nothing was sent to it); any other error is
    the caller's (the request may have reached the host)."""

    def __init__(self, urls: list[str]) -> None:
        self.urls = urls
        self.turn = 0
        self.http = requests.Session()
        self.answered = {url: 0 for url in urls}
        self.refused = {url: 0 for url in urls}

    def request(self, method: str, path: str, **kwargs) -> SimpleNamespace:
        last = None
        for _ in range(2 * len(self.urls)):
            url = self.urls[self.turn % len(self.urls)]
            self.turn += 1
            try:
                response = self.http.request(method, url + path, timeout=60, **kwargs)
            except requests.ConnectionError as exc:
                if not isinstance(getattr(exc.args[0], "reason", None), NewConnectionError):
                    raise  # the request may have reached the host: not ours to send again
                self.refused[url] += 1
                last = exc
                continue
            self.answered[url] += 1
            try:
                body = response.json()
            except ValueError:
                body = None
            return SimpleNamespace(status_code=response.status_code, json=body)
        raise AssertionError(f"no API host answered {method} {path}: {last}")

    def get(self, path, **kw):
        return self.request("GET", path, **kw)

    def post(self, path, **kw):
        return self.request("POST", path, **kw)

    def delete(self, path, **kw):
        return self.request("DELETE", path, **kw)


class Cluster(StackAccess):
    """The whole topology; also the `stack` the drills' helpers (tests/drills/mixed_load.py,
    faults_helpers.py) take: an API client, a database session, the clusters' RAPI."""

    create_server = Stack.create_server
    wait_status = Stack.wait_status

    def __init__(self, root: str | os.PathLike) -> None:
        self.root = Path(root)
        self.hosts = {name: Host(name, str(SUBNET.network_address + octet), self.root / name)
                      for name, octet in HOSTS.items()}
        self.cookie = secrets.token_hex(16)
        first = f"rabbit@{self.hosts[RABBITS[0]].ip}"
        self.rabbits = [HostRabbit(self.hosts[h], self.cookie, join=first if i else None)
                        for i, h in enumerate(RABBITS)]
        self.pg = HostPostgres(self.hosts["pg"], PG_PORT)
        self.redis = HostRedis(self.hosts["redis"], REDIS_PORT, password=secrets.token_urlsafe(16))
        self.credentials_key = Fernet.generate_key().decode()  # every host's CREDENTIALS_KEYS
        self.admin_headers = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
        self.api_urls = [f"http://{self.hosts[h].ip}:{API_PORT}" for h in APIS]
        self.sim = SimpleNamespace(clusters=[
            SimpleNamespace(name=f"cluster{i + 1}.sim.local", url=f"http://{self.hosts[h].ip}:{SIM_PORT}", host=h)
            for i, h in enumerate(SIMS)])
        self._client = ApiClient(self.api_urls)
        self.timings: dict[str, float] = {}
        self._lock_file = None
        self.killed_beat: str | None = None
        self.killed_worker: str | None = None
        self.up_seconds = 0.0

    # -- the stack interface -------------------------------------------------------------
    @property
    def client(self) -> ApiClient:
        return self._client

    @property
    def db_url(self) -> str:
        return self.pg.url()

    @property
    def broker_url(self) -> str:
        """Every RabbitMQ node: Celery and kombu fail over along the list (';')."""
        return ";".join(r.url() for r in self.rabbits)

    def env(self, host: Host, **extra: str) -> dict[str, str]:
        """A host's settings: the harness's test settings, this host's var/, the drill's hosts."""
        env = stack_env(self.db_url, self.redis, host.dir / "var")
        env.update(CELERY_BROKER_URL=self.broker_url, ORCHESTRATOR_ADMIN_TOKEN=ADMIN_TOKEN,
                   CREDENTIALS_KEYS=self.credentials_key, PYTHONUNBUFFERED="1", RABBITMQ_QUEUE_TYPE="quorum",
                   PUBLIC_API_URL=self.api_urls[0], NODE_AGENT_SPOOL_DIR=str(host.dir / "node-agent"),
                   PATH=f"{Path(sys.executable).parent}:{os.environ.get('PATH', '/usr/bin:/bin')}", **BEAT_ENV)
        env.pop("PROMETHEUS_MULTIPROC_DIR", None)
        env.update(extra)
        return env

    # -- life cycle ----------------------------------------------------------------------
    def __enter__(self) -> "Cluster":
        return self

    def __exit__(self, *exc) -> None:
        self.down()

    def up(self) -> "Cluster":
        """Network, then the brokers, databases and clusters side by side, then the apps."""
        self._lock()
        atexit.register(self.down)  # also when pytest is interrupted past the fixture's teardown
        started = time.monotonic()
        try:
            self._timed("network", self.network_up)
            with ThreadPoolExecutor(max_workers=3) as pool:
                boots = [pool.submit(self._timed, "rabbitmq cluster", self.start_rabbits),
                         pool.submit(self._timed, "postgres+redis+seed", lambda: (self.start_data(), self.seed())),
                         pool.submit(self._timed, "sims", lambda: [self.start_sim(h) for h in SIMS])]
                for boot in boots:
                    boot.result()
            self._timed("apps", self.start_apps)
            self.up_seconds = time.monotonic() - started
        except BaseException:
            self.down()
            raise
        return self

    def _lock(self) -> None:
        """One drill per machine: the namespaces' names are fixed (a second run waits)."""
        self._lock_file = open(LOCK_PATH, "w")
        fcntl.flock(self._lock_file, fcntl.LOCK_EX)

    def _timed(self, what: str, fn) -> None:
        started = time.monotonic()
        fn()
        self.timings[what] = time.monotonic() - started

    def network_up(self) -> None:
        teardown_stale()  # what a killed run left (we hold the lock: no other run is live)
        clash = subnet_in_use()
        if clash:
            raise ServiceError(f"{SUBNET} is already used on this machine: {clash}")
        self.root.mkdir(parents=True, exist_ok=True)
        run(IP, "link", "add", BRIDGE, "type", "bridge")
        run(IP, "addr", "add", f"{GATEWAY}/{SUBNET.prefixlen}", "dev", BRIDGE)
        run(IP, "link", "set", BRIDGE, "up")
        for host in self.hosts.values():
            host.create()

    def start_rabbits(self) -> None:
        """The first node, then the other two side by side, each joining the first as it boots:
        one cluster of three."""
        first, *others = self.rabbits
        first.start()
        first.wait_booted()
        with ThreadPoolExecutor(max_workers=len(others)) as pool:
            for boot in [pool.submit(lambda r=r: (r.start(), r.wait_booted())) for r in others]:
                boot.result()
        running = json.loads(first.ctl("cluster_status", "--formatter", "json"))["running_nodes"]
        assert sorted(running) == sorted(r.nodename for r in self.rabbits), running

    def start_data(self) -> None:
        self.pg.start()
        self.redis.start()

    def seed(self) -> None:
        """Schema and demo data, from the operator's host: two backends, one per sim host."""
        from orchestrator import demo, migrate
        from orchestrator.db import session_scope
        from orchestrator.models import Backend

        migrate.upgrade(self.db_url)
        env = {**self.env(self.hosts["pg"]), "SIM_CLUSTERS": str(len(SIMS)), "SIM_BASE_PORT": str(SIM_PORT),
               "SIM_HOST": self.hosts[SIMS[0]].ip, "SIM_RAPI_USER": "rapi", "SIM_RAPI_PASSWORD": "rapi-secret",
               "SIM_SCHEME": "http"}
        with session_scope(self.db_url) as session:
            demo.seed(session, env=env)
            for backend, cluster in zip(session.query(Backend).order_by(Backend.id), self.sim.clusters):
                backend.host, backend.port = self.hosts[cluster.host].ip, SIM_PORT
            session.commit()

    def start_sim(self, name: str) -> None:
        """One simulated cluster and its node agent (the job-queue watcher and the NIC hook)."""
        host = self.hosts[name]
        cluster = next(c for c in self.sim.clusters if c.host == name)
        env = self.env(host)
        state, hooks = host.dir / "sim", host.dir / "hooks"
        subprocess.run(host.argv([sys.executable, "-m", "node_agent", "install-hooks", "--hooks-dir", str(hooks)]),
                       env=env, check=True, capture_output=True, timeout=60)
        host.spawn("sim", [sys.executable, "-m", "tests.multihost.simhost", cluster.name, "--clusters", "1",
                           "--base-port", str(SIM_PORT), "--host", host.ip, "--job-duration", "0.3",
                           "--node-cpus", "128", "--state-dir", str(state), "--hooks-dir", str(hooks),
                           "--progress-command", f"{sys.executable} -m node_agent progress --instance {{instance}} "
                                                 f"--cluster {{cluster}}"], {**env, "PYTHONPATH": str(ROOT)})
        host.spawn("agent", [sys.executable, "-m", "node_agent", "watch-queue", "--cluster", cluster.name,
                             "--queue-dir", str(state / cluster.name / "queue"), "--interval", "0.5"], env)
        wait_for_port(host.ip, SIM_PORT, timeout=30, proc=host.procs["sim"])

    def start_apps(self) -> None:
        for name in APIS:
            self.start_api(name)
        for name in WORKERS:
            self.start_workers(name, wait=False)
        for name in BEATS:
            self.start_beat(name)
        for name in APIS:
            wait_for_port(self.hosts[name].ip, API_PORT, timeout=60, proc=self.hosts[name].procs["api"])
        self.wait_workers(WORKERS)

    def start_api(self, name: str) -> None:
        host = self.hosts[name]
        prom = host.dir / "prometheus"
        shutil.rmtree(prom, ignore_errors=True)
        prom.mkdir()
        host.spawn("api", [sys.executable, "-m", "gunicorn", "-c", str(ROOT / "api" / "gunicorn_conf.py"),
                           "--bind", f"{host.ip}:{API_PORT}", "--workers", "1", "--threads", "4",
                           "api.wsgi:app_from_env()"], self.env(host, PROMETHEUS_MULTIPROC_DIR=str(prom)))

    def wait_api(self, name: str) -> None:
        host = self.hosts[name]
        wait_for_port(host.ip, API_PORT, timeout=60, proc=host.procs["api"])

    def start_workers(self, name: str, wait: bool = True) -> None:
        host = self.hosts[name]
        host.spawn("worker", [sys.executable, "-m", "celery", "-A", "orchestrator.worker", "worker",
                              "-Q", QUEUES + ",celery", "-c", "2", "-E", "--loglevel=INFO", "--without-gossip",
                              "--without-mingle", "-n", f"{name}@{host.ip}"], self.env(host))
        if wait:
            self.wait_workers([name])

    def wait_workers(self, names, timeout: float = 90) -> None:
        app = celery_for(self.env(self.hosts["pg"]))
        want = {f"{n}@{self.hosts[n].ip}" for n in names}
        try:
            def answered():
                for n in names:
                    proc = self.hosts[n].procs.get("worker")
                    if proc is not None and proc.poll() is not None:
                        raise ServiceError(f"worker on {n} exited: {self.hosts[n].log('worker')[-3000:]}")
                try:
                    replies = app.control.ping(timeout=1.0, destination=list(want)) or []
                except app.connection_for_write().connection_errors:  # a broker node just restarted
                    app.close()
                    return None
                return want <= {k for r in replies for k in r}
            wait_for(answered, timeout, interval=0.5, what=f"workers {sorted(want)}")
        finally:
            app.close()

    def start_beat(self, name: str) -> None:
        host = self.hosts[name]
        log = host.dir / "beat.log"
        if log.exists():  # a new life, a new log: active_beat() reads the current one
            log.rename(host.dir / f"beat.{time.time_ns()}.log")
        host.spawn("beat", [sys.executable, "-m", "celery", "-A", "orchestrator.worker", "beat",
                            "--loglevel=INFO", "-s", str(host.dir / "var" / "beat-schedule")], self.env(host))

    def busiest_worker(self, timeout: float = 10) -> tuple[str, int]:
        """The worker host holding the most tasks (running, prefetched, waiting for their ETA:
        all unacknowledged, so redelivered when it dies), and how many; waits a little for one
        that holds any."""
        app = celery_for(self.env(self.hosts["pg"]))
        deadline = time.monotonic() + timeout
        try:
            while True:
                counts = dict.fromkeys(WORKERS, 0)
                try:
                    inspect = app.control.inspect(timeout=1.0)
                    for found in (inspect.active(), inspect.reserved(), inspect.scheduled()):
                        for n in WORKERS:
                            counts[n] += len((found or {}).get(f"{n}@{self.hosts[n].ip}", []))
                except app.connection_for_write().connection_errors:
                    app.close()
                name = max(counts, key=counts.get)
                if counts[name] or time.monotonic() > deadline:
                    return name, counts[name]
                time.sleep(0.2)
        finally:
            app.close()

    def active_beat(self, timeout: float = 60) -> str:
        """The beat host holding the leader lock (its log says it acquired it, and it runs)."""
        def leader():
            holders = [n for n in BEATS if "running" == self.state(n, "beat") and
                       self.hosts[n].log("beat").count("beat: Acquired lock")
                       > self.hosts[n].log("beat").count("Lost the lock")]
            return holders[0] if len(holders) == 1 else None
        return wait_for(leader, timeout, interval=0.2, what="one beat holding the lock")

    def state(self, host: str, role: str) -> str:
        proc = self.hosts[host].procs.get(role)
        return "running" if proc is not None and proc.poll() is None else "stopped"

    def foreign_files(self) -> list[str]:
        """Files (open descriptors, working directories) of each host's processes that lie in
        another host's directory: the drill's claim is that there are none."""
        owners = {h.dir.resolve(): h.name for h in self.hosts.values()}
        if self.pg.data_dir is not None:
            owners[self.pg.data_dir.parent.resolve()] = "pg"
        found = []
        for host in self.hosts.values():
            for pid in netns_pids(host.ns):
                paths = [f"/proc/{pid}/cwd"]
                with contextlib.suppress(OSError):
                    paths += [f"/proc/{pid}/fd/{fd}" for fd in os.listdir(f"/proc/{pid}/fd")]
                for link in paths:
                    try:
                        target = Path(os.readlink(link))
                    except OSError:
                        continue
                    owner = next((name for base, name in owners.items() if target.is_relative_to(base)), host.name)
                    if owner != host.name:
                        found.append(f"{host.name} pid {pid}: {target} ({owner}'s)")
        return found

    # -- faults --------------------------------------------------------------------------
    def kill_host(self, name: str) -> int:
        """Every process of the host SIGKILLed; how many."""
        return self.hosts[name].kill()

    def down(self) -> None:
        """Every process, namespace, veth and the bridge, whatever state they are in; only
        while this run holds the lock (after it, the names may be another run's)."""
        if self._lock_file is None:
            return
        atexit.unregister(self.down)
        for host in self.hosts.values():
            with contextlib.suppress(Exception):
                host.destroy()
        for service in (*self.rabbits, self.pg, self.redis):
            with contextlib.suppress(Exception):
                service.kill()
            with contextlib.suppress(Exception):
                service.stop()
        teardown_stale()
        if self._lock_file is not None:
            self._lock_file.close()  # releases the lock
            self._lock_file = None
