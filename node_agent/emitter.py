"""Sending events as Celery tasks by name, to the orchestrator's events queue.

Only Celery/kombu, orchestrator.wire (the queue declarations both sides share) and
orchestrator.settings: the agent
never touches the database. The broker comes from CELERY_BROKER_URL, the same variable every
orchestrator process reads.
"""
from __future__ import annotations

import logging
from typing import Any

from celery import Celery

from orchestrator.settings import Settings
from orchestrator.wire import EVENT_BATCH_TASK, EVENT_TASK_PREFIX, EVENTS_QUEUE, EXCHANGE, declare, event_name, transport_options

log = logging.getLogger("node_agent.emitter")


class Emitter:
    """Publishes events on one broker connection of its own (the URL given, or
    CELERY_BROKER_URL), reconnecting after a failure; results are never asked for, so a
    result backend named in the environment is never contacted."""

    def __init__(self, broker_url: str | None = None, retries: int = 1):
        settings = Settings.from_env()  # the same variables and defaults as the workers'
        self.url = broker_url or settings.broker_url
        self.app = Celery("node_agent", broker=self.url, backend="disabled", set_as_current=False)
        # Declared exactly as the orchestrator's workers declare them (RABBITMQ_QUEUE_TYPE), so
        # an event sent before any worker started is kept, not dropped.
        self.app.conf.update(
            task_serializer="json",
            accept_content=["json"],
            broker_connection_retry_on_startup=True,
            broker_connection_timeout=3,
            broker_transport_options=transport_options(self.url),
            task_queues=declare((EVENTS_QUEUE,), self.url, settings.rabbitmq_queue_type),
            task_default_queue=EVENTS_QUEUE,
            task_default_exchange=EXCHANGE,
            task_default_routing_key=EVENTS_QUEUE,
        )
        self.retry_policy = {"max_retries": retries, "interval_start": 0.2, "interval_step": 0.5, "interval_max": 1}
        self._connection = None

    def send(self, kind: str, event: dict[str, Any]) -> None:
        """Publish one event; raises when the broker does not take it."""
        self.publish(EVENT_TASK_PREFIX + kind, [event])
        log.info("sent %s id=%s instance=%s", kind, event_name(kind, event), event.get("instance"))

    def send_many(self, batch: list[tuple[str, dict[str, Any]]]) -> None:
        """Publish several events in one message (one alone goes as itself); raises when the
        broker does not take it."""
        if len(batch) == 1:
            self.send(*batch[0])
            return
        self.publish(EVENT_BATCH_TASK, [[[kind, event] for kind, event in batch]])
        for kind, event in batch:  # one line per event, as when sent alone
            log.info("sent %s id=%s instance=%s batch=%d", kind, event_name(kind, event), event.get("instance"),
                     len(batch))

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
