"""Instance NICs on networks over RAPI, as Ganeti 3.1 handles them: lib/cmdlib/instance_utils.py
(ComputeNics), instance_create.py (CheckPrereq), instance_set_params.py (NIC modifications,
hotplug), src/Ganeti/WConfd/TempRes.hs (MAC and address reservations), and the instance query
fields of src/Ganeti/Query/Instance.hs."""
from __future__ import annotations

from .jobs import failed, log_messages, succeeded

NIC_FIELDS = ("nic.ips", "nic.macs", "nic.names", "nic.networks", "nic.networks.names", "nic.modes",
              "nic.links", "custom_nicparams")


def _nics(rapi, name) -> dict:
    inst = rapi.get(f"/2/instances/{name}").json()
    return {k: inst[k] for k in NIC_FIELDS}


def _network(rapi, name="pub", network="10.0.0.0/28", gateway="10.0.0.1", mode="bridged", link="br-pub",
             **kw):
    succeeded(rapi, rapi.post("/2/networks", json=dict(network_name=name, network=network, gateway=gateway, **kw)).json())
    if mode:
        succeeded(rapi, rapi.put(f"/2/networks/{name}/connect", json={
            "group_name": "default", "network_mode": mode, "network_link": link, "network_vlan": ""}).json())
    return rapi.get(f"/2/networks/{name}").json()


def _modify(rapi, name, **body):
    return rapi.put(f"/2/instances/{name}/modify", json=body).json()


def test_create_on_network_pool_names_and_query_fields(rapi):
    net = _network(rapi, mac_prefix="aa:00:01")
    job = succeeded(rapi, rapi.create("vm1", nics=[{"network": "pub", "ip": "pool", "name": "eth0"},
                                             {"network": net["uuid"], "ip": "pool"}, {}]))
    assert " - INFO: NIC/0 inherits netparams ['bridged', 'br-pub', '']" in log_messages(job)
    assert " - INFO: Chose IP 10.0.0.2 from network pub" in log_messages(job)
    nics = _nics(rapi, "vm1")
    # the pool gives the first free addresses; the network's prefix makes the MACs
    assert nics["nic.ips"] == ["10.0.0.2", "10.0.0.3", None]
    assert nics["nic.names"] == ["eth0", None, None]
    assert nics["nic.networks"] == [net["uuid"], net["uuid"], None]
    assert nics["nic.networks.names"] == ["pub", "pub", None]
    assert [m[:8] for m in nics["nic.macs"]] == ["aa:00:01", "aa:00:01", "aa:00:00"]
    assert len(set(nics["nic.macs"])) == 3
    assert nics["nic.links"] == ["br-pub", "br-pub", "br0"]
    # a NIC on a network takes the group's netparams as its own
    assert nics["custom_nicparams"] == [{"mode": "bridged", "link": "br-pub", "vlan": ""}] * 2 + [{}]
    net = rapi.get("/2/networks/pub").json()
    assert net["inst_list"] == ["vm1"] and net["map"] == "XXXX...........X"
    # /info: NICToTuple (name, uuid, ip, mac, mode, link, vlan, network, network object)
    info = succeeded(rapi, rapi.get("/2/instances/vm1/info").json())["opresult"][0]["vm1"]["nics"]
    assert info[0][:8] == ["eth0", info[0][1], "10.0.0.2", nics["nic.macs"][0], "bridged", "br-pub", "",
                           net["uuid"]]
    assert info[0][8]["name"] == "pub" and info[2][8] is None
    # removing the instance gives its addresses back
    succeeded(rapi, rapi.delete("/2/instances/vm1").json())
    assert rapi.get("/2/networks/pub").json()["map"] == "XX.............X"


def test_create_address_rules(rapi):
    _network(rapi, add_reserved_ips=["10.0.0.9"])
    succeeded(rapi, rapi.create("a1", nics=[{"network": "pub", "ip": "10.0.0.5"}]))
    msg = "IP address %s already in use or does not belong to network pub"
    for ip in ("10.0.0.5", "10.1.0.5", "10.0.0.9"):  # used by a1, outside, externally reserved
        assert failed(rapi, rapi.create("a2", nics=[{"network": "pub", "ip": ip}])) == \
            ["OpPrereqError", [msg % ip, "resource_not_unique"]]
    # without conflicts_check only the external reservations may be taken (WConfd reserveIp)
    assert failed(rapi, rapi.create("a2", conflicts_check=False, nics=[{"network": "pub", "ip": "10.0.0.5"}])) == \
        ["OpPrereqError", [msg % "10.0.0.5", "resource_not_unique"]]
    succeeded(rapi, rapi.create("a3", conflicts_check=False, nics=[{"network": "pub", "ip": "10.0.0.9"}]))
    # two pool NICs of one create never get the same address; a failed create keeps nothing
    assert failed(rapi, rapi.create("a4", memory=10 ** 6, nics=[{"network": "pub", "ip": "pool"}]))[1][1] == \
        "insufficient_resources"
    succeeded(rapi, rapi.create("a5", nics=[{"network": "pub", "ip": "pool"}, {"network": "pub", "ip": "pool"}]))
    assert _nics(rapi, "a5")["nic.ips"] == ["10.0.0.2", "10.0.0.3"]


def test_create_nic_argument_errors(rapi):
    _network(rapi)
    _network(rapi, "lonely", "10.7.0.0/28", gateway=None, mode=None)
    cases = [
        ({"network": "pub", "mode": "routed"}, "If network is given, no mode or link is allowed to be passed",
         "wrong_input"),
        ({"ip": "pool"}, "if ip=pool, parameter network must be passed too", "wrong_input"),
        ({"ip": "10.0.0.300"}, "Invalid IP address '10.0.0.300'", "wrong_input"),
        ({"mode": "routed", "link": "rt"}, "Routed nic mode requires an ip address if not attached to a network",
         "wrong_input"),
        ({"mac": "aa:bb"}, "Invalid MAC address 'aa:bb'", "wrong_input"),
        ({"network": "nosuch"}, "Network 'nosuch' not found", "unknown_entity"),
        ({"name": "0"}, "Invalid name '0'. Purely numeric NIC names are not allowed", "wrong_input"),
        ({"vlan": "x1"}, "Specified VLAN parameter is invalid : x1", "wrong_input"),
    ]
    for spec, message, code in cases:
        assert failed(rapi, rapi.create("bad", nics=[spec])) == ["OpPrereqError", [message, code]], spec
    node = sorted(rapi.get("/2/nodes").json(), key=lambda n: n["id"])[0]["id"]
    assert failed(rapi, rapi.create("bad", pnode=node, nics=[{"network": "lonely", "ip": "pool"}])) == [
        "OpPrereqError", ["No netparams found for network lonely. Probably not connected to node's %s nodegroup"
                          % node, "wrong_input"]]
    # a NIC off any network with an address of a connected network conflicts (CheckForConflictingIp)
    assert failed(rapi, rapi.create("bad", nics=[{"mode": "routed", "link": "rt", "ip": "10.0.0.7"}])) == [
        "OpPrereqError", ["The requested IP address (10.0.0.7) belongs to network pub, but the target NIC does"
                          " not.", "wrong_state"]]
    assert failed(rapi, rapi.create("bad", nics=[{"name": "x"}, {"name": "x"}])) == \
        ["OpPrereqError", ["NIC name 'x' already used", "resource_not_unique"]]
    # the MAC is unique cluster-wide
    succeeded(rapi, rapi.create("m1", nics=[{"mac": "AA:BB:CC:00:00:01"}]))
    assert _nics(rapi, "m1")["nic.macs"] == ["aa:bb:cc:00:00:01"]
    assert failed(rapi, rapi.create("m2", nics=[{"mac": "aa:bb:cc:00:00:01"}])) == \
        ["OpPrereqError", ["MAC address aa:bb:cc:00:00:01 already in use in cluster", "resource_not_unique"]]
    # rlib2: NIC parameters are strings (or null) of the known names
    for nics in ([{"colour": "red"}], [{"vlan": 100}], ["eth0"]):
        r = rapi.post("/2/instances", json={"__version__": 1, "mode": "create", "instance_name": "bad",
                                            "disk_template": "plain", "disks": [{"size": 100}], "nics": nics,
                                            "os_type": "x", "name_check": False, "ip_check": False})
        assert r.status_code == 400 and "OP_INSTANCE_CREATE.nics" in r.json()["message"]


def test_modify_add_remove_modify_on_network(rapi, cluster):
    net = _network(rapi, mac_prefix="aa:00:01")
    succeeded(rapi, rapi.create("mv1"))
    # add: the pool's first free address, a MAC from the network's prefix, hotplugged (running)
    job = succeeded(rapi, _modify(rapi, "mv1", nics=[["add", -1, {"network": "pub", "ip": "pool", "name": "pub0"}]]))
    mac = _nics(rapi, "mv1")["nic.macs"][1]
    assert mac.startswith("aa:00:01:")
    assert job["opresult"][0] == [["nic.1", "add:mac=%s,ip=10.0.0.2,mode=bridged,link=br-pub,network=pub" % mac],
                                  ["nic.1", "hotplug:done"]]
    assert log_messages(job) == [" - INFO: Chose IP 10.0.0.2 from network pub", " - INFO: Trying to hotplug device...",
                         " - INFO: Hotplug done."]
    # what the logical unit decided is written back into the opcode
    params = job["ops"][0]["nics"][0][2]
    assert params["ip"] == "10.0.0.2" and params["mac"] == mac and job["ops"][0]["hotplug"] is True
    nics = _nics(rapi, "mv1")
    assert nics["nic.networks"] == [None, net["uuid"]] and nics["nic.networks.names"] == [None, "pub"]
    assert nics["custom_nicparams"][1] == {"mode": "bridged", "link": "br-pub", "vlan": ""}
    # an address in use, or outside the network, fails the job (resource_not_unique)
    for ip in ("10.0.0.2", "10.0.0.1", "192.168.0.1"):
        assert failed(rapi, _modify(rapi, "mv1", nics=[["add", -1, {"network": "pub", "ip": ip}]])) == \
            ["OpPrereqError", ["IP %s not available in network pub" % ip, "resource_not_unique"]]
    # modify by name: a new address in the same network; the old one is given back
    job = succeeded(rapi, _modify(rapi, "mv1", nics=[["modify", "pub0", {"ip": "10.0.0.9"}]], hotplug=False))
    assert job["opresult"][0] == [["nic.ip/1", "10.0.0.9"], ["nic.mode/1", "bridged"], ["nic.link/1", "br-pub"],
                                  ["nic.vlan/1", ""]]
    assert rapi.get("/2/networks/pub").json()["map"] == "XX.......X.....X"
    assert failed(rapi, _modify(rapi, "mv1", nics=[["modify", "pub0", {"link": "br9"}]])) == [
        "OpPrereqError", ["Not allowed to change link or mode of a NIC that is connected to a network",
                          "wrong_input"]]
    # remove (by index) gives the address back; the next pool NIC reuses the first free one
    job = succeeded(rapi, _modify(rapi, "mv1", nics=[["remove", 1, {}]]))
    assert job["opresult"][0] == [["NIC/1", "remove"], ["NIC/1", "hotplug:done"]]
    assert rapi.get("/2/networks/pub").json()["map"] == "XX.............X"
    assert mac not in {n["mac"] for i in cluster.instances.values() for n in i.nics}
    succeeded(rapi, _modify(rapi, "mv1", nics=[["add", -1, {"network": "pub", "ip": "pool"}]]))
    assert _nics(rapi, "mv1")["nic.ips"] == [None, "10.0.0.2"]


def test_modify_moves_a_nic_between_networks(rapi):
    _network(rapi, "a", "10.0.0.0/28", mac_prefix="aa:00:0a")
    _network(rapi, "b", "10.0.1.0/28", gateway="10.0.1.1", mac_prefix="aa:00:0b", mode="routed",
             link="rt-b")
    succeeded(rapi, rapi.create("mv2", nics=[{"network": "a", "ip": "pool"}]))
    old = _nics(rapi, "mv2")
    job = succeeded(rapi, _modify(rapi, "mv2", nics=[["modify", 0, {"network": "b", "ip": "pool"}]]))
    new = _nics(rapi, "mv2")
    # another prefix: a new MAC; the address comes from b's pool, a's is free again
    assert new["nic.ips"] == ["10.0.1.2"] and new["nic.networks.names"] == ["b"] and new["nic.modes"] == ["routed"]
    assert new["nic.macs"][0].startswith("aa:00:0b:") and new["nic.macs"] != old["nic.macs"]
    assert ["nic.network/0", "b"] in job["opresult"][0]
    assert rapi.get("/2/networks/a").json()["inst_list"] == []
    assert rapi.get("/2/networks/b").json()["inst_list"] == ["mv2"]
    # off the network ("none"): the NIC keeps b's routed mode and needs an address then; one of
    # a connected network's addresses conflicts; without one, in bridged mode, it leaves the pool
    assert failed(rapi, _modify(rapi, "mv2", nics=[["modify", 0, {"network": "none", "ip": "none"}]])) == [
        "OpPrereqError", ["Cannot set the NIC IP address to None on a routed NIC if not attached to a network",
                          "wrong_input"]]
    assert failed(rapi, _modify(rapi, "mv2", nics=[["modify", 0, {"network": "none", "mode": "bridged"}]])) == [
        "OpPrereqError", ["The requested IP address (10.0.1.2) belongs to network b, but the target NIC does not.",
                          "wrong_state"]]
    succeeded(rapi, _modify(rapi, "mv2", nics=[["modify", 0, {"network": "none", "ip": "none", "mode": "bridged"}]]))
    nics = _nics(rapi, "mv2")
    assert nics["nic.networks"] == [None] and nics["nic.ips"] == [None] and nics["nic.links"] == ["rt-b"]
    assert rapi.get("/2/networks/b").json()["map"] == "XX.............X"


def test_modify_nic_argument_errors(rapi):
    _network(rapi)
    succeeded(rapi, rapi.create("me1"))
    cases = [
        ([["add", -1, {"ip": "pool"}]], "If ip=pool, parameter network cannot be none", "wrong_input"),
        ([["add", -1, {"network": "pub", "link": "x"}]], "If network is given mode or link should not", "wrong_input"),
        ([["modify", 0, {"mac": "auto"}]], "'auto' is not a valid MAC address when modifying an existing NIC",
         "wrong_input"),
        ([["remove", 0, {"ip": "x"}]], "No settings should be passed when removing or detaching a NIC", "wrong_input"),
        ([["modify", "eth9", {}]], "Cannot find NIC with identifier eth9", "unknown_entity"),
        ([["add", "x", {}]], "Only positive integer or -1 is accepted", "wrong_input"),
        ([["attach", -1, {}]], "Attach operation is not supported for NICs", "wrong_input"),
        ([["add", -1, {}], ["remove", 1, {}], ["add", -1, {"name": "1"}]],
         "Invalid name '1'. Purely numeric NIC names are not allowed", "wrong_input"),
        ([["add", {}], ["remove", {}]], "Only one NIC add/attach/remove/detach operation is supported at a time",
         "wrong_input"),
        ([["modify", 0, {"mode": "routed"}]], "Cannot set the NIC IP address to None on a routed NIC if not attached"
         " to a network", "wrong_input"),
    ]
    for mods, message, code in cases:
        assert failed(rapi, _modify(rapi, "me1", nics=mods)) == ["OpPrereqError", [message, code]], mods
    assert failed(rapi, _modify(rapi, "me1", nics=[["modify", 5, {}]])) == \
        ["OpExecError", ["Got NIC index 5, but there are only 1"]]
    assert failed(rapi, _modify(rapi, "me1", nics=[["add", -1, {}]] * 8)) == \
        ["OpPrereqError", ["Instance has too many network interfaces (8), cannot add more", "wrong_state"]]
    # rlib2 (ht.TSetParamsMods(ht.TINicParams)) refuses malformed lists and unknown parameters
    for nics in ([["replace", 0, {}]], [["add", -1, {"colour": "red"}]], [["modify", {}]], [["add"]], "add"):
        r = rapi.put("/2/instances/me1/modify", json={"nics": nics})
        assert r.status_code == 400 and "OP_INSTANCE_SET_PARAMS.nics" in r.json()["message"], nics
    # Ganeti 3.1 dropped hotplug_if_possible (hotplug is the default): an unknown parameter
    r = rapi.put("/2/instances/me1/modify", json={"nics": [["add", -1, {}]], "hotplug_if_possible": True})
    assert r.status_code == 400 and "hotplug_if_possible" in r.json()["message"]
    # nothing was kept by the failed jobs: the instance still has its one NIC, its MAC alone
    assert len(_nics(rapi, "me1")["nic.macs"]) == 1


def test_hotplug_only_on_a_running_instance(rapi, cluster):
    succeeded(rapi, rapi.create("hp1"))
    # marked up but not running: the hypervisor refuses, the change is made without hotplug
    cluster.cluster.set_running(cluster.instances["hp1"], False)
    job = succeeded(rapi, _modify(rapi, "hp1", nics=[["add", -1, {}]]))
    assert log_messages(job) == [" - WARNING: Hotplug is not supported: Instance is probably down",
                         " - INFO: Modification will take place without hotplugging."]
    assert job["ops"][0]["hotplug"] is False and len(job["opresult"][0]) == 1
    # marked down: no hotplug, no word about it
    succeeded(rapi, rapi.put("/2/instances/hp1/shutdown").json())
    job = succeeded(rapi, _modify(rapi, "hp1", nics=[["remove", -1, {}]], hotplug=True))
    assert log_messages(job) == [] and job["opresult"][0] == [["NIC/1", "remove"]]
    # running, hotplug turned off: the configuration changes at once (the guest sees it at
    # its next restart; the simulator has no other view than the configuration)
    succeeded(rapi, rapi.put("/2/instances/hp1/startup").json())
    job = succeeded(rapi, _modify(rapi, "hp1", nics=[["add", -1, {"mode": "routed", "link": "rt", "ip": "192.0.2.50"}]],
                            hotplug=False))
    assert log_messages(job) == [] and [e[1] for e in job["opresult"][0]] == \
        ["add:mac=%s,ip=192.0.2.50,mode=routed,link=rt,network=None" % _nics(rapi, "hp1")["nic.macs"][1]]
    inst = rapi.get("/2/instances/hp1").json()
    assert inst["status"] == "running" and inst["nic.ips"] == [None, "192.0.2.50"]


def test_concurrent_pool_nics_get_distinct_addresses(fleet):
    # WConfd's temporary reservations: an address a running job holds is not handed to another
    cluster = fleet.clusters[1]
    from .conftest import PASSWORD, USER, Client
    rapi = Client(cluster.url, (USER, PASSWORD))
    _network(rapi)
    names = [f"cc{i}" for i in range(4)]
    for n in names:
        succeeded(rapi, rapi.create(n, memory=256))
    cluster.queue.job_duration = 0.3
    jobs = [_modify(rapi, n, nics=[["add", -1, {"network": "pub", "ip": "pool"}]]) for n in names]
    for j in jobs:
        succeeded(rapi, j)
    ips = [_nics(rapi, n)["nic.ips"][1] for n in names]
    assert sorted(ips) == ["10.0.0.2", "10.0.0.3", "10.0.0.4", "10.0.0.5"]
