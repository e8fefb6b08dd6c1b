"""How the client encodes ``depends``, NIC parameters and NIC modifications, and what the
network calls send: every OP_NETWORK_* resource takes ``depends`` in its body
(baserlib.OpcodeResource._GetDepends), the delete as a DELETE body."""
from __future__ import annotations

import pytest

from orchestrator.rapi import JobFailed, RapiBadRequest, job_depends, nic_params

from .conftest import done, make_instance, spec


# --- depends ----------------------------------------------------------------------------

def test_job_depends_encoding():
    """rapi.rst: "Generic parameters": ``depends`` as every opcode takes it; Types.JobDependency:
    [job_id, [final statuses]]; a bare id must succeed."""
    assert job_depends(None) is None and job_depends([]) is None
    assert job_depends([7, (8, ["success", "error"]), [9, []], (10, ("canceled",))]) == [
        [7, ["success"]], [8, ["success", "error"]], [9, []], [10, ["canceled"]]]
    assert job_depends(iter([3])) == [[3, ["success"]]]


@pytest.mark.parametrize("bad", ["5", 5, {5: []}, [True], [-1], ["5"], [(5, "success")], [(5, ["running"])],
                                 [(5,)], [(5, [], [])], [5.0]])
def test_job_depends_refused(bad):
    """rapi.rst: "Generic parameter types": what BuildJobDepCheck refuses (a 400 from rlib2) is refused
    before sending, and so are relative (negative) ids, which across separate submissions name
    someone else's job."""
    with pytest.raises((TypeError, ValueError)):
        job_depends(bad)


def test_bad_depends_sends_nothing(client, cluster):
    """rapi.rst: ``/2/networks`` POST and ``/2/instances`` POST: a ``depends`` the opcode check would
    refuse is refused before any request is sent."""
    with pytest.raises(ValueError):
        client.create_network("n", "10.0.0.0/28", depends=[-1])
    with pytest.raises(ValueError):
        client.create_instance(spec("x"), depends=[(1, ["queued"])])
    assert cluster.app.count("POST", "/2/networks") == 0 and cluster.app.count("POST", "/2/instances") == 0


def test_depends_on_every_network_call(client):
    """rapi.rst: ``/2/networks``, ``/2/networks/[network_name]/connect``,
    ``/2/networks/[network_name]/modify``, ``/2/networks/[network_name]/disconnect`` and
    ``/2/networks/[network_name]``: create, connect, modify, disconnect and delete each carry
    ``depends`` to the opcode."""
    gate = client.create_network("gate", "10.9.0.0/28")
    calls = [
        ("OP_NETWORK_ADD", lambda d: client.create_network("n1", "10.0.0.0/28", depends=d)),
        ("OP_NETWORK_CONNECT", lambda d: client.connect_network("n1", "default", "routed", "rt1", depends=d)),
        ("OP_NETWORK_SET_PARAMS", lambda d: client.modify_network("n1", mac_prefix="aa:00:05", depends=d)),
        ("OP_NETWORK_DISCONNECT", lambda d: client.disconnect_network("n1", "default", depends=d)),
        ("OP_NETWORK_REMOVE", lambda d: client.delete_network("n1", depends=d)),
    ]
    previous = gate
    for op_id, call in calls:
        job_id = call([previous])
        op = client.job(job_id)["ops"][0]
        assert op["OP_ID"] == op_id and op["depends"] == [[previous, ["success"]]]
        previous = job_id
    job = done(client, previous)
    assert job["start_ts"] >= client.job(previous - 1)["end_ts"]
    assert client.networks(bulk=False) == ["gate"]


def test_no_depends_no_body_key(client):
    """rapi.rst: ``/2/networks`` POST and ``/2/networks/[network_name]`` DELETE: without dependencies
    nothing is sent: the opcode's depends stays None."""
    op = client.job(client.create_network("n2", "10.0.0.0/28"))["ops"][0]
    assert op["depends"] is None
    op = client.job(client.delete_network("n2"))["ops"][0]
    assert op["depends"] is None


# --- networks' bodies --------------------------------------------------------------------

def test_create_network_body(client):
    """rapi.rst: ``/2/networks`` POST: OP_NETWORK_ADD's names: network_name, add_reserved_ips (a list,
    or a comma-separated string as Ganeti's client takes it, never split into letters),
    conflicts_check, tags."""
    job = done(client, client.create_network("b1", "10.0.0.0/28", gateway="10.0.0.1",
                                              add_reserved_ips="10.0.0.5, 10.0.0.6", tags="a,b",
                                              conflicts_check=False))
    op = job["ops"][0]
    assert op["network_name"] == "b1" and op["add_reserved_ips"] == ["10.0.0.5", "10.0.0.6"]
    assert op["tags"] == ["a", "b"] and op["conflicts_check"] is False
    net = client.network("b1")
    assert net["reserved_count"] == 5 and net["tags"] == ["a", "b"]
    done(client, client.modify_network("b1", remove_reserved_ips="10.0.0.6"))
    assert client.network("b1")["reserved_count"] == 4


def test_connect_network_body(client):
    """rapi.rst: ``/2/networks/[network_name]/connect`` PUT: OP_NETWORK_CONNECT's names: group_name,
    network_mode, network_link, network_vlan, conflicts_check; a mode outside NIC_VALID_MODES is
    rlib2's 400."""
    done(client, client.create_network("c1", "10.0.0.0/28"))
    job = done(client, client.connect_network("c1", "default", "openvswitch", "ovs0", "100",
                                              conflicts_check=False))
    op = job["ops"][0]
    assert (op["group_name"], op["network_mode"], op["network_link"], op["network_vlan"]) == \
        ("default", "openvswitch", "ovs0", "100")
    assert op["conflicts_check"] is False
    assert [list(g[:3]) for g in client.network("c1")["group_list"]] == [["default", "openvswitch", "ovs0"]]
    with pytest.raises(RapiBadRequest):
        client.connect_network("c1", "default", "tunnel", "x")


def test_connect_refuses_conflicting_addresses(client):
    """rapi.rst: ``/2/networks/[network_name]/connect`` PUT: conflicts_check (the default): NICs of the
    group's instances already using addresses in the network refuse the connect (wrong_state);
    without the check it connects."""
    make_instance(client, "old1", nics=[{"mode": "routed", "link": "rt0", "ip": "10.4.0.5"}])
    done(client, client.create_network("c2", "10.4.0.0/28"))
    with pytest.raises(JobFailed) as err:
        done(client, client.connect_network("c2", "default", "bridged", "br0"))
    assert err.value.ecode == "wrong_state" and "Conflicting IP addresses" in err.value.message
    done(client, client.connect_network("c2", "default", "bridged", "br0", conflicts_check=False))


# --- NIC parameters and modifications ----------------------------------------------------

def test_nic_params():
    """rapi.rst: ``/2/instances`` POST: the NIC dicts of OP_INSTANCE_CREATE's ``nics`` (and of
    OP_INSTANCE_SET_PARAMS's changes): only what is set; what Ganeti would refuse at once."""
    assert nic_params() == {}
    assert nic_params(network="pub", ip="pool", mac="generate", name="eth0") == {
        "network": "pub", "ip": "pool", "mac": "generate", "name": "eth0"}
    assert nic_params(mode="routed", link="rt1", ip="10.0.0.9", vlan=".100") == {
        "mode": "routed", "link": "rt1", "ip": "10.0.0.9", "vlan": ".100"}
    for bad in (dict(network="pub", mode="bridged"), dict(network="pub", link="br0"), dict(ip="pool"),
                dict(name="1"), dict(name="-1")):
        with pytest.raises(ValueError):
            nic_params(**bad)
    with pytest.raises(TypeError):
        nic_params(vlan=100)


def test_nic_modifications_refused_before_sending(client, cluster):
    """rapi.rst: ``/2/instances/[instance_name]/modify`` PUT: A numeric string would be read by Ganeti
    as an index, not a name; unknown NIC keys and ``hotplug_if_possible`` (gone in Ganeti 3.1) are
    refused without a request."""
    for call in (lambda: client.remove_nic("i1", "0"), lambda: client.remove_nic("i1", ""),
                 lambda: client.remove_nic("i1", -2), lambda: client.add_nic("i1", {"netwrok": "pub"}),
                 lambda: client.add_nic("i1", {}, index=-2),
                 lambda: client.modify("i1", nics=[["add", -1, {}]], hotplug_if_possible=True)):
        with pytest.raises(ValueError):
            call()
    with pytest.raises(TypeError):
        client.remove_nic("i1", 1.0)
    assert cluster.app.count("PUT", "/2/instances/i1/modify") == 0


def test_hotplug_if_possible_is_refused_by_ganeti_3_1(client):
    """rapi.rst: ``/2/instances/[instance_name]/modify`` PUT: what the client never sends: Ganeti 3.1's
    OP_INSTANCE_SET_PARAMS has no hotplug_if_possible, so rlib2 answers it with a 400."""
    make_instance(client, "hp3")
    with pytest.raises(RapiBadRequest) as err:
        client._request("PUT", "/2/instances/hp3/modify", body={"nics": [["add", -1, {}]],
                                                                  "hotplug_if_possible": True})
    assert "hotplug_if_possible" in err.value.message


def test_nic_by_index_and_at_an_index(client):
    """rapi.rst: ``/2/instances/[instance_name]/modify`` PUT: NICs may also be named by index: add at
    index 0, remove the last (-1)."""
    make_instance(client, "ix1", nics=[nic_params(name="a")])
    done(client, client.add_nic("ix1", nic_params(name="b"), index=0))
    assert client.instance("ix1")["nic.names"] == ["b", "a"]
    job = done(client, client.remove_nic("ix1", -1))
    assert job["ops"][0]["nics"] == [["remove", -1, {}]]
    assert client.instance("ix1")["nic.names"] == ["b"]


def test_add_nic_dry_run_and_hotplug_off(client):
    """rapi.rst: ``/2/instances/[instance_name]/modify`` PUT: ``dry_run`` travels in the body (the
    resource takes no query arguments): nothing changes; ``hotplug=False`` changes the configuration
    only."""
    make_instance(client, "dr2")
    job = done(client, client.add_nic("dr2", nic_params(name="eth1"), dry_run=True))
    assert job["ops"][0]["dry_run"] is True and len(client.instance("dr2")["nic.macs"]) == 1
    job = done(client, client.add_nic("dr2", nic_params(name="eth1"), hotplug=False))
    assert job["ops"][0]["hotplug"] is False and ["nic.1", "hotplug:done"] not in job["opresult"][0]
    assert client.instance("dr2")["nic.names"] == [None, "eth1"]
