"""Countdowns the broker can honour."""
from __future__ import annotations

import math

from ..broker import is_amqp
from ..settings import get_settings


def countdown(seconds: float) -> float:
    """`seconds`, or on RabbitMQ quorum queues the whole seconds (at least one) it rounds up to.

    There Celery delays messages on the broker ("native delayed delivery"), which counts whole
    seconds and refuses a countdown that truncates to zero.
    """
    settings = get_settings()
    if seconds > 0 and is_amqp(settings.broker_url) and settings.rabbitmq_queue_type == "quorum":
        return float(max(1, math.ceil(seconds)))
    return seconds
