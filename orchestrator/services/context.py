"""What a use case needs from the process it runs in, built once per process."""
from __future__ import annotations

import contextlib
import functools
from dataclasses import dataclass

import redis as redis_lib
from sqlalchemy.orm import Session, sessionmaker

from .. import changes
from ..credentials import Credentials
from ..db import get_sessionmaker, session_scope
from ..dispatch import Dispatcher
from ..models import Backend
from ..rapi import RapiClient, budget, client_for
from ..redis_client import get_redis
from ..settings import Settings
from ..vmconfig import ConfigStore


@dataclass(eq=False)
class Context:
    settings: Settings
    dispatcher: Dispatcher

    @functools.cached_property
    def sessions(self) -> sessionmaker[Session]:
        """The process's sessions; their commits announce the servers they changed (live streams)."""
        sessions = get_sessionmaker(self.settings.database_url)
        changes.install(sessions, lambda: self.redis)
        return sessions

    def session(self) -> contextlib.AbstractContextManager[Session]:
        """A session that rolls back on error and always closes."""
        self.sessions  # noqa: B018  (the announcing is installed with the sessionmaker)
        return session_scope(self.settings.database_url)

    @functools.cached_property
    def redis(self) -> redis_lib.Redis:
        return get_redis(self.settings.redis_url)

    @functools.cached_property
    def configs(self) -> ConfigStore:
        return ConfigStore(self.redis, self.settings.vm_config_ttl_s)

    @functools.cached_property
    def credentials(self) -> Credentials:
        """The keys that seal and open the stored RAPI passwords (read on first use, so a
        process that never talks to a cluster never makes the key file)."""
        return Credentials.from_settings(self.settings)

    def cluster(self, backend: Backend, read_retries: int = 3) -> RapiClient:
        """A RAPI client for `backend` with this deployment's timeouts and CA, drawing from the
        backend's request budget: where its stored password is opened, for the client alone."""
        return client_for(backend, self.credentials.password(backend), timeout=self.settings.rapi_timeout_s,
                          ca_file=self.settings.rapi_ca_file, read_retries=read_retries,
                          budget=budget.for_backend(self.redis, backend, self.settings))


def build_context(settings: Settings) -> Context:
    """The production context: Celery publishes the operations (the API's and the CLI's)."""
    from ..celery_app import create_celery

    return create_celery(settings, set_as_current=False).context
