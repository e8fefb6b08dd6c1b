"""Pools of values: a subnet's IPv4 addresses, bridges, MAC prefixes.

One `models.Pool` row per pool, its values as two bitmaps of `size` bits (bit `i` is value
`i`: the row's `available_map`, 1 = not handed out, and `reserved_map`, 1 = reserved), as
Synnefo keeps bitarrays in its pool rows. Value `i` is:

- ip: the address `offset + i` of the subnet `base` (offset 0: the whole CIDR, so the map
  reads as Ganeti's network map; what lies outside the allocation pools, the network, the
  broadcast address and the gateway among it, is reserved for good);
- bridge: `base` and the number `offset + i` (offset 1: `prv` of size 20 is prv1..prv20;
  prv0 is left to MAC_FILTERED networks, DEFAULT_MAC_FILTERED_BRIDGE);
- mac-prefix: the five hex digits `base + offset + i` (`aa:00:0` + 1 is `aa:00:1`); a prefix
  whose first octet is multicast or not locally administered is reserved for good.

Reservations "for good" (`fixed`) are the pool's own: an operator cannot lift them, and they
do not hold a shrink back. Every change happens under the row's lock (`lock`), taken after
the SQLite write lock (orchestrator.db.write_lock) where there are no row locks, and the
rows that hold values carry unique indexes on them as well: the database refuses a double
even if a lock were missed.
"""
from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..errors import Conflict, Invalid, NotFound
from ..models import Pool, PoolType
from . import addressing

TYPES = (PoolType.BRIDGE.value, PoolType.MAC_PREFIX.value)
ALIASES = {"mac_prefix": PoolType.MAC_PREFIX.value, "mac-prefix": PoolType.MAC_PREFIX.value,
           "bridge": PoolType.BRIDGE.value, "ip": PoolType.IP.value}
BRIDGE_OFFSET = 1
BRIDGE_NAME_MAX = 15  # an interface name (IFNAMSIZ - 1)
_BRIDGE_BASE = re.compile(r"[A-Za-z][A-Za-z0-9_.-]*[A-Za-z_.-]|[A-Za-z]")  # not ending in a digit
MAC_PREFIX_SPACE = 1 << (4 * addressing.MAC_PREFIX_DIGITS)
MAX_SIZE = MAC_PREFIX_SPACE


class PoolError(Exception):
    """Why a value could not be taken: the caller turns it into Conflict or Invalid for its field."""


class Exhausted(PoolError):
    pass


class NotInPool(PoolError):
    pass


class Unavailable(PoolError):
    def __init__(self, message: str, *, reserved: bool):
        super().__init__(message)
        self.reserved = reserved


def pool_type(value: object, field: str = "type", allowed: Iterable[str] = TYPES) -> str:
    kind = ALIASES.get(value) if isinstance(value, str) else None
    if kind not in allowed:
        raise Invalid(f"must be one of {', '.join(allowed)}", field=field)
    return kind


# -- the bitmaps ------------------------------------------------------------------------------

def _load(pool: Pool) -> tuple[int, int]:
    mask = (1 << pool.size) - 1
    return (int.from_bytes(pool.available_map, "little") & mask, int.from_bytes(pool.reserved_map, "little") & mask)


def _store(pool: Pool, available: int, reserved: int) -> None:
    length = (pool.size + 7) // 8
    mask = (1 << pool.size) - 1
    pool.available_map = (available & mask).to_bytes(length, "little")
    pool.reserved_map = (reserved & mask).to_bytes(length, "little")


def _range_mask(start: int, end: int) -> int:
    """Bits start..end (inclusive)."""
    return ((1 << (end - start + 1)) - 1) << start if end >= start else 0


def fixed_mask(pool: Pool, start: int = 0, end: int | None = None) -> int:
    """The bits of indexes start..end that the pool may never hand out."""
    end = pool.size - 1 if end is None else end
    if end < start:
        return 0
    if pool.type == PoolType.MAC_PREFIX.value:
        mask = 0
        first = addressing.mac_prefix_value(pool.base) + pool.offset
        low, high = first + start, first + end
        shift = 4 * (addressing.MAC_PREFIX_DIGITS - 2)  # the values one first octet covers
        for octet in range(low >> shift, (high >> shift) + 1):
            if not addressing.is_unicast_local(octet):
                block_start, block_end = max(low, octet << shift), min(high, ((octet + 1) << shift) - 1)
                mask |= _range_mask(block_start - first, block_end - first)
        return mask
    if pool.type == PoolType.IP.value:
        subnet = pool.subnet
        net_start = int(ipaddress.ip_network(pool.base).network_address) + pool.offset
        allowed = 0
        for low, high in addressing.ranges_of(subnet.allocation_pools if subnet is not None else []):
            allowed |= _range_mask(low - net_start, high - net_start)
        return _range_mask(start, end) & ~allowed
    return 0


# -- values -----------------------------------------------------------------------------------

def value_of(pool: Pool, index: int) -> str:
    if pool.type == PoolType.BRIDGE.value:
        return f"{pool.base}{pool.offset + index}"
    if pool.type == PoolType.MAC_PREFIX.value:
        return addressing.mac_prefix_text(addressing.mac_prefix_value(pool.base) + pool.offset + index)
    network = ipaddress.ip_network(pool.base)
    return str(network.network_address + pool.offset + index)


def index_of(pool: Pool, value: object) -> int | None:
    """The index of `value` in the pool; None if it is not one of its values."""
    if not isinstance(value, str):
        return None
    index: int | None = None
    if pool.type == PoolType.BRIDGE.value:
        rest = value[len(pool.base):] if value.startswith(pool.base) else ""
        if rest.isascii() and rest.isdigit() and str(int(rest)) == rest:
            index = int(rest) - pool.offset
    elif pool.type == PoolType.MAC_PREFIX.value:
        prefix = addressing.parse_mac_prefix(value)
        if prefix is None:
            return None
        index = addressing.mac_prefix_value(prefix) - addressing.mac_prefix_value(pool.base) - pool.offset
    else:
        try:
            address = ipaddress.ip_address(value.strip())
        except ValueError:
            return None
        network = ipaddress.ip_network(pool.base)
        if address.version != network.version:
            return None
        index = int(address) - int(network.network_address) - pool.offset
    return index if index is not None and 0 <= index < pool.size else None


def contains(pool: Pool, value: object) -> bool:
    return index_of(pool, value) is not None


def is_fixed(pool: Pool, index: int) -> bool:
    return bool(fixed_mask(pool, index, index))


# -- reading and locking ----------------------------------------------------------------------

def lock(session: Session, pool_id: int) -> Pool:
    """The pool row, re-read under its row lock (FOR UPDATE; on SQLite the caller took the
    database write lock first, orchestrator.db.write_lock, before reading anything)."""
    pool = session.scalars(select(Pool).where(Pool.id == pool_id).with_for_update()
                           .execution_options(populate_existing=True)).one_or_none()
    if pool is None:
        raise NotFound(f"pool {pool_id} not found")
    return pool


def live_pool(session: Session, kind: str, *, for_update: bool = False) -> Pool | None:
    """The live bridge or MAC-prefix pool, if there is one (locked when `for_update`)."""
    query = select(Pool).where(Pool.type == kind, Pool.deleted.is_(False)).order_by(Pool.id)
    if for_update:
        query = query.with_for_update().execution_options(populate_existing=True)
    return session.scalars(query).first()


# -- changes (the caller holds the lock) ------------------------------------------------------

def allocate(pool: Pool, value: str | None = None) -> str:
    """Take the lowest free value, or `value`; Exhausted, NotInPool or Unavailable otherwise."""
    available, reserved = _load(pool)
    if value is None:
        free = available & ~reserved
        if not free:
            raise Exhausted(f"pool {pool.id} ({pool.type} {pool.base}) has no free value")
        index = (free & -free).bit_length() - 1
    else:
        index = index_of(pool, value)
        if index is None:
            raise NotInPool(f"{value} is not in pool {pool.id} ({pool.type} {pool.base})")
        bit = 1 << index
        if not available & bit:
            raise Unavailable(f"{value} is in use", reserved=False)
        if reserved & bit:
            raise Unavailable(f"{value} is reserved", reserved=True)
    _store(pool, available & ~(1 << index), reserved)
    return value_of(pool, index)


def release(pool: Pool, value: str) -> None:
    """Give a value back. A value that is not out is an error of the caller's bookkeeping."""
    index = index_of(pool, value)
    available, reserved = _load(pool)
    if index is None or available & (1 << index):
        raise ValueError(f"{value} is not handed out by pool {pool.id}")
    _store(pool, available | (1 << index), reserved)


def claim(pool: Pool, value: str) -> bool:
    """Take `value` if the pool would hand it out: True if taken, False if it is reserved (an
    administrator's explicit choice of a value no network draws); Unavailable if in use."""
    try:
        allocate(pool, value)
    except Unavailable as exc:
        if exc.reserved:
            return False
        raise
    return True


def reserve(pool: Pool, values: Iterable[str], field: str = "add_reserved") -> None:
    """Reserve values so that nothing draws them (an operator's). Reserving one reserved is
    nothing; one in use is a Conflict (it stays with its holder)."""
    available, reserved = _load(pool)
    for value in values:
        index = _index_or_invalid(pool, value, field)
        if not available & (1 << index):
            raise Conflict(f"{value} is in use; it cannot be reserved", field=field)
        reserved |= 1 << index
    _store(pool, available, reserved)


def unreserve(pool: Pool, values: Iterable[str], field: str = "remove_reserved",
              keep: Iterable[str] = ()) -> None:
    """Lift operators' reservations; those the pool holds for good (and `keep`) stay: Invalid."""
    available, reserved = _load(pool)
    keep = set(keep)
    for value in values:
        index = _index_or_invalid(pool, value, field)
        if is_fixed(pool, index):
            raise Invalid(f"{value} is never handed out ({_fixed_reason(pool)}): its reservation stays",
                          field=field)
        if value_of(pool, index) in keep:
            raise Invalid(f"{value} stays reserved: it is the default shared by networks that take none "
                          "from the pool", field=field)
        reserved &= ~(1 << index)
    _store(pool, available, reserved)


def resize(pool: Pool, size: int, field: str = "size") -> None:
    """Grow (the new values free, or reserved for good as `fixed_mask` says) or shrink: never
    below a value in use or reserved by an operator."""
    if pool.type == PoolType.IP.value:
        raise Invalid("an address pool is its subnet's: it is not resized", field=field)
    check_size(pool.type, pool.base, size, field, offset=pool.offset)
    available, reserved = _load(pool)
    old = pool.size
    if size < old:
        cut = _range_mask(size, old - 1)
        if cut & ~available:
            highest = (cut & ~available).bit_length() - 1
            raise Conflict(f"{value_of(pool, highest)} is in use: the pool cannot shrink below it", field=field)
        operators = cut & reserved & ~fixed_mask(pool, size, old - 1)
        if operators:
            highest = operators.bit_length() - 1
            raise Conflict(f"{value_of(pool, highest)} is reserved: lift its reservation to shrink below it",
                           field=field)
        pool.size = size
        _store(pool, available, reserved)
        return
    new = _range_mask(old, size - 1)
    pool.size = size
    _store(pool, available | new, reserved | fixed_mask(pool, old, size - 1))


def _index_or_invalid(pool: Pool, value: object, field: str) -> int:
    index = index_of(pool, value)
    if index is None:
        raise Invalid(f"{str(value)[:64]!r} is not a value of pool {pool.id} ({first_last(pool)})", field=field)
    return index


def _fixed_reason(pool: Pool) -> str:
    if pool.type == PoolType.MAC_PREFIX.value:
        return "not a unicast, locally administered prefix"
    return "outside the subnet's allocation pools"


def first_last(pool: Pool) -> str:
    return f"{value_of(pool, 0)}..{value_of(pool, pool.size - 1)}"


# -- making pools -----------------------------------------------------------------------------

def check_size(kind: str, base: str, size: object, field: str = "size", *, offset: int | None = None) -> int:
    if not isinstance(size, int) or isinstance(size, bool) or size < 1:
        raise Invalid("must be a whole number of at least 1", field=field)
    if size > MAX_SIZE:
        raise Invalid(f"must be at most {MAX_SIZE}", field=field)
    if kind == PoolType.BRIDGE.value:
        last = (BRIDGE_OFFSET if offset is None else offset) + size - 1
        if len(base) + len(str(last)) > BRIDGE_NAME_MAX:
            raise Invalid(f"{base}{last} would be longer than an interface name ({BRIDGE_NAME_MAX} characters)",
                          field=field)
    elif kind == PoolType.MAC_PREFIX.value:
        start = addressing.mac_prefix_value(base) + (offset or 0)
        if start + size > MAC_PREFIX_SPACE:
            raise Invalid(f"from {base}, at most {MAC_PREFIX_SPACE - start} prefixes fit in five hex digits",
                          field=field)
    return size


def check_base(kind: str, base: object) -> str:
    if kind == PoolType.BRIDGE.value:
        if not isinstance(base, str) or len(base) >= BRIDGE_NAME_MAX or not _BRIDGE_BASE.fullmatch(base):
            raise Invalid("a bridge pool's base is a name beginning with a letter and not ending in a digit, "
                          f"shorter than {BRIDGE_NAME_MAX} characters (e.g. prv)", field="base")
        return base
    prefix = addressing.parse_mac_prefix(base)
    if prefix is None:
        raise Invalid("a MAC-prefix pool's base is five hex digits, as aa:00:0", field="base")
    return prefix


def new_pool(kind: str, base: str, size: int, *, reserve_values: Iterable[str] = ()) -> Pool:
    """A bridge or MAC-prefix pool (not added): every value free but those reserved for good
    and `reserve_values` (the default MAC prefix, which networks share, in a MAC-prefix pool)."""
    offset = BRIDGE_OFFSET if kind == PoolType.BRIDGE.value else 0
    pool = Pool(type=kind, base=base, offset=offset, size=size, deleted=False)
    mask = (1 << size) - 1
    reserved = fixed_mask(pool)
    for value in reserve_values:
        index = index_of(pool, value)
        if index is not None:
            reserved |= 1 << index
    _store(pool, mask, reserved)
    return pool


def new_ip_pool(subnet) -> Pool:
    """The pool of an IPv4 subnet (`models.Subnet` with its allocation pools set): the whole
    CIDR, what lies outside the allocation pools reserved for good."""
    network = ipaddress.ip_network(subnet.cidr)
    pool = Pool(type=PoolType.IP.value, base=str(network), offset=0, size=network.num_addresses, deleted=False)
    pool.subnet = subnet
    _store(pool, (1 << pool.size) - 1, fixed_mask(pool))
    return pool


def render_map(pool: Pool) -> str:
    """One character per value, in order, as Ganeti's network map: X in use or reserved, . free."""
    available, reserved = _load(pool)
    free = available & ~reserved
    bits = f"{free:0{pool.size}b}"[::-1] if pool.size else ""
    return bits.replace("0", "X").replace("1", ".")


def summary(pool: Pool) -> dict:
    return {"id": pool.id, "type": pool.type, "size": pool.size, "free": pool.free, "used": pool.used,
            "reserved": pool.reserved, "map": render_map(pool)}
