"""Logging through dictConfig: one line per event, levels per logger."""
from __future__ import annotations

import logging.config


def logger_levels(value: str) -> dict[str, dict[str, str]]:
    """LOG_LEVELS, like Synnefo's LOGGING_SETUP: ``orchestrator.steps=DEBUG,urllib3=INFO``."""
    levels = {}
    for item in filter(None, (part.strip() for part in value.split(","))):
        name, _, level = item.partition("=")
        if name.strip() and level.strip():
            levels[name.strip()] = {"level": level.strip().upper()}
    return levels


def setup_logging(level: str, levels: str) -> None:
    """`level` for every logger of ours (LOG_LEVEL), `levels` per logger (LOG_LEVELS)."""
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
                **logger_levels(levels),
            },
            "root": {"level": level, "handlers": ["console"]},
        }
    )
