"""Sending events as Celery tasks by name, to the orchestrator's events queue."""
from __future__ import annotations

import os
from typing import Any

from celery import Celery
from kombu import Exchange, Queue

EVENTS_QUEUE = "events"


class Emitter:
    def __init__(self, broker_url: str | None = None):
        url = broker_url or os.environ.get("CELERY_BROKER_URL") or "redis://127.0.0.1:6379/0"
        self.app = Celery("node_agent", broker=url)
        self.app.conf.update(
            task_serializer="json",
            broker_connection_retry_on_startup=True,
            broker_connection_timeout=3,
            task_queues=[Queue(EVENTS_QUEUE, Exchange("orchestrator", type="direct"), routing_key=EVENTS_QUEUE)],
            task_default_queue=EVENTS_QUEUE,
        )

    def send(self, kind: str, event: dict[str, Any]) -> None:
        self.app.send_task(
            f"orchestrator.events.{kind}", args=[event], queue=EVENTS_QUEUE,
            retry=True, retry_policy={"max_retries": 2, "interval_start": 0.2, "interval_step": 0.5},
        )
