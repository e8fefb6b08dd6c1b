"""OP_INSTANCE_SET_PARAMS's NIC modifications (rules: see nics.py), as LUInstanceSetParams
applies them: checked on a copy first (_PrepareNic*: addresses and MACs held for the job),
then built with their change entries (_CreateNewNic, _ApplyNicMods, _RemoveNic).

Like the logical unit, it writes back into the opcode what it decided: the upgraded
[action, index, params] list, generated MACs, addresses chosen from a pool, and hotplug
turned off when it cannot be used.
"""
from __future__ import annotations

from . import constants as C
from . import netconfig
from .errors import ECODE_INVAL, ECODE_NOENT, ECODE_NOTUNIQUE, ECODE_STATE, OpPrereqError, ReservationError
from .cluster import new_uuid, nic_params
from .nics import (AUTO, DEFAULT, GENERATE, MAX_NICS, NONE, POOL, _is, _valid_ip, check_conflicting_ip,
                   check_syntax, normalize_mac, validate_names)

KIND = "NIC"


def upgrade(mods: list) -> list:
    """_UpgradeDiskNicMods: the old [action|index, params] form as [action, index, params]."""
    if not mods or len(mods[0]) == 3:
        return [list(m) for m in mods]
    out, addremove = [], 0
    for first, params in mods:
        if first in ("add", "attach", "remove", "detach"):
            out.append([first, -1, params])
            addremove += 1
            if addremove > 1:
                raise OpPrereqError("Only one %s add/attach/remove/detach operation is supported at a time"
                                    % KIND, ECODE_INVAL)
        else:
            out.append(["modify", first, params])
    return out


def verify(action: str, params: dict) -> None:
    """_CheckMods and _VerifyNicModification (CheckArguments): normalizes params in place."""
    if action in ("remove", "detach"):
        if params:
            raise OpPrereqError("No settings should be passed when removing or detaching a %s" % KIND,
                                ECODE_INVAL)
        return
    if action not in ("add", "modify"):
        return
    ip, req_net = params.get("ip"), params.get("network")
    if _is(params.get("name"), NONE):
        params["name"] = None
    if req_net is not None:
        if req_net.lower() == NONE:
            params["network"] = req_net = None
        elif params.get("link") is not None or params.get("mode") is not None:
            raise OpPrereqError("If network is given mode or link should not", ECODE_INVAL)
    if action == "add" and params.get("mac") is None:
        params["mac"] = AUTO
    if ip is not None:
        if ip.lower() == NONE:
            params["ip"] = None
        elif ip.lower() == POOL:
            if action == "add" and req_net is None:
                raise OpPrereqError("If ip=pool, parameter network cannot be none", ECODE_INVAL)
        elif not _valid_ip(ip):
            raise OpPrereqError("Invalid IP address '%s'" % ip, ECODE_INVAL)
    if "mac" in params:
        mac = params["mac"]
        if mac not in (AUTO, GENERATE):
            mac = normalize_mac(mac)
        if action == "modify" and mac == AUTO:
            raise OpPrereqError("'auto' is not a valid MAC address when modifying an existing NIC",
                                ECODE_INVAL)


def _add_index(ident, container: list) -> int:
    """GetIndexFromIdentifier."""
    try:
        idx = int(ident)
    except ValueError:
        raise OpPrereqError("Only positive integer or -1 is accepted", ECODE_INVAL)
    if idx == -1:
        return len(container)
    if idx < 0:
        raise IndexError("Not accepting negative indices other than -1")
    if idx > len(container):
        raise IndexError("Got %s index %s, but there are only %s" % (KIND, idx, len(container)))
    return idx


def _insert(ident, item, container: list) -> None:
    """InsertItemToIndex."""
    idx = int(ident)
    if idx == -1:
        container.append(item)
    else:
        container.insert(idx, item)


def _item(ident, container: list):
    """GetItemFromContainer: (absolute index, item) by index, or by NIC UUID or name."""
    try:
        idx = int(ident)
    except ValueError:
        for i, item in enumerate(container):
            if item.get("uuid") == ident or item.get("name") == ident:
                return i, item
        raise OpPrereqError("Cannot find %s with identifier %s" % (KIND, ident), ECODE_NOENT)
    if idx == -1:
        absidx = len(container) - 1
    elif idx < 0:
        raise IndexError("Not accepting negative indices other than -1")
    elif idx > len(container):
        raise IndexError("Got %s index %s, but there are only %s" % (KIND, idx, len(container)))
    else:
        absidx = idx
    return absidx, container[idx]


class NicModifications:
    """The NIC part of one LUInstanceSetParams run on `inst`: plan() in the check phase."""

    def __init__(self, cluster, inst, op: dict, ctx):
        self.cluster, self.inst, self.op, self.ctx = cluster, inst, op, ctx
        self.token = ctx.token
        self.pnode = inst.pnode

    # --- check ---------------------------------------------------------------------

    def plan(self, mods: list) -> tuple[list, list]:
        """Return (the instance's new NICs, the change entries)."""
        privates = [{} for _ in mods]
        work = [dict(n) for n in self.inst.nics]
        for (action, ident, params), private in zip(mods, privates):
            if action in ("add", "attach"):
                _add_index(ident, work)
                if action == "attach":
                    raise OpPrereqError("Attach operation is not supported for NICs", ECODE_INVAL)
                self._prepare(params, private, None, None, {})
                _insert(ident, {"uuid": None, "name": None}, work)
            else:
                absidx, nic = _item(ident, work)
                if action == "detach":
                    raise OpPrereqError("Detach operation is not supported for NICs", ECODE_INVAL)
                if action == "remove":
                    net = self.cluster.network_by_uuid(nic.get("network"))
                    if net is not None and nic.get("ip") is not None:
                        net.release_ip(nic["ip"], self.token)
                    del work[absidx]
                else:
                    self._prepare(params, private, nic.get("ip"), nic.get("network"), nic_params(nic))
        if len(work) > MAX_NICS:
            raise OpPrereqError("Instance has too many network interfaces (%d), cannot add more"
                                % MAX_NICS, ECODE_STATE)
        nics = [dict(n) for n in self.inst.nics]
        changes: list = []
        for (action, ident, params), private in zip(mods, privates):
            if action == "add":
                idx = _add_index(ident, nics)
                nic, entries = self._create(idx, params, private)
                _insert(ident, nic, nics)
            else:
                idx, nic = _item(ident, nics)
                if action == "remove":
                    entries = [["%s/%s" % (KIND, idx), "remove"]]
                    if self.op["hotplug"]:
                        entries.append(["%s/%s" % (KIND, idx), self._hotplug()])
                    del nics[idx]
                else:
                    entries = self._modify(idx, nic, params, private)
            changes.extend(entries)
        validate_names(nics, configured=True)
        return nics, changes

    def _prepare(self, params: dict, private: dict, old_ip, old_net_uuid, old_params: dict) -> None:
        """_PrepareNicModification."""
        cluster = self.cluster
        update = {k: params[k] for k in ("mode", "link", "vlan") if k in params}
        req_link, req_mode = update.get("link"), update.get("mode")
        new_net = netconfig.lookup(cluster, params.get("network", old_net_uuid) or None)
        new_net_uuid = new_net.uuid if new_net is not None else None
        if new_net is not None:
            netparams = netconfig.node_netparams(cluster, new_net, self.pnode)
            if not netparams:
                raise OpPrereqError("No netparams found for the network %s, probably not connected"
                                    % new_net.name, ECODE_INVAL)
            new_params = dict(netparams)
        else:
            new_params = {k: v for k, v in old_params.items()}
            for key, value in update.items():
                if value == DEFAULT:
                    new_params.pop(key, None)
                else:
                    new_params[key] = value
        filled = dict(cluster.nicparams)
        filled.update(new_params)
        check_syntax(filled)
        if filled["mode"] == C.NIC_MODE_ROUTED:
            if params.get("ip", old_ip) is None and not new_net_uuid:
                raise OpPrereqError("Cannot set the NIC IP address to None on a routed NIC if not attached"
                                    " to a network", ECODE_INVAL)
        elif filled["mode"] == C.NIC_MODE_OVS:
            self.ctx.info("OVS links are currently not checked for correctness")
        if "mac" in params:
            mac = params["mac"]
            if mac is None:
                raise OpPrereqError("Cannot unset the NIC MAC address", ECODE_INVAL)
            if mac in (AUTO, GENERATE):
                params["mac"] = cluster.generate_mac(new_net.mac_prefix if new_net else None, self.token)
            else:
                try:
                    cluster.reserve_mac(normalize_mac(mac), self.token)
                except ReservationError:
                    raise OpPrereqError("MAC address '%s' already in use in cluster" % mac, ECODE_NOTUNIQUE)
        elif new_net_uuid != old_net_uuid:
            old_net = cluster.network_by_uuid(old_net_uuid)
            old_prefix = old_net.mac_prefix if old_net else None
            new_prefix = new_net.mac_prefix if new_net else None
            if old_prefix != new_prefix:
                params["mac"] = cluster.generate_mac(new_prefix, self.token)
        new_ip = params.get("ip", old_ip)
        if (new_ip, new_net_uuid) != (old_ip, old_net_uuid):
            if new_ip:
                if new_ip.lower() == POOL:
                    if new_net is None:
                        raise OpPrereqError("ip=pool, but no network found", ECODE_INVAL)
                    try:
                        new_ip = new_net.generate_ip(self.token)
                    except ReservationError:
                        raise OpPrereqError("Unable to get a free IP from the address pool", ECODE_STATE)
                    self.ctx.info("Chose IP %s from network %s" % (new_ip, new_net.name))
                    params["ip"] = new_ip
                elif new_net is not None:
                    try:
                        new_net.reserve_ip(new_ip, self.token, self.op["conflicts_check"])
                    except ReservationError:
                        raise OpPrereqError("IP %s not available in network %s" % (new_ip, new_net.name),
                                            ECODE_NOTUNIQUE)
                    self.ctx.info("Reserving IP %s in network %s" % (new_ip, new_net.name))
                elif self.op["conflicts_check"]:
                    check_conflicting_ip(cluster, new_ip, self.pnode)
            if old_ip and old_net_uuid:
                cluster.network_by_uuid(old_net_uuid).release_ip(old_ip, self.token)
        elif old_net_uuid is not None and (req_link is not None or req_mode is not None):
            raise OpPrereqError("Not allowed to change link or mode of a NIC that is connected to a network",
                                ECODE_INVAL)
        private["filled"] = filled

    def _hotplug(self) -> str:
        """_HotplugDevice on a running KVM instance: it works."""
        self.ctx.info("Trying to hotplug device...")
        self.ctx.info("Hotplug done.")
        return "hotplug:done"

    def _create(self, idx: int, params: dict, private: dict):
        """_CreateNewNic: the NIC takes the filled parameters as its own."""
        filled = private["filled"]
        net = netconfig.lookup(self.cluster, params.get("network"))
        nic = {"mac": params["mac"], "ip": params.get("ip"), "mode": filled["mode"], "link": filled["link"],
               "vlan": filled["vlan"], "network": net.uuid if net else None, "uuid": new_uuid(),
               "name": params.get("name")}
        changes = [["nic.%d" % idx, "add:mac=%s,ip=%s,mode=%s,link=%s,network=%s"
                    % (nic["mac"], nic["ip"], filled["mode"], filled["link"], params.get("network"))]]
        if self.op["hotplug"]:
            changes.append(["nic.%d" % idx, self._hotplug()])
        return nic, changes

    def _modify(self, idx: int, nic: dict, params: dict, private: dict) -> list:
        """_ApplyNicMods."""
        changes = []
        for key in ("mac", "ip", "name"):
            if key in params:
                changes.append(["nic.%s/%d" % (key, idx), params[key]])
                nic[key] = params[key]
        new_net = params.get("network", nic.get("network"))
        net = netconfig.lookup(self.cluster, new_net)
        if (net.uuid if net else None) != nic.get("network"):
            changes.append(["nic.network/%d" % idx, new_net])
            nic["network"] = net.uuid if net else None
        for key, value in private["filled"].items():
            nic[key] = value
            changes.append(["nic.%s/%d" % (key, idx), value])
        if self.op["hotplug"]:
            changes.append(["nic/%d" % idx, self._hotplug()])
        return changes


def check_hotplug(cluster, inst, op: dict, ctx) -> None:
    """_CheckHotplug (for an instance marked up), else hotplug is off."""
    if inst.admin_state != C.ADMIN_UP:
        op["hotplug"] = False
    elif op["hotplug"] and not inst.running:
        ctx.warning("Hotplug is not supported: Instance is probably down")
        op["hotplug"] = False
        ctx.info("Modification will take place without hotplugging.")


def commit(cluster, inst, new_nics: list, token) -> None:
    """The configuration update of Exec: new NICs, their MACs and addresses committed."""
    cluster.set_instance_macs([n["mac"] for n in inst.nics], [n["mac"] for n in new_nics])
    cluster.commit_reservations(token)
    inst.nics = new_nics
