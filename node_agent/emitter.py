"""Sending events as Celery tasks by name, to the orchestrator's events queue.

Only Celery/kombu: the agent never imports the orchestrator. The broker comes from
CELERY_BROKER_URL, the same variable every orchestrator process reads.
"""
from __future__ import annotations

import logging
import os
from typing import Any

from celery import Celery
from kombu import Exchange, Queue

EVENTS_QUEUE = "events"
TASK_PREFIX = "orchestrator.events."

log = logging.getLogger("node_agent.emitter")


def event_id(kind: str, event: dict[str, Any]) -> str:
    """A name for an event in logs: an op_status is named by what it reports, so a
    redelivery carries the same name; others by instance and time."""
    if kind == "op_status":
        return f"{event.get('cluster')}/{event.get('job_id')}/{event.get('op_index', 0)}/{event.get('status')}"
    return f"{event.get('cluster')}/{event.get('instance')}/{kind}/{event.get('timestamp')}"


class Emitter:
    """Publishes events on one broker connection of its own (the URL given, or
    CELERY_BROKER_URL), reconnecting after a failure; results are never asked for, so a
    result backend named in the environment is never contacted."""

    def __init__(self, broker_url: str | None = None, retries: int = 1):
        self.url = broker_url or os.environ.get("CELERY_BROKER_URL") or "redis://127.0.0.1:6379/0"
        self.app = Celery("node_agent", broker=self.url, backend="disabled", set_as_current=False)
        transport_options: dict[str, Any] = {}
        amqp = self.url.startswith(("amqp", "pyamqp"))
        # Declared exactly as the orchestrator's workers declare them (RABBITMQ_QUEUE_TYPE).
        quorum = amqp and os.environ.get("RABBITMQ_QUEUE_TYPE", "quorum").strip().lower() == "quorum"
        if amqp:
            # The broker confirms each publish: "sent" means the broker has it.
            transport_options["confirm_publish"] = True
        self.app.conf.update(
            task_serializer="json",
            accept_content=["json"],
            broker_connection_retry_on_startup=True,
            broker_connection_timeout=3,
            broker_transport_options=transport_options,
            # The orchestrator's exchange and queue, declared as its workers declare them
            # (so an event sent before any worker started is kept, not dropped).
            task_queues=[Queue(EVENTS_QUEUE, Exchange("orchestrator", type="topic" if quorum else "direct",
                                                      durable=True),
                               routing_key=EVENTS_QUEUE, durable=True,
                               queue_arguments={"x-queue-type": "quorum"} if quorum else None)],
            task_default_queue=EVENTS_QUEUE,
            task_default_exchange="orchestrator",
            task_default_routing_key=EVENTS_QUEUE,
        )
        self.retry_policy = {"max_retries": retries, "interval_start": 0.2, "interval_step": 0.5, "interval_max": 1}
        self._connection = None

    def send(self, kind: str, event: dict[str, Any]) -> None:
        """Publish one event; raises when the broker does not take it."""
        self.publish(TASK_PREFIX + kind, [event])
        log.info("sent %s id=%s instance=%s", kind, event_id(kind, event), event.get("instance"))

    def publish(self, task_name: str, args: list, ignore_result: bool = True) -> None:
        """Send a task by name to the events queue (the benchmark sends its no-op this way)."""
        if self._connection is None:
            # An explicit URL: Celery would otherwise prefer CELERY_BROKER_URL from the environment.
            self._connection = self.app.connection_for_write(self.url)
        try:
            self.app.send_task(task_name, args=args, queue=EVENTS_QUEUE, connection=self._connection,
                               ignore_result=ignore_result, retry=True, retry_policy=self.retry_policy)
        except Exception:
            self.close()  # start from a fresh connection next time
            raise

    def close(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            try:
                connection.release()
            except Exception:  # a broken connection may fail to close; it is dropped all the same
                pass
