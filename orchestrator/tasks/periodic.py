"""Beat-scheduled work."""
from __future__ import annotations

from sqlalchemy import select

from .. import backends
from ..celery_app import app
from ..db import session_scope
from ..models import Backend


@app.task(name="orchestrator.periodic.refresh_backend_stats")
def refresh_backend_stats() -> dict[str, bool]:
    """One bulk nodes call per backend; returns which backends answered."""
    answered: dict[str, bool] = {}
    with session_scope() as session:
        for backend in session.scalars(select(Backend).order_by(Backend.id)):
            answered[backend.clustername] = backends.refresh_stats(
                session, backend, backends.cluster_client(backend)
            )
            session.commit()
    return answered
