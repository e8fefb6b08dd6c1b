"""Instance NICs: what OP_INSTANCE_CREATE and OP_INSTANCE_SET_PARAMS do with them.

After lib/cmdlib/instance_utils.py (ComputeNics, ApplyContainerMods, CheckForConflictingIp,
NICToTuple), instance_create.py (CheckArguments, CheckPrereq), instance_set_params.py
(_VerifyNicModification, _PrepareNicModification, _CreateNewNic, _ApplyNicMods,
_RemoveNic, _CheckHotplug) and src/Ganeti/WConfd/TempRes.hs (reservations).

A NIC is {"mac", "ip", "mode", "link", "vlan", "network", "uuid", "name"}: network is the
network's UUID (the instance query's nic.networks), mode/link/vlan the NIC's own
nicparams (None: the cluster default applies).

Create: a NIC on a network may not name a mode or link; it takes the mode, link and vlan
of the network's connection to the primary node's group (none: "No netparams found for
network ..."). ``ip: pool`` takes the network's first free address; a named address must
be free in the network (used by an instance, outside the network, held by another job, or
externally reserved when conflicts are checked: "IP address ... already in use or does not
belong to network ...", resource_not_unique). ``mac`` "auto"/"generate" (the default) is
generated from the network's mac_prefix, else the cluster's, unique cluster-wide; a named
MAC must be unused ("MAC address ... already in use in cluster"). A NIC off any network
whose address lies in a network connected to the node's group conflicts (wrong_state).

Modify: ``nics`` is a list of [action, index or NIC name/UUID, params] (or the old
[action or index, params] form), action add, remove or modify; rlib2 rejects anything
else with a 400. Add and modify follow the same address rules (a refused address:
"IP ... not available in network ..."), remove gives the address back. The job result
lists Ganeti's change entries ("nic.N": "add:mac=...,ip=...,mode=...,link=...,network=...",
"NIC/N": "remove", "nic.ip/N", ...).

Hotplug: since Ganeti 3.1 ``hotplug`` defaults to true and ``hotplug_if_possible`` no
longer exists (NEWS 3.1.0, #1730), so rlib2 answers it with a 400 as any unknown
parameter. Hotplug needs an instance marked up whose KVM process runs; one that is not
running logs "Hotplug is not supported: Instance is probably down" and "Modification will
take place without hotplugging.", an instance not marked up is modified without hotplug
silently, and the opcode's hotplug becomes false. Hotplugged devices add "hotplug:done" to
the changes. Without hotplug only the configuration changes: queries and hooks show the
new NICs at once, while a running guest keeps its old devices until its next restart
("All parameters take effect only at the next restart of the instance"); the simulator
has no runtime view apart from the configuration, so that is all it records.
"""
from __future__ import annotations

import ipaddress
import re

from . import constants as C
from . import ht, netconfig
from .cluster import new_uuid
from .errors import (ECODE_INVAL, ECODE_NOTUNIQUE, ECODE_STATE, ConfigurationError,
                     OpPrereqError, ReservationError)

AUTO, GENERATE, NONE, DEFAULT, POOL = "auto", "generate", "none", "default", "pool"
MAX_NICS = 8
INIC_PARAMS = frozenset(["mac", "ip", "mode", "link", "name", "vlan", "bridge", "network"])
DDMS = frozenset(["add", "attach", "remove", "detach"])
DDMS_WITH_MODIFY = DDMS | {"modify"}
_MAC_RE = re.compile(r"^[0-9a-f]{2}(:[0-9a-f]{2}){5}$", re.I)


# --- parameter checks (rlib2 / ht) ---------------------------------------------------

def nic_params_ok(value) -> bool:
    """ht.TINicParams."""
    return isinstance(value, dict) and all(k in INIC_PARAMS and (v is None or isinstance(v, str))
                                           for k, v in value.items())


create_nics_ok = ht.list_of(nic_params_ok)


def mods_ok(value) -> bool:
    """ht.TSetParamsMods(ht.TINicParams): all new-style or all old-style items."""
    if not isinstance(value, list):
        return False
    new = all(isinstance(m, list) and len(m) == 3 and isinstance(m[0], str) and m[0] in DDMS_WITH_MODIFY
              and (ht.integer(m[1]) or isinstance(m[1], str)) and nic_params_ok(m[2]) for m in value)
    old = all(isinstance(m, list) and len(m) == 2 and nic_params_ok(m[1])
              and ((isinstance(m[0], str) and m[0] in DDMS) or (ht.integer(m[0]) and m[0] >= 0))
              for m in value)
    return new or old


def _is(value, word: str) -> bool:
    return isinstance(value, str) and value.lower() == word


def _valid_ip(ip: str) -> bool:
    try:
        ipaddress.ip_address(ip)
    except ValueError:
        return False
    return True


def normalize_mac(mac: str) -> str:
    if _MAC_RE.match(mac):
        return mac.lower()
    raise OpPrereqError("Invalid MAC address '%s'" % mac, ECODE_INVAL)


def check_syntax(filled: dict) -> None:
    """objects.NIC.CheckParameterSyntax."""
    if filled["mode"] not in C.NIC_MODES and filled["mode"] != AUTO:
        raise ConfigurationError("Invalid NIC mode '%s'" % filled["mode"])
    if filled["mode"] == C.NIC_MODE_BRIDGED and not filled["link"]:
        raise ConfigurationError("Missing bridged NIC link")


def validate_names(nics: list, configured: bool) -> None:
    """utils.ValidateDeviceNames("NIC", ...): no purely numeric names, no duplicates (nor a
    name that is another configured NIC's UUID)."""
    seen = []
    for nic in nics:
        name = nic.get("name")
        if configured:
            seen.append(nic.get("uuid"))
        try:
            int(name)
        except (ValueError, TypeError):
            pass
        else:
            raise OpPrereqError("Invalid name '%s'. Purely numeric NIC names are not allowed" % name,
                                ECODE_INVAL)
        if name is not None and name.lower() != NONE:
            if name in seen:
                raise OpPrereqError("NIC name '%s' already used" % name, ECODE_NOTUNIQUE)
            seen.append(name)


def check_conflicting_ip(cluster, ip, node_name: str) -> None:
    """CheckForConflictingIp."""
    net = netconfig.network_for_ip(cluster, ip, node_name)
    if net is not None:
        raise OpPrereqError("The requested IP address (%s) belongs to network %s, but the target NIC"
                            " does not." % (ip, net.name), ECODE_STATE)


def nic_tuple(cluster, nic: dict) -> list:
    """NICToTuple, as LUInstanceQueryData reports NICs."""
    filled = cluster.fill_nic(nic)
    net = cluster.network_by_uuid(nic.get("network"))
    return [nic.get("name"), nic["uuid"], nic.get("ip"), nic["mac"], filled["mode"], filled["link"],
            filled["vlan"], nic.get("network"), net.to_dict() if net is not None else None]


# --- create ------------------------------------------------------------------------------

def check_create_arguments(specs: list) -> None:
    """LUInstanceCreate.CheckArguments: NIC names, then VLANs ("100" becomes ".100")."""
    validate_names(specs, configured=False)
    for spec in specs:
        vlan = spec.get("vlan")
        if not vlan:
            continue
        if vlan[0] in ".:":
            if not (vlan[0] == "." and vlan[1:].isdigit()) and \
                    not all(v.isdigit() for v in vlan[1:].split(":")):
                raise OpPrereqError("Specified VLAN parameter is invalid : %s" % vlan, ECODE_INVAL)
        elif vlan.isdigit():
            spec["vlan"] = "." + vlan
        else:
            raise OpPrereqError("Specified VLAN parameter is invalid : %s" % vlan, ECODE_INVAL)


def compute_nics(cluster, specs: list, name_check: bool, token) -> list:
    """ComputeNics: NIC objects from the opcode's specs; explicit MACs are reserved, an
    "auto" address (the resolved name's) is not simulated and stays unset."""
    nics = []
    for spec in specs:
        mode_req = spec.get("mode")
        mode = cluster.nicparams["mode"] if mode_req is None or mode_req == AUTO else mode_req
        net, link, ip, vlan = spec.get("network"), spec.get("link"), spec.get("ip"), spec.get("vlan")
        if net is None or net.lower() == NONE:
            net = None
        elif mode_req is not None or link is not None:
            raise OpPrereqError("If network is given, no mode or link is allowed to be passed", ECODE_INVAL)
        if ip is None or ip.lower() == NONE:
            nic_ip = None
        elif ip.lower() == AUTO:
            if not name_check:
                raise OpPrereqError("IP address set to auto but the name checks are not enabled",
                                    ECODE_INVAL)
            nic_ip = None
        else:
            if ip.lower() == POOL:
                if net is None:
                    raise OpPrereqError("if ip=pool, parameter network must be passed too", ECODE_INVAL)
            elif not _valid_ip(ip):
                raise OpPrereqError("Invalid IP address '%s'" % ip, ECODE_INVAL)
            nic_ip = ip
        if mode == C.NIC_MODE_ROUTED and not nic_ip and not net:
            raise OpPrereqError("Routed nic mode requires an ip address if not attached to a network",
                                ECODE_INVAL)
        mac = spec.get("mac", AUTO)
        if mac not in (AUTO, GENERATE):
            mac = normalize_mac(mac)
            try:
                cluster.reserve_mac(mac, token)
            except ReservationError:
                raise OpPrereqError("MAC address %s already in use in cluster" % mac, ECODE_NOTUNIQUE)
        params = {"mode": mode if mode_req else None, "link": link or None, "vlan": vlan or None}
        check_syntax(cluster.fill_nic(params))
        network = netconfig.lookup(cluster, net)
        name = spec.get("name")
        nics.append(dict(params, mac=mac, ip=nic_ip, network=network.uuid if network else None,
                         uuid=new_uuid(), name=None if _is(name, NONE) else name))
    return nics


def generate_macs(cluster, nics: list, token) -> None:
    """LUInstanceCreate.CheckPrereq: "auto"/"generate" MACs, from the network's prefix."""
    for nic in nics:
        if nic["mac"] in (AUTO, GENERATE):
            net = cluster.network_by_uuid(nic["network"])
            nic["mac"] = cluster.generate_mac(net.mac_prefix if net else None, token)


def assign_networks(cluster, nics: list, pnode: str, conflicts_check: bool, token, ctx) -> None:
    """LUInstanceCreate.CheckPrereq once the primary node is known: network parameters and
    addresses from the pools."""
    for idx, nic in enumerate(nics):
        net = cluster.network_by_uuid(nic["network"])
        if net is None:
            if conflicts_check:
                check_conflicting_ip(cluster, nic["ip"], pnode)
            continue
        netparams = netconfig.node_netparams(cluster, net, pnode)
        if netparams is None:
            raise OpPrereqError("No netparams found for network %s. Probably not connected to node's %s"
                                " nodegroup" % (net.name, pnode), ECODE_INVAL)
        ctx.info("NIC/%d inherits netparams %s" % (idx, list(netparams.values())))
        nic.update(netparams)
        if nic["ip"] is None:
            continue
        if nic["ip"].lower() == POOL:
            try:
                nic["ip"] = net.generate_ip(token)
            except ReservationError:
                raise OpPrereqError("Unable to get a free IP for NIC %d from the address pool" % idx,
                                    ECODE_STATE)
            ctx.info("Chose IP %s from network %s" % (nic["ip"], net.name))
        else:
            try:
                net.reserve_ip(nic["ip"], token, conflicts_check)
            except ReservationError:
                raise OpPrereqError("IP address %s already in use or does not belong to network %s"
                                    % (nic["ip"], net.name), ECODE_NOTUNIQUE)
