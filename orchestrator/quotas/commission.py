"""Servers' quotas: what a server holds follows its row, and an action whose effect is still to
come reserves it (a two-phase commission) until its operation ends.

- A server holds from the moment its row is written until it is destroyed
  (`resources.server_holding`): a create is charged at once, in the request's transaction
  (`charge_new_server`, checked), and a create that fails leaves an ERROR server that still
  holds, as in Synnefo, until it is destroyed.
- Every later change of what a server holds happens in the state function
  (`state.apply_job_report`, which calls `follow`): a start that succeeded adds its CPUs and
  RAM, a shutdown gives them back, a resize moves the deltas, a destroy gives back everything;
  forced (never refused: it has happened), and without a lock (`holdings.add_change`).
- An action that will grow the holding (a start from STOPPED, a resize up) reserves that growth
  when it is accepted (`reserve_for`: checked, in the operation's transaction), and the
  reservation is resolved exactly once when the operation ends (`settle`, from `steps._close`,
  every end's one path; `settle_superseded` for those a destroy ends in bulk): ACCEPTED or
  REJECTED, and given back either way, since a success's effect is in the usage its state
  change made. A retried operation reserves anew (`reserve_on_reopen`): its previous attempt's
  reservation was given back when it failed, so nothing is charged twice.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping

from sqlalchemy import select, update
from sqlalchemy.orm import Session, object_session

from ..models import Flavor, Operation, OpStatus, QuotaCommission, Server, utcnow
from . import holdings
from .resources import difference, growth, server_holding

PENDING, ACCEPTED, REJECTED = "PENDING", "ACCEPTED", "REJECTED"


def _flavor(session: Session | None, server: Server) -> Flavor | None:
    flavor = server.flavor
    if flavor is not None and (server.flavor_id is None or flavor.id == server.flavor_id):
        return flavor
    return session.get(Flavor, server.flavor_id) if session is not None and server.flavor_id else flavor


def held_by(server: Server, *, flavor: Flavor | None = None, operstate: str | None = None) -> dict[str, int] | None:
    """What the server holds now (or with another flavor or operstate); None for a server in
    no session (nothing to account: a test's or a transient object)."""
    session = object_session(server)
    if session is None:
        return None
    flavor = flavor or _flavor(session, server)
    if flavor is None:
        return None
    return server_holding(cpu=flavor.cpu, ram=flavor.ram, disk=flavor.disk,
                          operstate=operstate or server.operstate, deleted=bool(server.deleted))


def follow(server: Server, before: dict[str, int] | None) -> None:
    """After the state function moved the server: its owner's usage moves by the difference."""
    if before is None:
        return
    after = held_by(server)
    if after is None:
        return
    delta = difference(after, before)
    if delta:
        holdings.add_change(object_session(server), server.user_id, usage=delta)


def charge_new_server(session: Session, server: Server, *, defaults: Mapping[str, int | None],
                      limits: Mapping[str, int | None] | None = None) -> None:
    """A server just written for a create: it holds all of its flavor from now on; checked
    (OverLimit: the request is refused, nothing written). Locks the owner's holdings: call
    it last before the commit. `limits`: the owner's `holdings.limits_of`, read before the
    transaction wrote (none in force: no lock is taken)."""
    holdings.charge(session, server.user_id, held_by(server) or {}, defaults=defaults, limits=limits)


def hold_new_server(session: Session, server: Server) -> None:
    """A server written that no user asked for (an administrator's import): held, forced."""
    holdings.add_change(session, server.user_id, usage=held_by(server) or {})


def _target(session: Session, server: Server, kind: str, params: Mapping) -> dict[str, int] | None:
    """What the server will hold if this action succeeds (None: no change to come)."""
    if kind == "start":
        return held_by(server, operstate="STARTED")
    if kind == "resize" and params.get("flavor_id"):
        return held_by(server, flavor=session.get(Flavor, int(params["flavor_id"])))
    return None


def reserve_for(session: Session, op: Operation, server: Server, *,
                defaults: Mapping[str, int | None]) -> QuotaCommission | None:
    """The growth the operation's success would bring, reserved now for the server's owner
    (OverLimit if it does not fit); None when it brings none (shrinking is given back when it
    happens). The operation must be flushed (its id)."""
    target = _target(session, server, op.kind, op.params or {})
    now = held_by(server)
    if target is None or now is None:
        return None
    wanted = growth(difference(target, now))
    if not wanted:
        return None
    holdings.reserve(session, server.user_id, wanted, defaults=defaults)
    commission = QuotaCommission(user_id=server.user_id, operation_id=op.id, generation=op.generation or 0,
                                 reserved=wanted, state=PENDING)
    session.add(commission)
    session.flush()
    return commission


def reserve_on_reopen(session: Session, op: Operation, server: Server | None, *,
                      defaults: Mapping[str, int | None]) -> QuotaCommission | None:
    """A retried operation reserves what its new attempt may grow (its previous reservation
    went back when it failed): checked against the limits as a new request is."""
    if server is None:
        return None
    _resolve(session, _open(session, [op.id]), REJECTED)  # none normally: the failure settled it
    return reserve_for(session, op, server, defaults=defaults)


def _open(session: Session, op_ids: Iterable[int]) -> list[QuotaCommission]:
    ids = list(op_ids)
    if not ids:
        return []
    return list(session.scalars(select(QuotaCommission).where(QuotaCommission.operation_id.in_(ids),
                                                              QuotaCommission.state == PENDING)))


def _resolve(session: Session, commissions: Iterable[QuotaCommission], state: str) -> int:
    """Each commission from PENDING to `state` once (a conditional UPDATE: a second closer
    changes nothing), its reservation given back. How many were resolved."""
    resolved = 0
    for commission in commissions:
        result = session.execute(update(QuotaCommission)
                                 .where(QuotaCommission.id == commission.id, QuotaCommission.state == PENDING)
                                 .values(state=state, resolved_at=utcnow())
                                 .execution_options(synchronize_session=False))
        if result.rowcount == 1:
            holdings.add_change(session, commission.user_id,
                                pending={name: -amount for name, amount in commission.reserved.items()})
            resolved += 1
    return resolved


def settle(session: Session, op: Operation) -> int:
    """The operation ended (SUCCEEDED or FAILED): its commission resolved, the reservation back."""
    return _resolve(session, _open(session, [op.id]),
                    ACCEPTED if op.status == OpStatus.SUCCEEDED.value else REJECTED)


def settle_superseded(session: Session, op_ids: Iterable[int]) -> int:
    """Operations a destroy ended in bulk: their reservations go back."""
    return _resolve(session, _open(session, op_ids), REJECTED)
