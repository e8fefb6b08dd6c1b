"""Settings from environment variables, with defaults that run on one machine.

Every process (API, worker, beat, CLI) builds one `Settings` from its environment when it
starts (`Settings.from_env()`, in its entry point) and passes it down; nothing reads the
environment at import time. Each default is written once: on the dataclass field below.
`.env.example` lists the variables.
"""
from __future__ import annotations

import dataclasses
import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

DEV_ADMIN_TOKEN = "dev-admin-token"
FIX_KINDS = ("stale", "orphan", "state", "flavor", "nics", "build")
# What network and pool reconciliation fix (orchestrator.reconciliation.networks, .pools).
NETWORK_FIX_KINDS = ("stale", "orphan", "missing", "groups", "state", "reserved")
POOL_FIX_KINDS = ("leaked", "unmarked")


def _bool(value: str) -> bool:
    return value.strip().lower() in {"1", "true", "yes", "on"}


def _per_user(value: str) -> dict[str, int]:
    """Parse BACKEND_PER_USER: ``user=backend_id,user2=backend_id``."""
    pins: dict[str, int] = {}
    for item in filter(None, (part.strip() for part in value.split(","))):
        user, sep, backend = item.partition("=")
        if not sep or not backend.strip().isdigit():
            raise ValueError(f"BACKEND_PER_USER: expected user=backend_id, got {item!r}")
        pins[user.strip()] = int(backend)
    return pins


def _network_ids(value: str) -> tuple[int, ...]:
    """DEFAULT_SERVER_NETWORKS: a comma list of network ids (empty: the cluster's default NIC)."""
    items = [part.strip() for part in value.split(",") if part.strip()]
    if not all(item.isdigit() and int(item) > 0 for item in items):
        raise ValueError(f"DEFAULT_SERVER_NETWORKS: expected network ids separated by commas, got {value!r}")
    return tuple(int(item) for item in items)


def _fix_list(name: str, choices: tuple[str, ...]) -> Callable[[str], frozenset[str]]:
    """A comma list of fix kinds among `choices`, or `all`."""
    def parse(value: str) -> frozenset[str]:
        kinds = {k.strip() for k in value.split(",") if k.strip()}
        if "all" in kinds:
            return frozenset(choices)
        unknown = kinds - set(choices)
        if unknown:
            raise ValueError(f"{name}: unknown {sorted(unknown)}; choose from {choices} or all")
        return frozenset(kinds)
    return parse


_fixes = _fix_list("RECONCILIATION_FIXES", FIX_KINDS)


# How long an operation's attempt may take, by kind, before its Ganeti job is canceled and the
# operation fails (orchestrator.deadlines); `default` is for kinds not named.
DEFAULT_OPERATION_DEADLINES: dict[str, float] = {
    "create": 3600.0, "destroy": 1800.0, "resize": 1800.0, "reboot": 900.0, "start": 900.0,
    "shutdown": 900.0, "connect": 900.0, "disconnect": 900.0, "default": 1800.0,
}


def _deadlines(value: str) -> dict[str, float]:
    """OPERATION_DEADLINE_S: seconds for every kind (`900`), or per kind
    (`create=3600,reboot=600`; kinds not named keep their default)."""
    value = value.strip()
    if re.fullmatch(r"[0-9.]+", value):
        return {kind: _positive(value, "OPERATION_DEADLINE_S") for kind in DEFAULT_OPERATION_DEADLINES}
    deadlines = dict(DEFAULT_OPERATION_DEADLINES)
    for item in filter(None, (part.strip() for part in value.split(","))):
        kind, sep, seconds = item.partition("=")
        kind = kind.strip()
        if not sep or kind not in DEFAULT_OPERATION_DEADLINES:
            raise ValueError(f"OPERATION_DEADLINE_S: expected kind=seconds with a kind among "
                             f"{sorted(DEFAULT_OPERATION_DEADLINES)}, got {item!r}")
        deadlines[kind] = _positive(seconds, f"OPERATION_DEADLINE_S {kind}")
    return deadlines


def _positive(text: str, what: str) -> float:
    try:
        seconds = float(text)
    except ValueError:
        raise ValueError(f"{what}: {text.strip()!r} is not a number of seconds") from None
    if not seconds > 0:
        raise ValueError(f"{what}: must be more than 0 seconds, got {text.strip()!r}")
    return seconds


def _queue_type(value: str) -> str:
    value = value.strip().lower()
    if value not in ("quorum", "classic"):
        raise ValueError(f"RABBITMQ_QUEUE_TYPE: {value!r} is neither quorum nor classic")
    return value


def _names(value: str) -> tuple[str, ...]:
    """A comma list of names (e.g. SCHEDULER_FILTERS)."""
    return tuple(part.strip() for part in value.split(",") if part.strip())


NETWORK_FLAVORS = ("CUSTOM", "IP_LESS_ROUTED", "MAC_FILTERED", "PHYSICAL_VLAN")


def _network_flavors(value: str) -> tuple[str, ...]:
    """API_ENABLED_NETWORK_FLAVORS: the flavors users may create, a comma list."""
    flavors = _names(value.upper())
    unknown = set(flavors) - set(NETWORK_FLAVORS)
    if unknown:
        raise ValueError(f"API_ENABLED_NETWORK_FLAVORS: unknown {sorted(unknown)}; choose from {NETWORK_FLAVORS}")
    return flavors


def _mac_prefix(value: str) -> str:
    """DEFAULT_MAC_PREFIX: Synnefo's five hex digits, as aa:00:0, of a unicast MAC."""
    value = value.strip().lower()
    if not re.fullmatch(r"[0-9a-f]{2}:[0-9a-f]{2}:[0-9a-f]", value) or int(value[:2], 16) & 1:
        raise ValueError(f"DEFAULT_MAC_PREFIX: expected five hex digits of a unicast MAC, as aa:00:0, got {value!r}")
    return value


def _link(name: str) -> Callable[[str], str]:
    def parse(value: str) -> str:
        value = value.strip()
        if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.:-]{0,31}", value):
            raise ValueError(f"{name}: expected a bridge or routing table name, got {value!r}")
        return value
    return parse


def _prefixlen(name: str) -> Callable[[str], int]:
    def parse(value: str) -> int:
        if not value.strip().isdigit() or not 8 <= int(value) <= 30:
            raise ValueError(f"{name}: expected a prefix length from 8 to 30, got {value.strip()!r}")
        return int(value)
    return parse


def _quota_defaults(value: str) -> dict[str, int | None]:
    """QUOTA_DEFAULTS: `resource=limit,...` (a limit is an integer >= 0 or `unlimited`);
    resources not named keep no limit."""
    from .quotas.resources import NAMES

    limits: dict[str, int | None] = {}
    for item in filter(None, (part.strip() for part in value.split(","))):
        name, sep, limit = (part.strip() for part in item.partition("="))
        if not sep or name not in NAMES:
            raise ValueError(f"QUOTA_DEFAULTS: expected resource=limit with a resource among {', '.join(NAMES)}, "
                             f"got {item!r}")
        if limit.lower() == "unlimited":
            limits[name] = None
        elif limit.isdigit():
            limits[name] = int(limit)
        else:
            raise ValueError(f"QUOTA_DEFAULTS {name}: a limit is an integer >= 0 or unlimited, got {limit!r}")
    return limits


def _bounded(name: str, kind: Callable[[str], Any], low: float, high: float | None = None) -> Callable[[str], Any]:
    """A number of `kind` within [low, high], or a clear error naming the variable."""
    def parse(value: str) -> Any:
        try:
            number = kind(value.strip())
        except ValueError:
            raise ValueError(f"{name}: {value.strip()!r} is not a {kind.__name__}") from None
        if number < low or (high is not None and number > high):
            raise ValueError(f"{name}: must be from {low} to {high if high is not None else 'any'}, got {number}")
        return number
    return parse


def _env(name: str, parse: Callable[[str], Any] = str) -> dict[str, Any]:
    """Field metadata: the variable a field is read from, and how its text is parsed."""
    return {"env": name, "parse": parse}


@dataclass(frozen=True, repr=False)
class Settings:
    # The four locations; from_env derives their defaults from ORCHESTRATOR_VAR_DIR and REDIS_PORT.
    var_dir: Path = Path("var")
    database_url: str = ""
    broker_url: str = ""
    result_backend: str = ""
    redis_url: str = ""
    backend_prefix_id: str = field(default="snf-", metadata=_env("BACKEND_PREFIX_ID"))
    backend_refresh_min: float = field(default=5.0, metadata=_env("BACKEND_REFRESH_MIN", float))
    reconciliation_min: float = field(default=30.0, metadata=_env("RECONCILIATION_MIN", float))
    reconciliation_interval_min: float = field(default=1.0, metadata=_env("RECONCILIATION_INTERVAL_MIN", float))
    reconciliation_fixes: frozenset[str] = field(default=frozenset(), metadata=_env("RECONCILIATION_FIXES", _fixes))
    # The fixes the beat's network and pool runs apply (an operator's run names its own).
    reconciliation_network_fixes: frozenset[str] = field(
        default=frozenset(), metadata=_env("RECONCILIATION_NETWORK_FIXES",
                                           _fix_list("RECONCILIATION_NETWORK_FIXES", NETWORK_FIX_KINDS)))
    reconciliation_pool_fixes: frozenset[str] = field(
        default=frozenset(), metadata=_env("RECONCILIATION_POOL_FIXES",
                                           _fix_list("RECONCILIATION_POOL_FIXES", POOL_FIX_KINDS)))
    backend_per_user: dict[str, int] = field(default_factory=dict, metadata=_env("BACKEND_PER_USER", _per_user))
    # The allocator's filters and weighers (dotted names or names in orchestrator.scheduler);
    # empty means the default lists.
    scheduler_filters: tuple[str, ...] = field(default=(), metadata=_env("SCHEDULER_FILTERS", _names))
    scheduler_weighers: tuple[str, ...] = field(default=(), metadata=_env("SCHEDULER_WEIGHERS", _names))
    admin_token: str = field(default=DEV_ADMIN_TOKEN, metadata=_env("ORCHESTRATOR_ADMIN_TOKEN"))
    poll_interval_s: float = field(default=1.0, metadata=_env("POLL_INTERVAL_S", float))
    operation_stall_s: float = field(default=300.0, metadata=_env("OPERATION_STALL_S", float))
    operation_deadline_s: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_OPERATION_DEADLINES),
                                                   metadata=_env("OPERATION_DEADLINE_S", _deadlines))
    rabbitmq_queue_type: str = field(default="quorum", metadata=_env("RABBITMQ_QUEUE_TYPE", _queue_type))
    worker_max_memory_mib: int = field(default=256, metadata=_env("WORKER_MAX_MEMORY_MIB", int))
    # Celery beat with a leader lock in Redis (celery-redbeat, docs/beat.md): any number of beat
    # processes may run; the one holding the lock (in redis_url, under the key prefix) sends the
    # periodic tasks and renews the lock at least every BEAT_MAX_LOOP_S. A standby asks for the
    # lock every BEAT_MAX_LOOP_S, so it takes over at most BEAT_LOCK_TIMEOUT_S + BEAT_MAX_LOOP_S
    # after the leader dies (the lock must outlive two loops). Give each deployment sharing one
    # Redis its own prefix (the schedule, its last runs and the lock live under it).
    beat_lock_timeout_s: int = field(default=30, metadata=_env("BEAT_LOCK_TIMEOUT_S",
                                                               _bounded("BEAT_LOCK_TIMEOUT_S", int, 2)))
    beat_max_loop_s: float = field(default=5.0, metadata=_env("BEAT_MAX_LOOP_S",
                                                              _bounded("BEAT_MAX_LOOP_S", float, 0.1)))
    beat_key_prefix: str = field(default="orchestrator:beat:", metadata=_env("BEAT_KEY_PREFIX"))
    vm_config_ttl_s: int = field(default=3600, metadata=_env("VM_CONFIG_TTL_S", int))
    public_api_url: str = ""  # from_env: PUBLIC_API_URL, else http://127.0.0.1:<API_PORT>
    rapi_timeout_s: float = field(default=10.0, metadata=_env("RAPI_TIMEOUT_S", float))
    rapi_max_attempts: int = field(default=6, metadata=_env("RAPI_MAX_ATTEMPTS", int))
    rapi_backoff_s: float = field(default=1.0, metadata=_env("RAPI_BACKOFF_S", float))
    rapi_ca_file: str | None = field(default=None, metadata=_env("RAPI_CA_FILE", lambda v: v or None))
    # The per-cluster RAPI request budget (orchestrator.rapi.budget, docs/rate-limits.md), shared
    # by every worker on every host through Redis: requests per second and requests in flight per
    # backend (a backend's own rate_per_s / concurrency win; 0: no limit), the share of both that
    # only user actions may use (polls, refreshes and reconciliation yield it), and how long a
    # user action's and a background call's request waits for room before its task retries later
    # (short: a step waiting holds a worker process, which other clusters' operations could use).
    # ganeti-rapi answers 20 clients at a time (--max-clients): half of that, at a rate its master
    # daemon keeps up with, leaves room for the operators' tools and the node agents.
    rapi_rate_per_s: int = field(default=20, metadata=_env("RAPI_RATE_PER_S", _bounded("RAPI_RATE_PER_S", int, 0)))
    rapi_concurrency: int = field(default=10, metadata=_env("RAPI_CONCURRENCY",
                                                            _bounded("RAPI_CONCURRENCY", int, 0)))
    rapi_user_reserve: float = field(default=0.2, metadata=_env("RAPI_USER_RESERVE",
                                                                _bounded("RAPI_USER_RESERVE", float, 0.0, 0.9)))
    rapi_budget_wait_s: float = field(default=2.0, metadata=_env("RAPI_BUDGET_WAIT_S",
                                                                 _bounded("RAPI_BUDGET_WAIT_S", float, 0.0)))
    rapi_background_wait_s: float = field(default=0.5, metadata=_env("RAPI_BACKGROUND_WAIT_S",
                                                                     _bounded("RAPI_BACKGROUND_WAIT_S", float, 0.0)))
    # A running job's polls come ever rarer: POLL_INTERVAL_S, doubled each time up to this (None:
    # ten times POLL_INTERVAL_S); at this at once while its cluster's node agent reports events,
    # which end the operation themselves (orchestrator.agents).
    poll_max_interval_s: float | None = field(default=None, metadata=_env(
        "POLL_MAX_INTERVAL_S", _bounded("POLL_MAX_INTERVAL_S", float, 0.01)))
    log_level: str = field(default="INFO", metadata=_env("LOG_LEVEL", str.upper))
    log_levels: str = field(default="", metadata=_env("LOG_LEVELS"))
    # Failure drills only: kill a worker at these named instants (orchestrator.crashpoints).
    crash_points: tuple[str, ...] = field(default=(), metadata=_env("ORCHESTRATOR_CRASH_POINTS", _names))
    crash_dir: Path = field(default=Path("/tmp"), metadata=_env("ORCHESTRATOR_CRASH_DIR", Path))
    # The API refuses a request body larger than this (413) before reading it.
    api_max_body_bytes: int = field(default=1024 * 1024, metadata=_env("API_MAX_BODY_BYTES", int))
    # What a registered image may hand Ganeti, for every caller: its `os` (the instance's
    # os_type) and its location's scheme (snf-image's img_id); `plain` is a bare file name in
    # snf-image's image directory.
    image_os_providers: tuple[str, ...] = field(default=("snf-image+default",),
                                                metadata=_env("IMAGE_OS_PROVIDERS", _names))
    image_location_schemes: tuple[str, ...] = field(default=("plain", "http", "https"),
                                                    metadata=_env("IMAGE_LOCATION_SCHEMES", _names))
    # /metrics asks for this bearer token when set (Prometheus' `authorization` credentials).
    metrics_token: str | None = field(default=None, repr=False, metadata=_env("METRICS_TOKEN"))
    # prometheus-client's multiprocess mode (its own variable): a directory the API's gunicorn
    # workers share, so /metrics counts every worker's requests, whichever worker answers.
    prometheus_multiproc_dir: Path | None = field(default=None, metadata=_env("PROMETHEUS_MULTIPROC_DIR", Path))
    # The Fernet keys that seal the clusters' RAPI passwords in the database
    # (orchestrator.credentials): the first seals, every one opens, so keys rotate. When none
    # is given, the key file's (made on first use; from_env: CREDENTIALS_KEY_FILE, else
    # <var_dir>/credentials.key).
    credentials_keys: tuple[str, ...] = field(default=(), repr=False, metadata=_env("CREDENTIALS_KEYS", _names))
    credentials_key_file: Path = Path("var") / "credentials.key"
    # Networks (docs/networks.md), with Synnefo's names and defaults: the flavors users may
    # create (administrators any), the MAC prefix networks share when they take none from the
    # pool, CUSTOM networks' bridge, the bridge all MAC_FILTERED networks share, the routing
    # table of IP_LESS_ROUTED ones, and the prefix lengths an IPv4 subnet may have (Synnefo's
    # MAX_CIDR_BLOCK to /29: 1024 to 8 addresses).
    network_flavors_enabled: tuple[str, ...] = field(default=("MAC_FILTERED",),
                                                     metadata=_env("API_ENABLED_NETWORK_FLAVORS", _network_flavors))
    default_mac_prefix: str = field(default="aa:00:0", metadata=_env("DEFAULT_MAC_PREFIX", _mac_prefix))
    default_bridge: str = field(default="br0", metadata=_env("DEFAULT_BRIDGE", _link("DEFAULT_BRIDGE")))
    mac_filtered_bridge: str = field(default="prv0", metadata=_env("DEFAULT_MAC_FILTERED_BRIDGE",
                                                                   _link("DEFAULT_MAC_FILTERED_BRIDGE")))
    routing_table: str = field(default="snf_public", metadata=_env("DEFAULT_ROUTING_TABLE",
                                                                   _link("DEFAULT_ROUTING_TABLE")))
    subnet_prefix_min: int = field(default=22, metadata=_env("SUBNET_IPV4_PREFIX_MIN",
                                                             _prefixlen("SUBNET_IPV4_PREFIX_MIN")))
    subnet_prefix_max: int = field(default=29, metadata=_env("SUBNET_IPV4_PREFIX_MAX",
                                                             _prefixlen("SUBNET_IPV4_PREFIX_MAX")))
    # The networks a server created without `networks` gets a port on each of, in order (as
    # Synnefo's CYCLADES_DEFAULT_SERVER_NETWORKS; public ones allowed). None: one NIC of the
    # cluster's defaults, on no network and with no port (what the product did before networks).
    default_server_networks: tuple[int, ...] = field(default=(), metadata=_env("DEFAULT_SERVER_NETWORKS",
                                                                                _network_ids))
    # The deployment's quota limits per user (docs/quotas.md), resource -> limit; a resource
    # not named (and a user with no limit of their own) has none: an upgrade refuses nothing
    # until an operator sets limits here or per user.
    quota_defaults: dict[str, int | None] = field(default_factory=dict, metadata=_env("QUOTA_DEFAULTS",
                                                                                      _quota_defaults))

    # Live event streams (docs/streams.md), served by the `streams` process (api/streams.py)
    # without a request thread each: where clients reach it (the API's own /events route
    # answers 307 there when set), at most so many open per user and in all, each re-reading
    # its server at least this often (a change is pushed at once) and closed after this long.
    streams_url: str = field(default="", metadata=_env("STREAMS_URL", lambda v: v.rstrip("/")))
    streams_per_user: int = field(default=20, metadata=_env("STREAMS_PER_USER", int))
    streams_max: int = field(default=5000, metadata=_env("STREAMS_MAX", int))
    stream_recheck_s: float = field(default=5.0, metadata=_env("STREAM_RECHECK_S", float))
    stream_max_s: float = field(default=3600.0, metadata=_env("STREAM_MAX_S", float))

    # The operator console (docs/console.md): the key that signs its session cookies (none: an
    # HMAC of the admin token, so rotating that token signs everyone out), a session's life,
    # whether the cookie is Secure even over http, and where its links to Flower point.
    console_secret_key: str | None = field(default=None, repr=False, metadata=_env("CONSOLE_SECRET_KEY"))
    console_session_ttl_s: float = field(default=8 * 3600.0, metadata=_env("CONSOLE_SESSION_TTL_S", float))
    console_cookie_secure: bool = field(default=False, metadata=_env("CONSOLE_COOKIE_SECURE", _bool))
    flower_url: str = field(default="http://127.0.0.1:5555", metadata=_env("FLOWER_URL", lambda v: v.rstrip("/")))

    # The OpenStack-compatible API (docs/openstack.md): the life of a token POST
    # /identity/v3/auth/tokens issues (Keystone's [token] expiration, 3600 s by default), and
    # at most so many metadata items per server (Nova's quota `metadata_items`, 128).
    openstack_token_ttl_s: float = field(default=3600.0, metadata=_env(
        "OPENSTACK_TOKEN_TTL_S", _bounded("OPENSTACK_TOKEN_TTL_S", float, 1.0)))
    server_metadata_items: int = field(default=128, metadata=_env(
        "SERVER_METADATA_ITEMS", _bounded("SERVER_METADATA_ITEMS", int, 0)))

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> "Settings":
        """The settings a process starts with: its environment over the defaults above."""
        env = dict(os.environ if env is None else env)
        values: dict[str, Any] = {}
        for f in dataclasses.fields(cls):
            name = f.metadata.get("env")
            if name and env.get(name) not in (None, ""):
                values[f.name] = f.metadata["parse"](env[name])
        var_dir = Path(env.get("ORCHESTRATOR_VAR_DIR") or cls.var_dir).resolve()
        # REDIS_PASSWORD (Redis's requirepass) goes into the derived URLs; URLs given whole carry their own.
        auth = f":{quote(env['REDIS_PASSWORD'], safe='')}@" if env.get("REDIS_PASSWORD") else ""
        redis = f"redis://{auth}127.0.0.1:{env.get('REDIS_PORT') or 6379}"
        return cls(
            var_dir=var_dir,
            database_url=env.get("DATABASE_URL") or f"sqlite:///{var_dir / 'orchestrator.db'}",
            broker_url=env.get("CELERY_BROKER_URL") or f"{redis}/0",
            result_backend=env.get("CELERY_RESULT_BACKEND") or f"{redis}/1",
            redis_url=env.get("REDIS_URL") or f"{redis}/2",
            public_api_url=env.get("PUBLIC_API_URL") or f"http://127.0.0.1:{env.get('API_PORT') or 8000}",
            credentials_key_file=Path(env.get("CREDENTIALS_KEY_FILE") or var_dir / "credentials.key").resolve(),
            **values,
        )

    def __repr__(self) -> str:
        """Without secrets: the admin token and the passwords in URLs never reach a log line."""
        shown = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        shown["admin_token"] = "***"
        shown["metrics_token"] = self.metrics_token and "***"
        shown["console_secret_key"] = self.console_secret_key and "***"
        shown["credentials_keys"] = tuple("***" for _ in self.credentials_keys)
        for name in ("database_url", "broker_url", "result_backend", "redis_url"):
            shown[name] = re.sub(r"(://[^:/@;]*:)[^@;]*@", r"\1***@", shown[name])
        return f"Settings({', '.join(f'{k}={v!r}' for k, v in shown.items())})"

    def replace(self, **changes: Any) -> "Settings":
        return dataclasses.replace(self, **changes)

    @property
    def poll_longest_s(self) -> float:
        """The longest wait between two polls of one job (POLL_MAX_INTERVAL_S), and never so long
        that recovery (OPERATION_STALL_S) takes the polling chain for stalled."""
        longest = self.poll_max_interval_s if self.poll_max_interval_s is not None else 10 * self.poll_interval_s
        return max(min(longest, self.operation_stall_s / 2), self.poll_interval_s)

    def deadline_s(self, kind: str) -> float:
        """The deadline of an attempt of an operation of this kind, in seconds."""
        return self.operation_deadline_s.get(kind, self.operation_deadline_s["default"])

    @property
    def uses_dev_admin_token(self) -> bool:
        return self.admin_token == DEV_ADMIN_TOKEN
