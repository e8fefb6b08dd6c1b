"""Addresses: what a CIDR, a gateway, allocation pools, DNS servers, a MAC prefix, a link or a
MAC may be, and the two addresses derived rather than drawn (EUI-64, a port's MAC).

Everything here is pure: it raises `Invalid` naming the field, and writes nothing.
"""
from __future__ import annotations

import ipaddress
import re
import secrets
from collections.abc import Sequence
from typing import Any

from ..errors import Invalid

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
IPAddr = ipaddress.IPv4Address | ipaddress.IPv6Address

# An IPv6 subnet is a /64: a port's address there is the EUI-64 of its MAC (as Synnefo's mac2eui64).
IPV6_PREFIXLEN = 64
MAX_ALLOCATION_POOLS = 64
MAX_DNS_NAMESERVERS = 16

# Synnefo's MAC prefixes are 2.5 octets ("aa:00:0", five hex digits): a network's prefix, to
# which Ganeti's network adds a nibble (models.Network.ganeti_mac_prefix).
_MAC_PREFIX = re.compile(r"[0-9a-f]{2}:[0-9a-f]{2}:[0-9a-f]")
MAC_PREFIX_DIGITS = 5
_MAC = re.compile(r"(?:[0-9a-f]{2}:){5}[0-9a-f]{2}")
# A Ganeti link: a bridge (an interface name, 15 characters at most) or a routing table.
_LINK = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:-]{0,31}")
LINK_MAX = 32


def parse_network(cidr: Any, ip_version: int, field: str = "cidr") -> IPNetwork:
    if not isinstance(cidr, str) or "/" not in cidr:
        raise Invalid("must be a network in CIDR notation, e.g. 192.168.2.0/24", field=field)
    try:
        network = ipaddress.ip_network(cidr.strip(), strict=True)
    except ValueError as exc:
        text = "has host bits set" if "host bits" in str(exc) else "is not a network in CIDR notation"
        raise Invalid(f"{cidr[:64]!r} {text}", field=field) from None
    if network.version != ip_version:
        raise Invalid(f"{cidr[:64]!r} is not an IPv{ip_version} network", field=field)
    return network


def parse_address(value: Any, field: str, version: int | None = None) -> IPAddr:
    if not isinstance(value, str):
        raise Invalid("must be an IP address", field=field)
    try:
        address = ipaddress.ip_address(value.strip())
    except ValueError:
        raise Invalid(f"{value[:64]!r} is not an IP address", field=field) from None
    if version is not None and address.version != version:
        raise Invalid(f"{value[:64]!r} is not an IPv{version} address", field=field)
    return address


def check_cidr(cidr: Any, ip_version: Any, *, prefix_min: int, prefix_max: int) -> IPNetwork:
    """An IPv4 network whose prefix length is within [prefix_min, prefix_max] (the deployment's:
    at most 2^(32-min) and at least 2^(32-max) addresses), or an IPv6 /64."""
    if ip_version not in (4, 6) or isinstance(ip_version, bool):
        raise Invalid("must be 4 or 6", field="ip_version")
    network = parse_network(cidr, ip_version)
    if ip_version == 4 and prefix_min > prefix_max:
        raise Invalid(f"this deployment allows no IPv4 subnet (SUBNET_IPV4_PREFIX_MIN {prefix_min} is above "
                      f"SUBNET_IPV4_PREFIX_MAX {prefix_max})", field="cidr")
    if ip_version == 4 and not prefix_min <= network.prefixlen <= prefix_max:
        raise Invalid(f"an IPv4 subnet's prefix length must be from /{prefix_min} to /{prefix_max} "
                      f"({2 ** (32 - prefix_max)} to {2 ** (32 - prefix_min)} addresses)", field="cidr")
    if ip_version == 6 and network.prefixlen != IPV6_PREFIXLEN:
        raise Invalid("an IPv6 subnet must be a /64: its addresses are the EUI-64 of the ports' MACs",
                      field="cidr")
    return network


def check_gateway(network: IPNetwork, gateway: Any, *, default: bool) -> IPAddr | None:
    """The gateway: the first host when `default`, none when None, else an address inside the
    subnet that is neither its network nor (IPv4) its broadcast address."""
    if default:
        return network.network_address + 1
    if gateway is None:
        return None
    address = parse_address(gateway, "gateway_ip", network.version)
    if address not in network:
        raise Invalid(f"{address} is not inside {network}", field="gateway_ip")
    if address == network.network_address:
        raise Invalid(f"{address} is the network address of {network}", field="gateway_ip")
    if network.version == 4 and address == network.broadcast_address:
        raise Invalid(f"{address} is the broadcast address of {network}", field="gateway_ip")
    return address


def default_allocation_pools(network: IPNetwork, gateway: IPAddr | None) -> list[tuple[int, int]]:
    """The subnet minus its network address, broadcast address and gateway, as ranges."""
    first, last = int(network.network_address) + 1, int(network.broadcast_address) - 1
    if gateway is None or not first <= int(gateway) <= last:
        return [(first, last)]
    g = int(gateway)
    return [(start, end) for start, end in ((first, g - 1), (g + 1, last)) if start <= end]


def check_allocation_pools(network: IPNetwork, gateway: IPAddr | None, pools: Any) -> list[tuple[int, int]]:
    """Explicit allocation pools ([{"start", "end"}, ...]): inside the subnet, neither its network
    nor its broadcast address, start <= end, not overlapping each other, not holding the gateway.
    The ranges, in order."""
    field = "allocation_pools"
    if network.version == 6:
        raise Invalid("an IPv6 subnet has no allocation pools: its addresses are EUI-64", field=field)
    if isinstance(pools, (str, bytes, dict)) or not isinstance(pools, Sequence):
        raise Invalid("must be a list of {start, end}", field=field)
    if not pools:
        raise Invalid("must hold at least one range (omit it for the whole subnet)", field=field)
    if len(pools) > MAX_ALLOCATION_POOLS:
        raise Invalid(f"at most {MAX_ALLOCATION_POOLS} ranges", field=field)
    ranges = []
    low, high = int(network.network_address), int(network.broadcast_address)
    for pool in pools:
        if not isinstance(pool, dict) or set(pool) != {"start", "end"}:
            raise Invalid("each range is {start, end}", field=field)
        start, end = (parse_address(pool[key], field, 4) for key in ("start", "end"))
        for address in (start, end):
            if address not in network:
                raise Invalid(f"{address} is not inside {network}", field=field)
            if int(address) in (low, high):
                what = "network" if int(address) == low else "broadcast"
                raise Invalid(f"{address} is the {what} address of {network}", field=field)
        if start > end:
            raise Invalid(f"range {start}-{end} ends before it starts", field=field)
        if gateway is not None and start <= gateway <= end:
            raise Invalid(f"range {start}-{end} holds the gateway {gateway}", field=field)
        ranges.append((int(start), int(end)))
    ranges.sort()
    for (_s1, e1), (s2, _e2) in zip(ranges, ranges[1:]):
        if s2 <= e1:
            raise Invalid(f"ranges overlap at {ipaddress.IPv4Address(s2)}", field=field)
    return ranges


def ranges_as_json(ranges: list[tuple[int, int]], version: int) -> list[dict[str, str]]:
    cls = ipaddress.IPv4Address if version == 4 else ipaddress.IPv6Address
    return [{"start": str(cls(start)), "end": str(cls(end))} for start, end in ranges]


def ranges_of(allocation_pools: list[dict[str, str]]) -> list[tuple[int, int]]:
    return [(int(ipaddress.ip_address(p["start"])), int(ipaddress.ip_address(p["end"]))) for p in allocation_pools]


def check_dns_nameservers(servers: Any) -> list[str]:
    field = "dns_nameservers"
    if servers is None:
        return []
    if isinstance(servers, (str, bytes, dict)) or not isinstance(servers, Sequence):
        raise Invalid("must be a list of IP addresses", field=field)
    if len(servers) > MAX_DNS_NAMESERVERS:
        raise Invalid(f"at most {MAX_DNS_NAMESERVERS} name servers", field=field)
    return [str(parse_address(server, field)) for server in servers]


# -- MAC prefixes, MACs and links -----------------------------------------------------------

def is_unicast_local(first_octet: int) -> bool:
    """A MAC (prefix) a NIC may have from a pool: unicast (bit 0 of the first octet clear) and
    locally administered (bit 1 set), as Synnefo's MacPrefixPool requires."""
    return first_octet & 0b01 == 0 and first_octet & 0b10 == 0b10


def mac_prefix_value(prefix: str) -> int:
    return int(prefix.replace(":", ""), 16)


def mac_prefix_text(value: int) -> str:
    digits = f"{value:0{MAC_PREFIX_DIGITS}x}"
    return f"{digits[0:2]}:{digits[2:4]}:{digits[4]}"


def parse_mac_prefix(value: Any) -> str | None:
    """Synnefo's form, five hex digits (`aa:00:0`), lower case; None for anything else."""
    if not isinstance(value, str) or not _MAC_PREFIX.fullmatch(value.strip().lower()):
        return None
    return value.strip().lower()


def check_mac_prefix(value: Any, field: str = "mac_prefix") -> str:
    """Synnefo's form, five hex digits (`aa:00:0`), lower case, of a unicast MAC."""
    value = parse_mac_prefix(value)
    if value is None:
        raise Invalid("must be a MAC prefix of five hex digits, as aa:00:0", field=field)
    if int(value[:2], 16) & 1:
        raise Invalid(f"{value} is a multicast prefix: a NIC's MAC must be unicast", field=field)
    return value


def check_link(value: Any, field: str = "link") -> str:
    if not isinstance(value, str) or not _LINK.fullmatch(value):
        raise Invalid(f"must be 1 to {LINK_MAX} letters, digits, '_', '.', ':' or '-' (a bridge or a routing "
                      "table)", field=field)
    return value


def port_mac(mac_prefix: str, suffix: int | None = None) -> str:
    """A port's MAC: its network's 2.5-octet prefix, a 0 nibble (so the first three octets are
    the network's `ganeti_mac_prefix` on every backend), then 24 random bits. Uniqueness among
    live ports is the database's (a unique index); the caller draws again on a collision."""
    suffix = secrets.randbits(24) if suffix is None else suffix
    return f"{mac_prefix}0:{suffix >> 16 & 0xff:02x}:{suffix >> 8 & 0xff:02x}:{suffix & 0xff:02x}"


def check_mac(value: Any, field: str = "mac") -> str:
    if not isinstance(value, str) or not _MAC.fullmatch(value.lower()):
        raise Invalid("must be a MAC address, as aa:00:00:12:34:56", field=field)
    return value.lower()


def eui64(network: ipaddress.IPv6Network, mac: str) -> ipaddress.IPv6Address:
    """The modified EUI-64 address of `mac` in the /64 `network` (RFC 4291 appendix A): the
    MAC's universal/local bit flipped, ff:fe in its middle."""
    octets = bytes.fromhex(check_mac(mac).replace(":", ""))
    interface = bytes([octets[0] ^ 0x02]) + octets[1:3] + b"\xff\xfe" + octets[3:]
    return network.network_address + int.from_bytes(interface, "big")
