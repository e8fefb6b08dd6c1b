"""Parameter type checks, after Ganeti's lib/ht.py: predicates an opcode's parameters must
pass when rlib2 fills the opcode (a failure is a 400 "Parameter ... fails validation").

Ganeti's address checks only catch ipaddress.AddressValueError: another ValueError (host
bits set, a bad prefix length) escapes the check and rlib2 answers it with a 500 carrying
the error's text. The predicates below let it escape in the same way.
"""
from __future__ import annotations

import ipaddress
from collections.abc import Callable

Pred = Callable[[object], bool]


def string(value) -> bool:
    return isinstance(value, str)


def non_empty_string(value) -> bool:
    return isinstance(value, str) and bool(value)


def boolean(value) -> bool:
    return isinstance(value, bool)


def integer(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def maybe(pred: Pred) -> Pred:
    return lambda value: value is None or pred(value)


def list_of(pred: Pred) -> Pred:
    return lambda value: isinstance(value, list) and all(pred(v) for v in value)


def elem_of(values) -> Pred:
    allowed = frozenset(values)
    return lambda value: isinstance(value, str) and value in allowed


def _address_check(kind) -> Pred:
    def check(value) -> bool:
        if not isinstance(value, str):
            return False
        try:
            kind(value)
        except ipaddress.AddressValueError:
            return False
        return True
    return check


ipv4_address = _address_check(ipaddress.IPv4Address)
ipv6_address = _address_check(ipaddress.IPv6Address)
ipv4_network = _address_check(ipaddress.IPv4Network)
ipv6_network = _address_check(ipaddress.IPv6Network)
