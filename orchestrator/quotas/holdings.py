"""Holdings: a user's limits, usage and reservations, and the one lock a check-and-reserve takes.

Two ways to move usage, so that no lock order can deadlock:

- **charged under the lock** (`lock`, `charge`, `reserve`, `set_limits`): a request that may
  be refused takes the user's holding rows FOR UPDATE (created if missing, with
  INSERT ... ON CONFLICT DO NOTHING so two first requests do not race; SQLite: its database
  write lock), folds the pending changes in, checks, writes, and takes nothing after them but
  the commit: every request path takes them last;
- **appended** (`add_change`): what cannot be refused (an operation's end, an event, a
  reconciliation fix, a release) inserts `QuotaChange` rows, which lock nothing; the next
  lock holder folds them in. A reader adds them to what the holdings say (`quotas_of`).
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from sqlalchemy import bindparam, delete, literal, null, select, union_all, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from ..db import write_lock
from ..errors import Invalid, OverLimit
from ..models import QuotaChange, QuotaHolding, utcnow
from .resources import NAMES, RESOURCES, UNLIMITED, growth


@dataclass(frozen=True)
class Quota:
    """One resource of one user as shown: `limit` None is no limit; `default` whether it is the
    deployment's (QUOTA_DEFAULTS) rather than set for this user."""

    resource: str
    limit: int | None
    usage: int
    pending: int
    default: bool

    @property
    def over(self) -> bool:
        return self.limit is not None and self.usage + self.pending > self.limit


def effective_limit(row_limit: int | None, resource: str, defaults: Mapping[str, int | None]) -> int | None:
    """The limit in force: the user's, else the deployment's; None (or -1) is none."""
    limit = row_limit if row_limit is not None else defaults.get(resource)
    return None if limit is None or limit == UNLIMITED else limit


def _insert(session: Session):
    return (postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert)(QuotaHolding)


def _select_locked(session: Session, user_id: str) -> dict[str, QuotaHolding]:
    rows = session.scalars(select(QuotaHolding).where(QuotaHolding.user_id == user_id)
                           .order_by(QuotaHolding.resource).with_for_update()
                           .execution_options(populate_existing=True)).all()
    return {row.resource: row for row in rows}


def lock(session: Session, user_id: str) -> dict[str, QuotaHolding]:
    """The user's holding rows, locked until the commit, with every change folded in."""
    write_lock(session)
    rows = _select_locked(session, user_id)
    missing = [name for name in NAMES if name not in rows]
    if missing:
        session.execute(_insert(session).values([{"user_id": user_id, "resource": name, "usage": 0, "pending": 0}
                                                 for name in sorted(missing)])
                        .on_conflict_do_nothing(index_elements=["user_id", "resource"]))
        rows = _select_locked(session, user_id)
    _fold(session, user_id, rows)
    return rows


def _fold(session: Session, user_id: str, rows: dict[str, QuotaHolding]) -> None:
    changes = session.execute(select(QuotaChange.id, QuotaChange.resource, QuotaChange.usage, QuotaChange.pending)
                              .where(QuotaChange.user_id == user_id)).all()
    if not changes:
        return
    for _id, resource, usage, pending in changes:
        row = rows.get(resource)
        if row is not None:
            row.usage += usage
            row.pending += pending
    ids = [change.id for change in changes if change.resource in rows]
    for start in range(0, len(ids), 500):
        session.execute(delete(QuotaChange).where(QuotaChange.id.in_(ids[start:start + 500])))
    session.flush()


def add_change(session: Session, user_id: str, *, usage: Mapping[str, int] | None = None,
               pending: Mapping[str, int] | None = None) -> None:
    """Move usage and/or pending by these amounts, forced (no limit is checked), without a
    lock: in the caller's transaction, folded in by the next lock holder."""
    usage, pending = usage or {}, pending or {}
    for name in sorted(set(usage) | set(pending)):
        if usage.get(name, 0) or pending.get(name, 0):
            session.add(QuotaChange(user_id=user_id, resource=name, usage=usage.get(name, 0),
                                    pending=pending.get(name, 0)))


def check(rows: Mapping[str, QuotaHolding], wanted: Mapping[str, int], defaults: Mapping[str, int | None],
          user_id: str) -> None:
    """OverLimit naming the first resource whose usage, reservations and this growth would
    pass its limit; shrinking is always allowed."""
    for name in NAMES:
        amount = growth(wanted).get(name)
        if not amount:
            continue
        row = rows[name]
        limit = effective_limit(row.limit, name, defaults)
        used = row.usage + row.pending
        if limit is not None and used + amount > limit:
            raise OverLimit(f"quota exceeded for {name} ({RESOURCES[name][0]}) of user {user_id}: "
                            f"limit {limit}, usage {used}, requested {amount}",
                            resource=name, limit=limit, usage=used, requested=amount)


_HOLDINGS = QuotaHolding.__table__
# Built once: a statement made anew per request cost more than its execution (profile_paths).
_ADD_USAGE = (update(_HOLDINGS)
              .where(_HOLDINGS.c.user_id == bindparam("who"), _HOLDINGS.c.resource == bindparam("what"))
              .values(usage=_HOLDINGS.c.usage + bindparam("amount"), updated_at=bindparam("now")))


def limits_of(session: Session, user_id: str) -> dict[str, int | None]:
    """The user's own limits as they stand (resource -> limit; a resource with no row yet is
    absent), read without a lock: what `charge` is told to skip its lock for a user who has
    none in force (read it before the transaction writes, so it costs the writers nothing)."""
    return dict(session.execute(select(QuotaHolding.resource, QuotaHolding.limit)
                                .where(QuotaHolding.user_id == user_id)).all())


def _unlimited(limits: Mapping[str, int | None], names: Iterable[str], defaults: Mapping[str, int | None]) -> bool:
    return all(name in limits and effective_limit(limits[name], name, defaults) is None for name in names)


def charge(session: Session, user_id: str, deltas: Mapping[str, int], *,
           defaults: Mapping[str, int | None], limits: Mapping[str, int | None] | None = None) -> None:
    """Held from now on, in the caller's transaction (a server created, a private network, a
    floating IP allocated: +1; released: -1): the growth is checked (OverLimit, nothing
    written), then usage moves. Locks the user's holdings; take nothing after it.

    Given the user's `limits_of` read before, and no limit in force on what grows, there is
    nothing to check: usage moves by one UPDATE adding the amounts (atomic, so it needs no
    read and no lock of its own; PostgreSQL's row locks still order it after a lock holder).
    A limit set at that instant applies from the next request: this one is shown as over."""
    deltas = {name: amount for name, amount in deltas.items() if amount}
    for name in deltas:
        _known(name)
    if not growth(deltas):  # only giving back: nothing to check, nothing to lock
        add_change(session, user_id, usage=deltas)
        return
    if limits is not None and _unlimited(limits, deltas, defaults):
        now = utcnow()
        session.connection().execute(_ADD_USAGE, [{"who": user_id, "what": name, "amount": amount, "now": now}
                                                  for name, amount in sorted(deltas.items())])
        return
    rows = lock(session, user_id)
    check(rows, deltas, defaults, user_id)
    for name, amount in deltas.items():
        rows[name].usage += amount
    session.flush()


def reserve(session: Session, user_id: str, amounts: Mapping[str, int], *,
            defaults: Mapping[str, int | None]) -> None:
    """Reserved for an operation in flight (the commission's first phase): checked, then pending."""
    rows = lock(session, user_id)
    check(rows, amounts, defaults, user_id)
    for name, amount in amounts.items():
        rows[name].pending += amount
    session.flush()


def _known(name: str) -> str:
    if name not in RESOURCES:
        raise Invalid(f"unknown quota resource {name!r}; choose from {', '.join(NAMES)}", field=name)
    return name


def parse_limit(name: str, value: object) -> int | None:
    """A limit as a caller gives it: an integer >= 0, "unlimited", or None / "default"
    (back to the deployment's default). Invalid naming the resource otherwise."""
    _known(name)
    if value is None or value == "default":
        return None
    if value == "unlimited":
        return UNLIMITED
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise Invalid("a limit is an integer >= 0, \"unlimited\" or \"default\"", field=name)
    if isinstance(value, str):
        if not value.strip().lstrip("-").isdigit():
            raise Invalid(f"a limit is an integer >= 0, \"unlimited\" or \"default\", not {value!r}", field=name)
        value = int(value)
    if value < 0:
        raise Invalid(f"a limit cannot be negative ({value}); use \"unlimited\" for none", field=name)
    if value >= 2 ** 62:
        raise Invalid(f"a limit is at most {2 ** 62 - 1}", field=name)
    return value


def set_limits(session: Session, user_id: str, limits: Mapping[str, object]) -> None:
    """Set (or reset to the default: None) some of a user's limits. A limit below the usage
    is accepted, as Synnefo allows: nothing is taken back, and no new reservation passes
    until the usage falls below it."""
    parsed = {name: parse_limit(name, value) for name, value in limits.items()}
    rows = lock(session, user_id)
    for name, limit in parsed.items():
        rows[name].limit = limit
    session.flush()


def quotas_of(session: Session, user_ids: Iterable[str] | None, defaults: Mapping[str, int | None]
              ) -> dict[str, list[Quota]]:
    """Every resource of these users (None: every user with a holding or a change), as shown:
    the holdings plus the changes not folded yet, read without a lock in one statement (one
    snapshot: a fold committing meanwhile is seen whole or not at all)."""
    ids = None if user_ids is None else sorted(set(user_ids))
    rows = select(QuotaHolding.user_id, QuotaHolding.resource, QuotaHolding.limit, QuotaHolding.usage,
                  QuotaHolding.pending, literal(1).label("own"))
    changes = select(QuotaChange.user_id, QuotaChange.resource, null(), QuotaChange.usage, QuotaChange.pending,
                     literal(0))
    if ids is not None:
        rows, changes = rows.where(QuotaHolding.user_id.in_(ids)), changes.where(QuotaChange.user_id.in_(ids))
    totals: dict[tuple[str, str], list] = {}  # (user, resource) -> [limit, usage, pending, has a row]
    for user, resource, limit, usage, pending, own in session.execute(union_all(rows, changes)):
        total = totals.setdefault((user, resource), [None, 0, 0, False])
        total[1] += int(usage or 0)
        total[2] += int(pending or 0)
        if own:
            total[0], total[3] = limit, True
    users = ids if ids is not None else sorted({user for user, _ in totals})
    out: dict[str, list[Quota]] = {}
    for user in users:
        out[user] = []
        for name in NAMES:
            own, usage, pending, _row = totals.get((user, name), [None, 0, 0, False])
            out[user].append(Quota(name, effective_limit(own, name, defaults), usage, pending, default=own is None))
    return out
