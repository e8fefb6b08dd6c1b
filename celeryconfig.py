"""Celery configuration: broker, queues, routes, reliability and the beat schedule."""
from orchestrator.broker import celery_settings
from orchestrator.settings import get_settings

_settings = get_settings()
_broker = celery_settings(_settings)  # what differs between Redis and RabbitMQ

broker_url = _broker["broker_url"]
result_backend = _broker["result_backend"]
broker_transport_options = _broker["broker_transport_options"]
task_queues = _broker["task_queues"]
task_default_exchange = _broker["task_default_exchange"]
task_default_exchange_type = _broker["task_default_exchange_type"]
result_expires = 3600
broker_connection_retry_on_startup = True

task_serializer = "json"
result_serializer = "json"
accept_content = ["json"]
timezone = "UTC"
enable_utc = True

# A task is acknowledged only once it finished, and put back if its worker dies,
# so a killed worker never loses a step.
task_acks_late = True
task_reject_on_worker_lost = True
worker_prefetch_multiplier = 1
# A prefork child whose resident memory passed this (KiB) is replaced once its task ends, so
# what a long-lived child accumulates (caches, fragmentation) stays bounded.
worker_max_memory_per_child = _settings.worker_max_memory_mib * 1024

# Flower and the metrics need task events.
worker_send_task_events = True
task_send_sent_event = True
task_track_started = True

task_default_queue = "provisioning"
task_default_routing_key = "provisioning"
task_routes = {
    "orchestrator.ops.poll_job": {"queue": "polling", "routing_key": "polling"},
    "orchestrator.events.*": {"queue": "events", "routing_key": "events"},
    "orchestrator.periodic.*": {"queue": "periodic", "routing_key": "periodic"},
    "orchestrator.ops.*": {"queue": "provisioning", "routing_key": "provisioning"},
}

beat_schedule = {
    "refresh-backend-stats": {
        "task": "orchestrator.periodic.refresh_backend_stats",
        "schedule": _settings.backend_refresh_min * 60,
    },
    "reconcile-servers": {
        "task": "orchestrator.periodic.reconcile_servers",
        "schedule": _settings.reconciliation_interval_min * 60,
    },
    "recover-operations": {
        "task": "orchestrator.periodic.recover_operations",
        "schedule": max(1.0, _settings.operation_stall_s / 2),
    },
}
