"""Bare tasks for baselines: the same broker and worker, none of the product's work."""
from orchestrator.celery_app import app


@app.task(name="bench.noop")
def noop(*_args, **_kwargs) -> None:
    return None
