"""Countdowns the broker can honour."""
from __future__ import annotations

import math

from ..settings import Settings
from ..wire import uses_quorum


def countdown(seconds: float, settings: Settings) -> float:
    """`seconds`, or on RabbitMQ quorum queues the whole seconds (at least one) it rounds up to.

    There Celery delays messages on the broker ("native delayed delivery"), which counts whole
    seconds and refuses a countdown that truncates to zero.
    """
    if seconds > 0 and uses_quorum(settings.broker_url, settings.rabbitmq_queue_type):
        return float(max(1, math.ceil(seconds)))
    return seconds
