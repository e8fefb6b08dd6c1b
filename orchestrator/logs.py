"""Logging through dictConfig: one line per event, levels per logger."""
from __future__ import annotations

import logging.config

from .settings import get_settings


def logger_levels(value: str) -> dict[str, dict[str, str]]:
    """LOG_LEVELS, like Synnefo's LOGGING_SETUP: ``orchestrator.steps=DEBUG,urllib3=INFO``."""
    levels = {}
    for item in filter(None, (part.strip() for part in value.split(","))):
        name, _, level = item.partition("=")
        if name.strip() and level.strip():
            levels[name.strip()] = {"level": level.strip().upper()}
    return levels


def setup_logging() -> None:
    import os

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
                **logger_levels(os.environ.get("LOG_LEVELS", "")),
            },
            "root": {"level": level, "handlers": ["console"]},
        }
    )
