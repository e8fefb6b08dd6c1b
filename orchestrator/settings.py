"""Settings from environment variables, with defaults that run on one machine.

Every process (API, worker, beat, CLI) reads the same variables, so one `.env`
describes a deployment. `.env.example` lists them all.
"""
from __future__ import annotations

import functools
import os
from dataclasses import dataclass, field
from pathlib import Path

DEV_ADMIN_TOKEN = "dev-admin-token"


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


FIX_KINDS = ("stale", "orphan", "state", "flavor", "nics", "build")


def _fixes(value: str) -> frozenset[str]:
    """RECONCILIATION_FIXES: a comma list of fix kinds, or `all`."""
    kinds = {k.strip() for k in value.split(",") if k.strip()}
    if "all" in kinds:
        return frozenset(FIX_KINDS)
    unknown = kinds - set(FIX_KINDS)
    if unknown:
        raise ValueError(f"RECONCILIATION_FIXES: unknown {sorted(unknown)}; choose from {FIX_KINDS} or all")
    return frozenset(kinds)


def _queue_type(value: str) -> str:
    value = value.strip().lower()
    if value not in ("quorum", "classic"):
        raise ValueError(f"RABBITMQ_QUEUE_TYPE: {value!r} is neither quorum nor classic")
    return value


@dataclass(frozen=True)
class Settings:
    var_dir: Path
    database_url: str
    broker_url: str
    result_backend: str
    redis_url: str
    backend_prefix_id: str = "snf-"
    backend_refresh_min: float = 5.0
    reconciliation_min: float = 30.0
    reconciliation_interval_min: float = 1.0
    reconciliation_fixes: frozenset[str] = frozenset()
    backend_per_user: dict[str, int] = field(default_factory=dict)
    admin_token: str = DEV_ADMIN_TOKEN
    poll_interval_s: float = 1.0
    operation_stall_s: float = 300.0
    rabbitmq_queue_type: str = "quorum"
    worker_max_memory_mib: int = 256
    vm_config_ttl_s: int = 3600
    public_api_url: str = "http://127.0.0.1:8000"
    rapi_timeout_s: float = 10.0
    rapi_max_attempts: int = 6
    rapi_backoff_s: float = 1.0
    rapi_verify_tls: bool = True
    rapi_ca_file: str | None = None
    log_level: str = "INFO"

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> "Settings":
        env = dict(os.environ if env is None else env)
        var_dir = Path(env.get("ORCHESTRATOR_VAR_DIR", "var")).resolve()
        redis_port = env.get("REDIS_PORT", "6379")
        return cls(
            var_dir=var_dir,
            database_url=env.get("DATABASE_URL") or f"sqlite:///{var_dir / 'orchestrator.db'}",
            broker_url=env.get("CELERY_BROKER_URL") or f"redis://127.0.0.1:{redis_port}/0",
            result_backend=env.get("CELERY_RESULT_BACKEND") or f"redis://127.0.0.1:{redis_port}/1",
            redis_url=env.get("REDIS_URL") or f"redis://127.0.0.1:{redis_port}/2",
            backend_prefix_id=env.get("BACKEND_PREFIX_ID", "snf-"),
            backend_refresh_min=float(env.get("BACKEND_REFRESH_MIN", "5")),
            reconciliation_min=float(env.get("RECONCILIATION_MIN", "30")),
            reconciliation_interval_min=float(env.get("RECONCILIATION_INTERVAL_MIN", "1")),
            reconciliation_fixes=_fixes(env.get("RECONCILIATION_FIXES", "")),
            backend_per_user=_per_user(env.get("BACKEND_PER_USER", "")),
            admin_token=env.get("ORCHESTRATOR_ADMIN_TOKEN") or DEV_ADMIN_TOKEN,
            poll_interval_s=float(env.get("POLL_INTERVAL_S", "1.0")),
            operation_stall_s=float(env.get("OPERATION_STALL_S", "300")),
            rabbitmq_queue_type=_queue_type(env.get("RABBITMQ_QUEUE_TYPE", "quorum")),
            worker_max_memory_mib=int(env.get("WORKER_MAX_MEMORY_MIB", "256")),
            vm_config_ttl_s=int(env.get("VM_CONFIG_TTL_S", "3600")),
            public_api_url=env.get("PUBLIC_API_URL") or f"http://127.0.0.1:{env.get('API_PORT', '8000')}",
            rapi_timeout_s=float(env.get("RAPI_TIMEOUT_S", "10")),
            rapi_max_attempts=int(env.get("RAPI_MAX_ATTEMPTS", "6")),
            rapi_backoff_s=float(env.get("RAPI_BACKOFF_S", "1.0")),
            rapi_verify_tls=_bool(env.get("RAPI_VERIFY_TLS", "true")),
            rapi_ca_file=env.get("RAPI_CA_FILE") or None,
            log_level=env.get("LOG_LEVEL", "INFO").upper(),
        )

    @property
    def uses_dev_admin_token(self) -> bool:
        return self.admin_token == DEV_ADMIN_TOKEN


@functools.lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings.from_env()


def reload_settings() -> Settings:
    """Re-read the environment (tests change it between stacks)."""
    get_settings.cache_clear()
    return get_settings()
