"""Logging through dictConfig: one line per event, levels per logger."""
from __future__ import annotations

import logging.config

from .settings import get_settings


def setup_logging() -> None:
    level = get_settings().log_level
    logging.config.dictConfig(
        {
            "version": 1,
            "disable_existing_loggers": False,
            "formatters": {
                "line": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"},
            },
            "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "line"}},
            "loggers": {
                "orchestrator": {"level": level},
                "api": {"level": level},
                "urllib3": {"level": "WARNING"},
            },
            "root": {"level": level, "handlers": ["console"]},
        }
    )
