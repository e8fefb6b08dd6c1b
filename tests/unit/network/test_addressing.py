"""What a CIDR, a gateway, allocation pools, a MAC prefix and a MAC may be; EUI-64."""
from __future__ import annotations

import ipaddress

import pytest

from orchestrator.errors import Invalid
from orchestrator.network import addressing

NET = ipaddress.ip_network("10.0.0.0/24")


def _invalid(field, fn, *args, **kwargs) -> str:
    with pytest.raises(Invalid) as caught:
        fn(*args, **kwargs)
    assert caught.value.field == field, caught.value.message
    return caught.value.message


@pytest.mark.parametrize("cidr, why", [
    ("10.0.0.1/24", "host bits"), ("10.0.0.0", "CIDR"), ("10.0.0.0/33", "CIDR"), ("bogus/24", "CIDR"),
    ("10.0.0.0/21", "/22 to /29"), ("10.0.0.0/30", "/22 to /29"), ("2001:db8::/64", "not an IPv4"),
])
def test_an_ipv4_cidr_is_a_network_whose_size_the_deployment_allows(cidr, why):
    assert why in _invalid("cidr", addressing.check_cidr, cidr, 4, prefix_min=22, prefix_max=29)


@pytest.mark.parametrize("cidr, addresses", [("10.0.0.0/22", 1024), ("10.0.0.0/29", 8), ("192.168.2.0/24", 256)])
def test_prefix_lengths_from_22_to_29_are_taken(cidr, addresses):
    assert addressing.check_cidr(cidr, 4, prefix_min=22, prefix_max=29).num_addresses == addresses


def test_the_prefix_range_is_the_deployments():
    assert addressing.check_cidr("10.0.0.0/16", 4, prefix_min=16, prefix_max=24).prefixlen == 16
    _invalid("cidr", addressing.check_cidr, "10.0.0.0/25", 4, prefix_min=16, prefix_max=24)


def test_an_ipv6_subnet_is_a_64_for_eui64():
    assert addressing.check_cidr("2001:db8::/64", 6, prefix_min=22, prefix_max=29).prefixlen == 64
    assert "/64" in _invalid("cidr", addressing.check_cidr, "2001:db8::/48", 6, prefix_min=22, prefix_max=29)
    _invalid("ip_version", addressing.check_cidr, "10.0.0.0/24", 5, prefix_min=22, prefix_max=29)
    _invalid("ip_version", addressing.check_cidr, "10.0.0.0/24", True, prefix_min=22, prefix_max=29)


def test_the_default_gateway_is_the_first_host_and_none_means_none():
    assert addressing.check_gateway(NET, None, default=True) == ipaddress.ip_address("10.0.0.1")
    assert addressing.check_gateway(NET, None, default=False) is None
    assert addressing.check_gateway(NET, "10.0.0.254", default=False) == ipaddress.ip_address("10.0.0.254")


@pytest.mark.parametrize("gateway, why", [
    ("10.0.1.1", "not inside"), ("10.0.0.0", "network address"), ("10.0.0.255", "broadcast"),
    ("nonsense", "not an IP"), ("2001:db8::1", "not an IPv4"), (17, "must be an IP"),
])
def test_a_gateway_is_a_host_of_the_subnet(gateway, why):
    assert why in _invalid("gateway_ip", addressing.check_gateway, NET, gateway, default=False)


def _ranges(ranges):
    return addressing.ranges_as_json(ranges, 4)


def test_default_allocation_pools_are_the_subnet_less_network_broadcast_and_gateway():
    first = ipaddress.ip_address("10.0.0.1")
    assert _ranges(addressing.default_allocation_pools(NET, first)) == [{"start": "10.0.0.2", "end": "10.0.0.254"}]
    middle = ipaddress.ip_address("10.0.0.100")
    assert _ranges(addressing.default_allocation_pools(NET, middle)) == [
        {"start": "10.0.0.1", "end": "10.0.0.99"}, {"start": "10.0.0.101", "end": "10.0.0.254"}]
    last = ipaddress.ip_address("10.0.0.254")
    assert _ranges(addressing.default_allocation_pools(NET, last)) == [{"start": "10.0.0.1", "end": "10.0.0.253"}]
    assert _ranges(addressing.default_allocation_pools(NET, None)) == [{"start": "10.0.0.1", "end": "10.0.0.254"}]


def test_explicit_allocation_pools_come_back_in_order():
    pools = [{"start": "10.0.0.100", "end": "10.0.0.200"}, {"start": "10.0.0.10", "end": "10.0.0.20"}]
    gateway = ipaddress.ip_address("10.0.0.1")
    assert _ranges(addressing.check_allocation_pools(NET, gateway, pools)) == [pools[1], pools[0]]


@pytest.mark.parametrize("pools, why", [
    ([{"start": "10.0.1.10", "end": "10.0.1.20"}], "not inside"),
    ([{"start": "10.0.0.0", "end": "10.0.0.20"}], "network address"),
    ([{"start": "10.0.0.200", "end": "10.0.0.255"}], "broadcast address"),
    ([{"start": "10.0.0.20", "end": "10.0.0.10"}], "ends before"),
    ([{"start": "10.0.0.10", "end": "10.0.0.20"}, {"start": "10.0.0.20", "end": "10.0.0.30"}], "overlap"),
    ([{"start": "10.0.0.10", "end": "10.0.0.90"}, {"start": "10.0.0.50", "end": "10.0.0.60"}], "overlap"),
    ([{"start": "10.0.0.1", "end": "10.0.0.20"}], "holds the gateway"),
    ([{"start": "10.0.0.2"}], "{start, end}"),
    ([], "at least one"),
    ("10.0.0.2-10.0.0.9", "list"),
])
def test_explicit_allocation_pools_lie_inside_apart_and_without_the_gateway(pools, why):
    gateway = ipaddress.ip_address("10.0.0.1")
    assert why in _invalid("allocation_pools", addressing.check_allocation_pools, NET, gateway, pools)


def test_an_ipv6_subnet_has_no_allocation_pools():
    v6 = ipaddress.ip_network("2001:db8::/64")
    _invalid("allocation_pools", addressing.check_allocation_pools, v6, None, [{"start": "2001:db8::2",
                                                                               "end": "2001:db8::9"}])


def test_eui64_is_the_mac_with_its_ul_bit_flipped_and_fffe_in_the_middle():
    v6 = ipaddress.ip_network("2001:db8:1:2::/64")
    assert addressing.eui64(v6, "00:11:22:33:44:55") == ipaddress.ip_address("2001:db8:1:2:211:22ff:fe33:4455")
    # A locally administered MAC (Synnefo's aa:...) loses its bit 1: aa becomes a8.
    assert addressing.eui64(v6, "aa:00:10:12:34:56") == ipaddress.ip_address("2001:db8:1:2:a800:10ff:fe12:3456")


def test_a_ports_mac_is_its_networks_prefix_a_zero_nibble_and_24_bits():
    assert addressing.port_mac("aa:00:1", 0x123456) == "aa:00:10:12:34:56"
    mac = addressing.port_mac("aa:00:1")
    assert mac.startswith("aa:00:10:") and addressing.check_mac(mac) == mac


@pytest.mark.parametrize("prefix, why", [("aa:00:00", "five hex"), ("aa:0:0", "five hex"), ("ab:00:0", "multicast"),
                                         ("zz:00:0", "five hex"), (None, "five hex")])
def test_a_mac_prefix_is_five_hex_digits_of_a_unicast_mac(prefix, why):
    assert why in _invalid("mac_prefix", addressing.check_mac_prefix, prefix)


def test_unicast_and_locally_administered_first_octets():
    assert [o for o in range(0xa8, 0xb8) if addressing.is_unicast_local(o)] == [0xaa, 0xae, 0xb2, 0xb6]


def test_dns_nameservers_are_addresses():
    assert addressing.check_dns_nameservers(("8.8.8.8", "2001:4860:4860::8888")) == ["8.8.8.8",
                                                                                     "2001:4860:4860::8888"]
    _invalid("dns_nameservers", addressing.check_dns_nameservers, ["dns.example.org"])
    _invalid("dns_nameservers", addressing.check_dns_nameservers, "8.8.8.8")
