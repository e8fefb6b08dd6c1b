"""The module `celery -A orchestrator.worker` loads (worker, beat, Flower).

The app is built from the process's environment when Celery first asks for it, not when
this module is imported.
"""
from __future__ import annotations

import functools


@functools.cache
def _app():
    from .celery_app import create_celery
    from .settings import Settings

    return create_celery(Settings.from_env())


def __getattr__(name: str):
    if name == "app":
        return _app()
    raise AttributeError(name)
