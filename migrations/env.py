"""Alembic environment: the URL comes from the orchestrator's settings."""
from alembic import context

from orchestrator.db import get_engine
from orchestrator.models import Base
from orchestrator.settings import get_settings

config = context.config
url = config.attributes.get("database_url") or get_settings().database_url


def run_offline() -> None:
    context.configure(url=url, target_metadata=Base.metadata, literal_binds=True, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()


def run_online() -> None:
    with get_engine(url).connect() as connection:
        context.configure(connection=connection, target_metadata=Base.metadata, render_as_batch=True)
        with context.begin_transaction():
            context.run_migrations()


if context.is_offline_mode():
    run_offline()
else:
    run_online()
