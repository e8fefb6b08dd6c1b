"""What differs between the brokers: transport options, queue types and the exchange.

celeryconfig reads it once per process; a process that moves to another broker (the test
harness, between stacks) applies it again.
"""
from __future__ import annotations

from typing import Any

from kombu import Exchange, Queue

from .settings import Settings

QUEUES = ("provisioning", "polling", "events", "periodic")
EXCHANGE = "orchestrator"


def is_amqp(url: str) -> bool:
    return url.startswith(("amqp", "pyamqp"))


def celery_settings(settings: Settings) -> dict[str, Any]:
    """The Celery settings that follow from the broker URL and RABBITMQ_QUEUE_TYPE."""
    amqp = is_amqp(settings.broker_url)
    # On RabbitMQ the queues are quorum queues (replicated, durable; RABBITMQ_QUEUE_TYPE=classic
    # for classic durable queues). Celery then delays countdowns on the broker ("native delayed
    # delivery"), which needs a topic exchange: routing keys are the queue names either way.
    quorum = amqp and settings.rabbitmq_queue_type == "quorum"
    exchange_type = "topic" if quorum else "direct"
    exchange = Exchange(EXCHANGE, type=exchange_type, durable=True)
    if amqp:
        # The broker confirms every publish, so an accepted request is never lost between
        # the API and the broker.
        transport_options: dict[str, Any] = {"confirm_publish": True}
    else:
        # Redis redelivers an unacknowledged message after the visibility timeout; it must
        # exceed the longest countdown or ETA we schedule, or polls would run twice.
        transport_options = {"visibility_timeout": 4 * 3600}
    return {
        "broker_url": settings.broker_url,
        "result_backend": settings.result_backend,
        "broker_transport_options": transport_options,
        "task_queues": [Queue(name, exchange, routing_key=name, durable=True,
                              queue_arguments={"x-queue-type": "quorum"} if quorum else None)
                        for name in QUEUES],
        "task_default_exchange": EXCHANGE,
        "task_default_exchange_type": exchange_type,
    }
