"""A Ganeti network object and its IPv4 address pool, with the job-scoped reservations.

As Ganeti keeps them (lib/network.py AddressPool, src/Ganeti/Network.hs):

- two reservation bitmaps over the network's addresses: addresses used by instance
  NICs, and external reservations (the network and broadcast addresses and the gateway,
  reserved when the pool is created, plus what OP_NETWORK_ADD/SET_PARAMS reserve);
- ``map`` renders their union, one character per address in address order: ``X``
  reserved (either bitmap), ``.`` free; free_count and reserved_count count it;
- ``external_reservations`` lists the external bitmap in address order, joined by ", "
  (the network and broadcast addresses included);
- pools of more than a /16 or less than a /30 are refused.

Jobs do not touch the bitmaps while checking: WConfd's temporary reservations
(src/Ganeti/WConfd/TempRes.hs) hold an address for the job that asked for it (``pool``
takes the first address free in both bitmaps and held by no job; a named address must
not be used by an instance, nor, when conflicts are checked, be reserved externally, nor
be held by another job), and the job's config update commits them. The simulator drops
whatever a job still holds when its opcode ends, as WConfd does when the job ends.
"""
from __future__ import annotations

import ipaddress
import time

from .cluster import new_uuid
from .errors import AddressPoolError, ReservationError

IPV4_NETWORK_MIN_SIZE = 30
IPV4_NETWORK_MAX_SIZE = 16
RESERVE, RELEASE = "reserve", "release"


class Network:
    """objects.Network: parameters, tags, timestamps and the two reservation bitmaps
    (kept as sets of address offsets)."""

    def __init__(self, name: str, network: str, gateway: str | None = None, network6: str | None = None,
                 gateway6: str | None = None, mac_prefix: str | None = None, tags=()):
        self.name = name
        self.net = ipaddress.IPv4Network(network)
        self.gateway = gateway
        self.network6 = network6
        self.gateway6 = gateway6
        self.mac_prefix = mac_prefix
        self.uuid = new_uuid()
        self.tags = set(tags)
        self.ctime = self.mtime = time.time()
        self.serial_no = 1
        self.reserved: set[int] = set()  # used by instance NICs
        self.external: set[int] = set()
        self.pending: dict[tuple[str, int], object] = {}  # (action, offset) -> job holding it

    def touch(self) -> None:
        """cfg.Update of the network object."""
        self.mtime = time.time()
        self.serial_no += 1

    # --- addresses ---------------------------------------------------------------

    @property
    def size(self) -> int:
        return self.net.num_addresses

    def address(self, offset: int) -> str:
        return str(self.net.network_address + offset)

    def offset(self, address: str) -> int:
        addr = ipaddress.ip_address(address)
        if addr not in self.net:
            raise AddressPoolError("%s does not contain %s" % (self.net, addr))
        return int(addr) - int(self.net.network_address)

    def contains(self, address) -> bool:
        if address is None:
            return False
        try:
            return ipaddress.ip_address(address) in self.net
        except ValueError:
            return False

    # --- the pool (AddressPool) ------------------------------------------------------

    def check_size(self) -> None:
        hosts = self.size
        if hosts > 2 ** (32 - IPV4_NETWORK_MAX_SIZE):
            raise AddressPoolError("A big network with %s host(s) is currently not supported. please"
                                   " specify at most a /%s network" % (hosts, IPV4_NETWORK_MAX_SIZE))
        if hosts < 2 ** (32 - IPV4_NETWORK_MIN_SIZE):
            raise AddressPoolError("A network with only %s host(s) is too small, please specify at"
                                   " least a /%s network" % (hosts, IPV4_NETWORK_MIN_SIZE))

    def initialize(self) -> None:
        """AddressPool.InitializeNetwork: reserve network, broadcast and gateway externally."""
        self.check_size()
        for addr in (self.net[0], self.net[-1]):
            self.reserve(str(addr), external=True)
        if self.gateway is not None:
            self.reserve(self.gateway, external=True)

    def _bits(self, external: bool) -> set[int]:
        return self.external if external else self.reserved

    def is_reserved(self, address: str, external: bool = False) -> bool:
        return self.offset(address) in self._bits(external)

    def reserve(self, address: str, external: bool = False) -> None:
        if self.is_reserved(address, external):
            raise AddressPoolError(("IP %s is already externally reserved" if external
                                    else "IP %s is already used by an instance") % address)
        self._bits(external).add(self.offset(address))

    def release(self, address: str, external: bool = False) -> None:
        if not self.is_reserved(address, external):
            raise AddressPoolError(("IP %s is not externally reserved" if external
                                    else "IP %s is not used by an instance") % address)
        self._bits(external).discard(self.offset(address))

    def unuse(self, address) -> None:
        """An instance's address freed at once (commitReleaseIp, as an instance is removed)."""
        if self.contains(address):
            self.reserved.discard(self.offset(address))

    def used(self) -> set[int]:
        return self.reserved | self.external

    def free_count(self) -> int:
        return self.size - len(self.used())

    def reserved_count(self) -> int:
        return len(self.used())

    def map(self) -> str:
        used = self.used()
        return "".join("X" if i in used else "." for i in range(self.size))

    def external_reservations(self) -> str:
        return ", ".join(self.address(i) for i in sorted(self.external))

    # --- job reservations (WConfd TempRes) -------------------------------------------

    def generate_ip(self, token) -> str:
        """The first address free in both bitmaps and held by no job, held for `token`."""
        blocked = self.used() | {off for (_action, off) in self.pending}
        for off in range(self.size):
            if off not in blocked:
                self.pending[(RESERVE, off)] = token
                return self.address(off)
        raise ReservationError("Cannot generate IP. Network is full")

    def reserve_ip(self, address: str, token, check_external: bool = True) -> None:
        try:
            off = self.offset(address)
        except AddressPoolError:
            raise ReservationError("Address '%s' not in the network '%s'" % (address, self.net))
        if off in self.reserved:
            raise ReservationError("IP address already in use")
        if check_external and off in self.external:
            raise ReservationError("IP is externally reserved")
        if (RESERVE, off) in self.pending:
            raise ReservationError("Duplicate reservation for resource '%s'" % address)
        self.pending[(RESERVE, off)] = token

    def release_ip(self, address: str, token) -> None:
        """Give an address back once the job commits (ReleaseIp); outside the network: ignored."""
        if self.contains(address):
            self.pending.setdefault((RELEASE, self.offset(address)), token)

    def commit(self, token) -> None:
        """Apply the job's reservations and releases to the instance bitmap (commitReservedIps)."""
        for (action, off), owner in list(self.pending.items()):
            if owner != token:
                continue
            if action == RESERVE:
                self.reserved.add(off)
            else:
                self.reserved.discard(off)
            del self.pending[(action, off)]

    def drop(self, token) -> None:
        for key, owner in list(self.pending.items()):
            if owner == token:
                del self.pending[key]

    def to_dict(self) -> dict:
        """objects.Network.ToDict, as LUInstanceQueryData reports a NIC's network."""
        bits = lambda s: "".join("1" if i in s else "0" for i in range(self.size))  # noqa: E731
        return {"name": self.name, "network": str(self.net), "gateway": self.gateway,
                "network6": self.network6, "gateway6": self.gateway6, "mac_prefix": self.mac_prefix,
                "reservations": bits(self.reserved), "ext_reservations": bits(self.external),
                "uuid": self.uuid, "ctime": self.ctime, "mtime": self.mtime, "serial_no": self.serial_no,
                "tags": sorted(self.tags)}
