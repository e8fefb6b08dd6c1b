"""Alembic environment: the URL comes from the orchestrator's settings."""
from alembic import context

from orchestrator.db import get_engine
from orchestrator.models import Base
from orchestrator.settings import Settings

config = context.config
# Given by orchestrator.migrate; the environment only when the alembic command runs it.
url = config.attributes.get("database_url") or Settings.from_env().database_url


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
