"""Real redis-server and PostgreSQL processes for the test fixtures and the benchmarks.

Each service runs as a child process of the test process, on 127.0.0.1 and a free
port (never a service's default port), with its files under a work directory. Every
started service is stopped by its fixture's teardown, and again at interpreter exit
(atexit) as a safety net, so an xdist worker never leaves one behind.

    redis = RedisServer(tmp / "redis").start()
    redis.url(0)            # redis://127.0.0.1:<port>/0
    redis.restart()         # same port; keeps the data by default (SHUTDOWN SAVE)
    redis.stop()

    pg = PostgresServer(tmp / "pg").start()
    pg.url()                # postgresql+psycopg://postgres@127.0.0.1:<port>/orchestrator_test
    pg.create_database("x") # a fresh database, its SQLAlchemy URL
    pg.stop()

PostgreSQL comes from Debian's packages (/usr/lib/postgresql/<version>/bin), which
scripts/bootstrap.sh installs. PostgreSQL refuses to run as root, so when the tests run
as root initdb and postgres run as the `postgres` OS user, with their data directory in
a private directory that user can reach (pytest's tmp directories are mode 0700 and
owned by root).
"""
from __future__ import annotations

import atexit
import contextlib
import glob
import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from pathlib import Path
from urllib.parse import quote

HOST = "127.0.0.1"

# Ports the services (and the one-machine stack of `make run`) use by default; a test
# service must never take one of them, so it cannot collide with a running stack.
DEFAULT_PORTS = frozenset({5432, 6379, 8000, 5555, *range(5080, 5100)})


class ServiceError(RuntimeError):
    """A service did not start or stop as expected; the message includes its log tail."""


def free_port(host: str = HOST, avoid: frozenset[int] | set[int] = DEFAULT_PORTS) -> int:
    """A TCP port nothing listens on right now (asked from the kernel), never a default port."""
    for _ in range(100):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.bind((host, 0))
            port = sock.getsockname()[1]
        if port not in avoid:
            return port
    raise ServiceError("could not find a free port")


def port_open(host: str, port: int, timeout: float = 0.2) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def wait_for_port(host: str, port: int, timeout: float = 15.0, proc: subprocess.Popen | None = None) -> None:
    """Wait until something accepts TCP connections on host:port; if `proc` exits first, fail."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if port_open(host, port):
            return
        if proc is not None and proc.poll() is not None:
            raise ServiceError(f"process {proc.args[0]!r} exited with {proc.returncode} before listening on {port}")
        time.sleep(0.05)
    raise ServiceError(f"nothing listens on {host}:{port} after {timeout}s")


def _log_tail(path: Path, chars: int = 3000) -> str:
    try:
        return path.read_text(errors="replace")[-chars:]
    except OSError:
        return "(no log)"


# Every service that is running, so atexit can stop what a teardown did not.
_RUNNING: set["_Service"] = set()
_RUNNING_LOCK = threading.Lock()


def _stop_all() -> None:
    with _RUNNING_LOCK:
        services = list(_RUNNING)
    for service in services:
        with contextlib.suppress(Exception):
            service.stop()


atexit.register(_stop_all)


class _Service:
    name = "service"

    def __init__(self, workdir: str | os.PathLike) -> None:
        self.workdir = Path(workdir).resolve()
        self.host = HOST
        self.port: int | None = None
        self.proc: subprocess.Popen | None = None

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    @property
    def log_path(self) -> Path:
        return self.workdir / f"{self.name}.log"

    def _spawn(self, argv: list[str], **kwargs) -> subprocess.Popen:
        with open(self.log_path, "ab") as log:
            proc = subprocess.Popen(
                argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True,  # Ctrl-C reaches pytest only, which then tears down in order
                **kwargs,
            )
        with _RUNNING_LOCK:
            _RUNNING.add(self)
        return proc

    def _terminate(self, sig: int, timeout: float) -> None:
        """Signal the process, wait, then SIGKILL its whole process group if it lingers."""
        proc = self.proc
        if proc is None:
            return
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                proc.send_signal(sig)
            try:
                proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=10)
        # Children (postgres backends) share the process group; none may outlive the service.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)
        self.proc = None
        with _RUNNING_LOCK:
            _RUNNING.discard(self)

    def kill(self) -> None:
        """SIGKILL, as a crash would: no shutdown work at all."""
        self._terminate(signal.SIGKILL, timeout=10)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.host}:{self.port} {'running' if self.running else 'stopped'}>"

    def start(self):  # pragma: no cover - overridden
        raise NotImplementedError

    def stop(self) -> None:  # pragma: no cover - overridden
        raise NotImplementedError


class RedisServer(_Service):
    """`redis-server` on 127.0.0.1 and a free port, no persistence, files in `workdir`."""

    name = "redis"

    def __init__(self, workdir: str | os.PathLike, executable: str = "redis-server",
                 password: str | None = None) -> None:
        super().__init__(workdir)
        self.executable = executable
        self.password = password  # requirepass, given in a config file (never on the command line)

    def url(self, db: int = 0) -> str:
        if self.port is None:
            raise ServiceError("RedisServer has no port until it is started")
        auth = f":{quote(self.password, safe='')}@" if self.password else ""
        return f"redis://{auth}{self.host}:{self.port}/{db}"

    def start(self, _keep_data: bool = False, attempts: int = 3) -> "RedisServer":
        if self.running:
            return self
        binary = shutil.which(self.executable)
        if binary is None:
            raise ServiceError("redis-server is not installed; run scripts/bootstrap.sh (or `make test`)")
        self.workdir.mkdir(parents=True, exist_ok=True)
        if not _keep_data:
            (self.workdir / "dump.rdb").unlink(missing_ok=True)
        fixed_port = self.port is not None  # a restart must come back on the same port
        for attempt in range(attempts):
            if not fixed_port:
                self.port = free_port()
            self.proc = self._spawn([
                binary, *self._config(), "--port", str(self.port), "--bind", self.host, "--save", "",
                "--appendonly", "no", "--dir", str(self.workdir), "--dbfilename", "dump.rdb", "--daemonize", "no",
                "--logfile", "", "--protected-mode", "yes",
            ], cwd=self.workdir)
            try:
                self._wait_ping(timeout=15.0)
                return self
            except ServiceError:
                self._terminate(signal.SIGKILL, timeout=5)
                if fixed_port and attempt < attempts - 1:
                    time.sleep(0.5)  # the old process may still hold the port for a moment
                elif attempt == attempts - 1:
                    raise ServiceError(f"redis-server did not start on port {self.port}:\n{_log_tail(self.log_path)}")
        raise AssertionError("unreachable")

    def _config(self) -> list[str]:
        """A config file with the password (mode 0600), so `ps` never shows it."""
        if not self.password:
            return []
        path = self.workdir / "redis.conf"
        path.touch(mode=0o600)
        path.write_text(f"requirepass {self.password}\n")
        return [str(path)]

    def _command(self, *words: str, timeout: float = 2.0) -> bytes:
        """Send one command in RESP (after AUTH, with a password) and return the first line of the reply."""
        commands = [("AUTH", self.password), words] if self.password else [words]
        payload = b"".join(f"*{len(c)}\r\n".encode() + b"".join(
            f"${len(w.encode())}\r\n".encode() + w.encode() + b"\r\n" for w in c) for c in commands)
        with socket.create_connection((self.host, self.port), timeout=timeout) as sock:
            sock.sendall(payload)
            reply = b""
            while reply.count(b"\r\n") < len(commands):
                chunk = sock.recv(4096)
                if not chunk:
                    break
                reply += chunk
        return reply.strip().split(b"\r\n")[-1]

    def ping(self) -> bool:
        try:
            return self._command("PING") == b"+PONG"
        except OSError:
            return False

    def _wait_ping(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc is None or self.proc.poll() is not None:
                raise ServiceError("redis-server exited")
            if self.ping():
                return
            time.sleep(0.05)
        raise ServiceError(f"redis-server did not answer PING within {timeout}s")

    def stop(self, save: bool = False) -> None:
        """Shut down (SHUTDOWN SAVE when `save`, so a restart finds the data), then reap."""
        if self.proc is None:
            return
        if self.running:
            with contextlib.suppress(OSError):
                self._command("SHUTDOWN", "SAVE" if save else "NOSAVE", timeout=10.0)
        self._terminate(signal.SIGTERM, timeout=10)

    def restart(self, keep_data: bool = True) -> "RedisServer":
        """Stop and start again on the same port, as a broker restart would.

        With `keep_data` (the default) the dataset is saved on shutdown and loaded on
        start, like a production Redis with persistence; without it, Redis comes back empty.
        """
        self.stop(save=keep_data)
        return self.start(_keep_data=keep_data)


def postgres_bindir() -> Path:
    """The newest Debian PostgreSQL server's bin directory (or $PG_BINDIR)."""
    if os.environ.get("PG_BINDIR"):
        return Path(os.environ["PG_BINDIR"])
    candidates = glob.glob("/usr/lib/postgresql/*/bin/postgres")

    def version(path: str) -> tuple[int, ...]:
        match = re.search(r"/postgresql/([\d.]+)/", path)
        return tuple(int(p) for p in match.group(1).split(".")) if match else (0,)

    if not candidates:
        raise ServiceError("PostgreSQL is not installed (no /usr/lib/postgresql/*/bin/postgres); "
                           "run scripts/bootstrap.sh (or `make test`)")
    return Path(max(candidates, key=version)).parent


class PostgresServer(_Service):
    """A throw-away PostgreSQL cluster: initdb, trust auth, fsync off, 127.0.0.1 on a free port."""

    name = "postgres"
    superuser = "postgres"
    default_database = "orchestrator_test"

    def __init__(self, workdir: str | os.PathLike, bindir: str | os.PathLike | None = None) -> None:
        super().__init__(workdir)
        self._bindir = Path(bindir) if bindir else None
        self._private: Path | None = None  # the directory owned by the postgres OS user, when root
        self.data_dir: Path | None = None
        self.socket_dir: Path | None = None
        self._run_as: pwd.struct_passwd | None = None

    # -- paths and users -------------------------------------------------------------
    @property
    def bindir(self) -> Path:
        if self._bindir is None:
            self._bindir = postgres_bindir()
        return self._bindir

    def _prepare_dirs(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        if os.geteuid() == 0:
            try:
                self._run_as = pwd.getpwnam("postgres")
            except KeyError as exc:
                raise ServiceError("running as root but there is no `postgres` OS user "
                                   "(it comes with Debian's postgresql package)") from exc
            # pytest's tmp directories are 0700 root: the postgres user could not reach them.
            self._private = Path(tempfile.mkdtemp(prefix="orch-pg-", dir="/tmp"))
            os.chown(self._private, self._run_as.pw_uid, self._run_as.pw_gid)
            base = self._private
            (self.workdir / "DATA_DIR").write_text(f"{base}\n")  # where to look when debugging
        else:
            base = self.workdir
        self.data_dir = base / "data"
        self.socket_dir = base / "sock"
        self.socket_dir.mkdir(exist_ok=True)
        if self._run_as is not None:
            os.chown(self.socket_dir, self._run_as.pw_uid, self._run_as.pw_gid)
        # The log lives in the workdir; open it for the child as root, before dropping privileges.

    def _user_kwargs(self) -> dict:
        if self._run_as is None:
            return {}
        user = self._run_as
        env = {"PATH": "/usr/bin:/bin", "HOME": user.pw_dir, "USER": user.pw_name, "LOGNAME": user.pw_name,
               "LC_ALL": "C.UTF-8", "LANG": "C.UTF-8", "TZ": "UTC"}
        return {"user": user.pw_uid, "group": user.pw_gid, "extra_groups": [], "env": env}

    def _run(self, argv: list[str], timeout: float = 120.0) -> None:
        kwargs = self._user_kwargs()
        kwargs.setdefault("env", {**os.environ, "LC_ALL": "C.UTF-8", "LANG": "C.UTF-8", "TZ": "UTC"})
        result = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                cwd=self.data_dir.parent, timeout=timeout, **kwargs)
        with open(self.log_path, "ab") as log:
            log.write(result.stdout)
        if result.returncode != 0:
            raise ServiceError(f"{' '.join(argv)} failed ({result.returncode}):\n"
                               f"{result.stdout.decode(errors='replace')[-3000:]}")

    # -- life cycle ------------------------------------------------------------------
    def start(self, attempts: int = 3) -> "PostgresServer":
        if self.running:
            return self
        if self.data_dir is None:
            self._prepare_dirs()
        if not (self.data_dir / "PG_VERSION").exists():
            self._run([str(self.bindir / "initdb"), "-D", str(self.data_dir), "-U", self.superuser,
                       "-A", "trust", "-E", "UTF8", "--no-locale", "--no-sync"])
        fixed_port = self.port is not None
        for attempt in range(attempts):
            if not fixed_port:
                self.port = free_port()
            kwargs = self._user_kwargs()
            kwargs.setdefault("env", {**os.environ, "LC_ALL": "C.UTF-8", "LANG": "C.UTF-8", "TZ": "UTC"})
            self.proc = self._spawn([
                str(self.bindir / "postgres"), "-D", str(self.data_dir), "-p", str(self.port),
                "-c", f"listen_addresses={self.host}",
                "-c", f"unix_socket_directories={self.socket_dir}",
                "-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off",
                "-c", "shared_buffers=32MB", "-c", "max_connections=200",
                "-c", "log_min_messages=warning", "-c", "logging_collector=off",
            ], cwd=self.data_dir.parent, **kwargs)
            try:
                self._wait_ready(timeout=30.0)
                break
            except ServiceError:
                self._terminate(signal.SIGKILL, timeout=5)
                if attempt == attempts - 1:
                    raise ServiceError(f"postgres did not start on port {self.port}:\n{_log_tail(self.log_path)}")
                time.sleep(0.2)
        if not self._database_exists(self.default_database):
            self._execute(f'CREATE DATABASE "{self.default_database}"')
        return self

    def _connect(self, dbname: str = "postgres"):
        import psycopg

        return psycopg.connect(host=self.host, port=self.port, user=self.superuser, dbname=dbname,
                               autocommit=True, connect_timeout=5)

    def _wait_ready(self, timeout: float) -> None:
        wait_for_port(self.host, self.port, timeout, proc=self.proc)
        deadline = time.monotonic() + timeout
        while True:  # listening is not yet accepting sessions (recovery, start-up)
            try:
                with self._connect() as conn:
                    conn.execute("SELECT 1")
                return
            except Exception as exc:  # psycopg.OperationalError: "the database system is starting up"
                if time.monotonic() > deadline or not self.running:
                    raise ServiceError(f"postgres not ready: {exc}") from exc
                time.sleep(0.1)

    def _execute(self, statement: str, params: tuple = ()) -> list[tuple]:
        with self._connect() as conn:
            cursor = conn.execute(statement, params)
            return cursor.fetchall() if cursor.description else []

    def _database_exists(self, name: str) -> bool:
        return bool(self._execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)))

    def url(self, dbname: str | None = None) -> str:
        """SQLAlchemy URL of `dbname` (default: orchestrator_test) for the psycopg 3 driver."""
        if self.port is None:
            raise ServiceError("PostgresServer has no port until it is started")
        return f"postgresql+psycopg://{self.superuser}@{self.host}:{self.port}/{dbname or self.default_database}"

    def dsn(self, dbname: str | None = None) -> str:
        """libpq conninfo of `dbname`, for psycopg.connect()."""
        return (f"host={self.host} port={self.port} user={self.superuser} "
                f"dbname={dbname or self.default_database}")

    def create_database(self, name: str) -> str:
        """A fresh, empty database `name` (dropped first if it exists); returns its SQLAlchemy URL."""
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]{0,62}", name):
            raise ValueError(f"database name must be a plain identifier, got {name!r}")
        self._execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        self._execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def drop_database(self, name: str) -> None:
        self._execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def stop(self, remove_data: bool = True) -> None:
        """Fast shutdown (SIGINT: disconnect sessions, checkpoint), then delete the data directory."""
        if self.proc is not None:
            self._terminate(signal.SIGINT, timeout=20)
        if remove_data:
            if self._private is not None:
                shutil.rmtree(self._private, ignore_errors=True)
                self._private = None
            elif self.data_dir is not None:
                shutil.rmtree(self.data_dir, ignore_errors=True)
                shutil.rmtree(self.socket_dir, ignore_errors=True)
            self.data_dir = self.socket_dir = None
            self.port = None

    def restart(self) -> "PostgresServer":
        """Stop and start again on the same port with the same data."""
        self.stop(remove_data=False)
        return self.start()


class RabbitServer(_Service):
    """Debian's `rabbitmq-server` on 127.0.0.1 and a free port, its node name, Mnesia and
    logs under `workdir`, so it runs beside any system broker without touching it."""

    name = "rabbitmq"
    SERVER = "/usr/lib/rabbitmq/bin/rabbitmq-server"

    def __init__(self, workdir: str | os.PathLike) -> None:
        super().__init__(workdir)
        self.dist_port: int | None = None

    @property
    def nodename(self) -> str:
        return f"orchtest{self.port}@localhost"

    def url(self, vhost: str = "") -> str:
        return f"amqp://guest:guest@{self.host}:{self.port}/{vhost}"

    def _env(self) -> dict[str, str]:
        base = self.workdir
        return {
            **os.environ,
            "HOME": str(base),  # the Erlang cookie lives here
            "RABBITMQ_NODE_IP_ADDRESS": self.host,
            "RABBITMQ_NODE_PORT": str(self.port),
            "RABBITMQ_DIST_PORT": str(self.dist_port),
            "RABBITMQ_NODENAME": self.nodename,
            "RABBITMQ_MNESIA_BASE": str(base / "mnesia"),
            "RABBITMQ_LOG_BASE": str(base / "log"),
            "RABBITMQ_ENABLED_PLUGINS_FILE": str(base / "enabled_plugins"),
            "RABBITMQ_CONFIG_FILE": str(base / "rabbitmq"),
            "RABBITMQ_PID_FILE": str(base / "rabbitmq.pid"),
        }

    def start(self, _keep_data: bool = False) -> "RabbitServer":
        if not os.path.exists(self.SERVER):
            raise ServiceError(f"{self.SERVER} not found: scripts/bootstrap.sh installs rabbitmq-server")
        self.workdir.mkdir(parents=True, exist_ok=True)
        if self.port is None:
            self.port, self.dist_port = free_port(), free_port()
        (self.workdir / "enabled_plugins").write_text("[].\n")
        self.proc = self._spawn([self.SERVER], env=self._env(), cwd=self.workdir)
        try:
            wait_for_port(self.host, self.port, timeout=60.0, proc=self.proc)
        except ServiceError as exc:
            self._terminate(signal.SIGKILL, timeout=5)
            raise ServiceError(f"{exc}\n{_log_tail(self.log_path)}") from None
        return self

    def stop(self) -> None:
        self._terminate(signal.SIGTERM, timeout=30)

    def restart(self) -> "RabbitServer":
        """Same port and node: durable queues and persistent messages survive."""
        self.stop()
        return self.start(_keep_data=True)
