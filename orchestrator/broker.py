"""The Celery settings that follow from a deployment's Settings (broker, queues, beat).

What does not depend on the deployment stays in celeryconfig.py, the module Celery reads.
"""
from __future__ import annotations

from typing import Any

from .wire import EXCHANGE, QUEUES, declare, exchange_type, transport_options, uses_quorum
from .settings import Settings


def celery_settings(settings: Settings) -> dict[str, Any]:
    url, queue_type = settings.broker_url, settings.rabbitmq_queue_type
    return {
        # Celery itself prefers CELERY_BROKER_URL from the environment over broker_url; the
        # read and write URLs win over both, so the Settings passed in are what is used.
        "broker_url": url,
        "broker_read_url": url,
        "broker_write_url": url,
        "result_backend": settings.result_backend,
        "broker_transport_options": transport_options(url),
        "task_queues": declare(QUEUES, url, queue_type),
        "task_default_exchange": EXCHANGE,
        "task_default_exchange_type": exchange_type(url, queue_type),
        # A queue a worker is told to consume (-Q) but not declared above (the Procfile's
        # `celery`) is created by Celery: as a quorum queue too, or it is a classic queue on
        # one RabbitMQ node, and every worker exits (NOT_FOUND, home node down) when that node
        # dies (tests/multihost).
        "task_create_missing_queue_type": "quorum" if uses_quorum(url, queue_type) else "classic",
        # A prefork child past this (KiB) is replaced once its task ends.
        "worker_max_memory_per_child": settings.worker_max_memory_mib * 1024,
        "beat_schedule": beat_schedule(settings),
        # Beat keeps its schedule, the entries' last runs and a leader lock in Redis (celery-
        # redbeat; docs/beat.md): any number of beats run, the one holding the lock sends. The
        # URL keeps REDIS_PASSWORD percent-encoded as from_env wrote it; redis-py decodes it.
        "beat_scheduler": "orchestrator.beat:LeaderScheduler",
        "beat_max_loop_interval": settings.beat_max_loop_s,
        "redbeat_redis_url": settings.redis_url,
        # Set, so that redbeat does not fall back to the broker's transport options.
        "redbeat_redis_options": {"socket_timeout": 10.0, "socket_connect_timeout": 5.0},
        "redbeat_key_prefix": settings.beat_key_prefix,
        "redbeat_lock_timeout": settings.beat_lock_timeout_s,
    }


def beat_schedule(settings: Settings) -> dict[str, dict[str, Any]]:
    return {
        "refresh-backend-stats": {
            "task": "orchestrator.periodic.refresh_backend_stats",
            "schedule": settings.backend_refresh_min * 60,
        },
        "reconcile-servers": {
            "task": "orchestrator.periodic.reconcile_servers",
            "schedule": settings.reconciliation_interval_min * 60,
        },
        # Staggered as the servers' (each run a window of ids), at the same period; the three
        # take locks of their own, so none waits for another.
        "reconcile-networks": {
            "task": "orchestrator.periodic.reconcile_networks",
            "schedule": settings.reconciliation_interval_min * 60,
        },
        "reconcile-pools": {
            "task": "orchestrator.periodic.reconcile_pools",
            "schedule": settings.reconciliation_interval_min * 60,
        },
        "recover-operations": {
            "task": "orchestrator.periodic.recover_operations",
            "schedule": max(1.0, settings.operation_stall_s / 2),
        },
        # Creates that ended outside a chain step (a chain that died, Redis down at the end)
        # leave their installer config until this pass: as often as recovery runs.
        "spend-installer-configs": {
            "task": "orchestrator.periodic.spend_installer_configs",
            "schedule": max(1.0, settings.operation_stall_s / 2),
        },
        # The console's charts (docs/console.md): the per-minute rollup of ended operations,
        # and the queues' lengths. Every minute (the charts' resolution), or as often as
        # recovery runs when that is more often (short periods everywhere: a drill's).
        "fold-operation-minutes": {
            "task": "orchestrator.periodic.fold_operation_minutes",
            "schedule": min(60.0, max(1.0, settings.operation_stall_s / 2)),
        },
        "sample-queues": {
            "task": "orchestrator.periodic.sample_queues",
            "schedule": min(60.0, max(1.0, settings.operation_stall_s / 2)),
        },
    }
