"""Run Alembic migrations from code (the CLI and the test harness use this)."""
from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config

ROOT = Path(__file__).resolve().parent.parent


def alembic_config(database_url: str, settings=None) -> Config:
    """`settings` (orchestrator.settings.Settings) give data migrations the deployment's
    keys (0004 seals RAPI passwords); without them a migration reads the environment."""
    config = Config(str(ROOT / "alembic.ini"))
    config.set_main_option("script_location", str(ROOT / "migrations"))
    config.attributes["database_url"] = database_url
    if settings is not None:
        config.attributes["settings"] = settings
    return config


def upgrade(database_url: str, revision: str = "head", settings=None) -> None:
    command.upgrade(alembic_config(database_url, settings), revision)
