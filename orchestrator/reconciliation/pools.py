"""Pool reconciliation: each pool's bitmap against the rows that hold its values, as
Synnefo's PoolReconciler checks them (the database only; no cluster is called).

- the bridge pool: the links of live PHYSICAL_VLAN networks (and of any live network that
  drew its link from the pool);
- the MAC-prefix pool: the prefixes of live MAC_FILTERED networks (and of any that drew one);
- each live IPv4 subnet's pool: the addresses of its live `ip_addresses` rows, whether a
  port or a floating IP holds them.

A value marked in use that nothing holds is `pool-leaked` (the fix returns it to the pool);
a value held but marked free is `pool-unmarked` (the fix marks it in use, and lifts an
operator's reservation of it: a value in use is never reserved). One finding per pool and
kind, its values in `details`. Fixes re-read the pool under its lock and its holders in
the same transaction, as every allocation does (so a value taken or returned meanwhile is
seen), and change only what is still wrong. A value the pool keeps for good (a subnet's
network, broadcast or gateway address) that a row holds is reported, never handed out.

Staggered (the beat's runs): the bridge and MAC-prefix pools every run, the IPv4 pools of a
window of subnet ids.
"""
from __future__ import annotations

import datetime as dt
import logging
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import insert, or_, select
from sqlalchemy.orm import Session

from ..db import write_lock
from ..models import (Finding, IPAddress, Network, NetworkFlavor, Pool, PoolType, ReconciliationRun, Subnet,
                      utcnow)
from ..network import pools
from ..settings import POOL_FIX_KINDS as FIX_KINDS

log = logging.getLogger(__name__)

KIND = {fix: f"pool-{fix}" for fix in FIX_KINDS}
SHOWN = 256  # values listed in one finding (its count is exact)
BATCH = 2000  # IPv4 pools read at a time


@dataclass
class PoolOptions:
    fixes: frozenset[str] = frozenset()
    # Staggered runs: the IPv4 pools of subnet ids lo < id <= hi (hi None: no bound); None: all.
    window: tuple[int, int | None] | None = None
    prefix: str = "snf-"  # names the Ganeti network of an address pool's subnet in the findings
    now: dt.datetime = field(default_factory=utcnow)


def reconcile_pools(session: Session, options: PoolOptions, *, trigger: str = "beat") -> ReconciliationRun:
    """One run over the pools; `servers_checked` counts the pools checked. Each batch of
    pools is committed as it is done, so no transaction holds a pool's lock for long."""
    run = ReconciliationRun(trigger=trigger, fixes=sorted(KIND[f] for f in options.fixes), started_at=options.now,
                            backends_checked=[], backends_skipped={}, servers_checked=0)
    session.add(run)
    session.commit()
    run_id, checked = run.id, 0
    for kind, flavor, column, pool_column in ((PoolType.BRIDGE.value, NetworkFlavor.PHYSICAL_VLAN.value,
                                               Network.link, Network.link_pool_id),
                                              (PoolType.MAC_PREFIX.value, NetworkFlavor.MAC_FILTERED.value,
                                               Network.mac_prefix, Network.mac_prefix_pool_id)):
        pool = pools.live_pool(session, kind)
        if pool is None:
            continue
        checked += 1
        holders = lambda pool=pool, flavor=flavor, column=column, pool_column=pool_column: network_values(  # noqa: E731
            session, pool, flavor, column, pool_column)
        _check(session, run, options, pool, holders(), holders, None)
        session.commit()
    for batch in _ip_pool_batches(session, options.window):
        held = subnet_addresses(session, [subnet_id for subnet_id, _n, _p in batch])
        for subnet_id, network_id, pool in batch:
            checked += 1
            _check(session, run, options, pool, held.get(subnet_id, []),
                   lambda subnet_id=subnet_id: subnet_addresses(session, [subnet_id]).get(subnet_id, []),
                   (subnet_id, network_id))
        run.servers_checked = checked
        session.commit()
        session.expunge_all()  # a batch's pools and bitmaps are not kept for the whole run
        run = session.get(ReconciliationRun, run_id)
    run.servers_checked = checked
    run.finished_at = utcnow()
    session.commit()
    session.expire(run, ["findings"])
    log.info("pool reconciliation run=%s trigger=%s pools=%s", run.id, trigger, checked)
    return run


def network_values(session: Session, pool: Pool, flavor: str, column, pool_column) -> list[str]:
    """The values of live networks of `flavor` (which always draw theirs from the pool) and of
    any live network that drew its value from this pool."""
    return list(session.scalars(select(column).where(Network.deleted.is_(False),
                                                     or_(Network.flavor == flavor, pool_column == pool.id))))


def subnet_addresses(session: Session, subnet_ids: list[int]) -> dict[int, list[str]]:
    held: dict[int, list[str]] = defaultdict(list)
    if subnet_ids:
        for subnet_id, address in session.execute(select(IPAddress.subnet_id, IPAddress.address).where(
                IPAddress.subnet_id.in_(subnet_ids), IPAddress.deleted.is_(False))):
            held[subnet_id].append(address)
    return held


def _ip_pool_batches(session: Session, window: tuple[int, int | None] | None) -> Iterable[list[tuple[int, int, Pool]]]:
    after = window[0] if window is not None else 0
    hi = window[1] if window is not None else None
    while True:
        query = (select(Subnet.id, Subnet.network_id, Pool).join(Pool, Pool.id == Subnet.pool_id)
                 .where(Subnet.deleted.is_(False), Subnet.ip_version == 4, Pool.deleted.is_(False),
                        Subnet.id > after).order_by(Subnet.id).limit(BATCH))
        if hi is not None:
            query = query.where(Subnet.id <= hi)
        batch = [tuple(r) for r in session.execute(query)]
        if not batch:
            return
        yield batch
        after = batch[-1][0]


def expected_mask(pool: Pool, values: Iterable[str]) -> tuple[int, list[str]]:
    """The bits of the values held (those that are the pool's), and the held values that are
    not the pool's at all (ignored: e.g. a link an administrator chose outside it)."""
    mask, outside = 0, []
    for value in values:
        index = pools.index_of(pool, value)
        if index is None:
            outside.append(value)
        else:
            mask |= 1 << index
    return mask, outside


def diff(pool: Pool, values: Iterable[str]) -> tuple[int, int]:
    """(leaked, unmarked) bits: in use with no holder; held but not marked in use."""
    available, _reserved = pools._load(pool)
    used = ~available & ((1 << pool.size) - 1)
    held, _outside = expected_mask(pool, values)
    return used & ~held, held & ~used


def _values(pool: Pool, bits: int) -> list[str]:
    out = []
    while bits and len(out) < SHOWN:
        low = bits & -bits
        out.append(pools.value_of(pool, low.bit_length() - 1))
        bits ^= low
    return out


def _check(session: Session, run: ReconciliationRun, options: PoolOptions, pool: Pool, values: list[str],
           reread, subnet: tuple[int, int] | None) -> None:
    leaked, unmarked = diff(pool, values)
    if not leaked and not unmarked:
        return
    base = {"pool_id": pool.id, "type": pool.type}
    instance = None
    if subnet is not None:
        base.update(subnet_id=subnet[0], network_id=subnet[1])
        instance = f"{options.prefix}net-{subnet[1]}"
    found = []
    for fix, bits in (("leaked", leaked), ("unmarked", unmarked)):
        if bits:
            found.append({"run_id": run.id, "kind": KIND[fix], "backend_id": None, "server_id": None,
                          "instance": instance, "details": {**base, "count": bits.bit_count(),
                                                            "values": _values(pool, bits)},
                          "fixed": False, "fix": None})
    if options.fixes & {f for f, bits in (("leaked", leaked), ("unmarked", unmarked)) if bits}:
        _fix(session, options, pool.id, reread, found)
    session.execute(insert(Finding), found)


def _fix(session: Session, options: PoolOptions, pool_id: int, reread, found: list[dict[str, Any]]) -> None:
    """Under the pool's lock, with its holders read again: return what is still leaked, mark
    in use what is still unmarked (lifting an operator's reservation; one for good stays)."""
    write_lock(session)
    pool = pools.lock(session, pool_id)
    if pool.deleted:
        for row in found:
            row["fix"] = "left alone: the pool was deleted meanwhile"
        return
    leaked, unmarked = diff(pool, reread())
    available, reserved = pools._load(pool)
    fixed_for_good = pools.fixed_mask(pool) & unmarked
    for row in found:
        fix = row["kind"].removeprefix("pool-")
        if fix not in options.fixes:
            continue
        if fix == "leaked":
            if leaked:
                available |= leaked
                row["fix"] = f"returned {leaked.bit_count()} value(s) to pool {pool.id}"
                row["fixed"] = True
            else:
                row["fix"] = "left alone: nothing leaked any more"
        else:
            mark = unmarked & ~fixed_for_good
            if mark:
                available &= ~mark
                lifted = reserved & mark
                reserved &= ~mark
                row["fix"] = f"marked {mark.bit_count()} value(s) in use in pool {pool.id}" + (
                    f" (reservations lifted: {', '.join(_values(pool, lifted))})" if lifted else "")
                row["fixed"] = not fixed_for_good
            else:
                row["fix"] = "left alone: nothing unmarked any more"
            if fixed_for_good:
                row["fix"] += (f"; left alone: {', '.join(_values(pool, fixed_for_good))} never handed out "
                               "(the subnet's own), yet held: remove its holder")
    pools._store(pool, available, reserved)
    session.flush()
