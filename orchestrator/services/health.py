"""Liveness for load balancers and operators: the database and the broker."""
from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.orm import Session

from .context import Context


def check(ctx: Context, session: Session) -> dict[str, str]:
    """Each part "ok" or "error: <kind>", and `status` "ok" only when all are."""
    try:
        session.execute(text("SELECT 1"))
        database = "ok"
    except Exception as exc:  # report, never fail the probe with a 500
        database = f"error: {type(exc).__name__}"
    report = {"database": database, "broker": ctx.dispatcher.broker_status()}
    report["status"] = "ok" if all(v == "ok" for v in report.values()) else "degraded"
    return report
