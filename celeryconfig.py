"""Celery configuration: broker, queues, routes, reliability and the beat schedule."""
from kombu import Exchange, Queue

from orchestrator.settings import get_settings

_settings = get_settings()

broker_url = _settings.broker_url
result_backend = _settings.result_backend
result_expires = 3600
broker_connection_retry_on_startup = True
if broker_url.startswith(("amqp", "pyamqp")):
    # RabbitMQ: the broker confirms every publish, so an accepted request is never lost
    # between the API and the broker; queues below are durable.
    broker_transport_options = {"confirm_publish": True}
else:
    # Redis redelivers an unacknowledged message after the visibility timeout; it must
    # exceed the longest countdown or ETA we schedule, or polls would run twice.
    broker_transport_options = {"visibility_timeout": 4 * 3600}

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

# On RabbitMQ the queues are quorum queues (replicated, durable; RABBITMQ_QUEUE_TYPE=classic
# for classic durable queues). Celery then delays countdowns on the broker ("native delayed
# delivery"), which needs a topic exchange: routing keys are the queue names either way.
_quorum = broker_url.startswith(("amqp", "pyamqp")) and _settings.rabbitmq_queue_type == "quorum"
_default = Exchange("orchestrator", type="topic" if _quorum else "direct", durable=True)
task_queues = [
    Queue(name, _default, routing_key=name, durable=True,
          queue_arguments={"x-queue-type": "quorum"} if _quorum else None)
    for name in ("provisioning", "polling", "events", "periodic")
]
task_default_queue = "provisioning"
task_default_exchange = "orchestrator"
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
