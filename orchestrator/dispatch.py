"""Handing an operation to the machinery that runs it.

The application layer only knows the `Dispatcher` protocol; the Celery one is passed in by
each process (API, CLI, tasks). Tasks are addressed by name, so nothing that dispatches has
to import the task modules.
"""
from __future__ import annotations

import uuid
from typing import Any, Protocol

from celery import Celery

CHAIN = ("orchestrator.ops.allocate_backend", "orchestrator.ops.submit_job", "orchestrator.ops.poll_job",
         "orchestrator.ops.finalize")
# The operation's step (models.Step) each task of the chain runs.
STEP_OF = dict(zip(CHAIN, ("allocate", "submit", "poll", "finalize")))
_TASK_IDS = uuid.UUID("0d3c1a52-8e3b-5b7e-9a41-6c2f0e7d9b13")  # the namespace of chains' task ids


def task_ids(op_id: int, generation: int | None = 0) -> dict[str, str]:
    """The Celery task id of each step of an operation's chain ({step: id}), derived from the
    operation and its attempt: operators' tools name the task (Flower's /task/<id>) with no
    write per dispatch. A re-drive of the same attempt (recovery) sends the same ids, as a
    redelivery does, so steps.rerun_reopens never takes it for an operator's re-run; a retry
    (the next generation) has ids of its own."""
    return {step: str(uuid.uuid5(_TASK_IDS, f"{op_id}:{generation or 0}:{step}")) for step in STEP_OF.values()}


class Dispatcher(Protocol):
    def run_operation(self, op_id: int, generation: int | None = 0) -> None:
        """Start (or resume) the operation's chain (of this attempt: `generation`); raises
        when it could not be handed over."""

    def broker_status(self) -> str:
        """"ok", or "error: <kind>" when the broker does not answer."""


class CeleryDispatcher:
    """Publishes chains on a Celery app built for one deployment (orchestrator.celery_app)."""

    def __init__(self, app: Celery):
        self.app = app

    def run_operation(self, op_id: int, generation: int | None = 0) -> None:
        # Steps already done return at once, so the whole chain resumes anywhere. Chain steps
        # return nothing anyone reads: no result is stored or subscribed to.
        # One message with the rest of the chain in its `chain` field, as canvas' chain sends
        # it (last step first; each worker pops the next), without canvas' freezing of four
        # signatures per request, the largest cost of a create's hand-over
        # (bench/profile_paths.py). Each step's task id is fixed here, as canvas fixes it: a
        # redelivered step sends its successor under the same id, which is how
        # steps.rerun_reopens tells a duplicate from an operator's re-run (task_ids).
        ids = task_ids(op_id, generation)
        rest = []
        for name in reversed(CHAIN[1:]):
            step = self.app.signature(name, args=(op_id,), immutable=True, ignore_result=True)
            step.options["task_id"] = ids[STEP_OF[name]]
            rest.append(dict(step))
        self.app.send_task(CHAIN[0], args=(op_id,), chain=rest, ignore_result=True, task_id=ids["allocate"])

    def send(self, name: str, **kwargs: Any):
        """Any task by name (periodic work an operator asks for now)."""
        return self.app.send_task(name, kwargs=kwargs)

    def broker_status(self) -> str:
        try:
            with self.app.connection_for_write() as conn:
                conn.ensure_connection(max_retries=1, timeout=2)
            return "ok"
        except Exception as exc:  # report, never fail the probe
            return f"error: {type(exc).__name__}"
