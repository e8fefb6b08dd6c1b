"""What travels over the broker between the node agents and the workers: the queues and
the exchange (declared alike on both sides), the event tasks' names, and how an event is
named in both sides' logs.

Only kombu: the node agent imports this module and nothing else of the orchestrator but
orchestrator.ganeti, so an agent beside a cluster needs no database driver.
"""
from __future__ import annotations

from typing import Any

from kombu import Exchange, Queue

QUEUES = ("provisioning", "polling", "events", "periodic")
EVENTS_QUEUE = "events"
EXCHANGE = "orchestrator"
EVENT_TASK_PREFIX = "orchestrator.events."
# Several events in one message, [[kind, event], ...] in the agent's order: a burst costs one
# task, not one per event. Workers must know it before agents send it (upgrade workers first).
EVENT_BATCH_TASK = EVENT_TASK_PREFIX + "batch"
EVENT_KINDS = ("op_status", "build_progress", "nic_info")


def event_name(kind: str, event: Any) -> str:
    """An event's name in logs: an op_status is named by what it reports, so a redelivery
    carries the same name; others by instance and time."""
    if not isinstance(event, dict):
        return f"{kind}/?"
    if kind == "op_status":
        return f"{event.get('cluster')}/{event.get('job_id')}/{event.get('op_index', 0)}/{event.get('status')}"
    return f"{event.get('cluster')}/{event.get('instance')}/{kind}/{event.get('timestamp')}"


def is_amqp(url: str) -> bool:
    return url.startswith(("amqp", "pyamqp"))


def uses_quorum(broker_url: str, queue_type: str) -> bool:
    """Quorum queues on RabbitMQ (RABBITMQ_QUEUE_TYPE=quorum, the default); never on Redis."""
    return is_amqp(broker_url) and queue_type == "quorum"


def exchange_type(broker_url: str, queue_type: str) -> str:
    # Celery delays countdowns on the broker for quorum queues ("native delayed delivery"),
    # which needs a topic exchange; routing keys are the queue names either way.
    return "topic" if uses_quorum(broker_url, queue_type) else "direct"


def declare(names: tuple[str, ...], broker_url: str, queue_type: str) -> list[Queue]:
    """Durable queues bound by their own name to the orchestrator's exchange."""
    quorum = uses_quorum(broker_url, queue_type)
    exchange = Exchange(EXCHANGE, type=exchange_type(broker_url, queue_type), durable=True)
    return [Queue(name, exchange, routing_key=name, durable=True,
                  queue_arguments={"x-queue-type": "quorum"} if quorum else None)
            for name in names]


def transport_options(broker_url: str) -> dict:
    if is_amqp(broker_url):
        # The broker confirms every publish: "sent" means the broker has it.
        return {"confirm_publish": True}
    # Redis redelivers an unacknowledged message after the visibility timeout; it must
    # exceed the longest countdown or ETA we schedule, or polls would run twice.
    return {"visibility_timeout": 4 * 3600}
