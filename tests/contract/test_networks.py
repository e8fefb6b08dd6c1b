"""Networks: the product's private and public networks as Ganeti network objects."""
from __future__ import annotations

import pytest

from orchestrator.rapi import JobFailed, RapiNotFound

from .conftest import NET_FIELDS, done, make_instance


def _net(client, name="net1", **kw):
    kw.setdefault("gateway", "10.0.0.1")
    done(client, client.create_network(name, "10.0.0.0/28", **kw))
    return client.network(name)


def test_networks_bulk_and_names(client):
    """rapi.rst: ``/2/networks`` GET: names and uris; with bulk, NET_FIELDS of every network."""
    assert client.networks() == [] and client.networks(bulk=False) == []
    _net(client, "net1")
    _net(client, "net2")
    assert client.networks(bulk=False) == ["net1", "net2"]
    bulk = client.networks()
    assert [n["name"] for n in bulk] == ["net1", "net2"]
    assert all(set(n) == set(NET_FIELDS) for n in bulk)


def test_create_network(client):
    """rapi.rst: ``/2/networks`` POST (OP_NETWORK_ADD): the pool reserves the network, broadcast
    and gateway addresses, as the doc's example of 10.0.0.0/28 shows."""
    job = done(client, client.create_network("nat", "10.0.0.0/28", gateway="10.0.0.1", tags=["nfdhcpd"],
                                              mac_prefix="aa:00:01"))
    assert job["ops"][0]["OP_ID"] == "OP_NETWORK_ADD" and job["ops"][0]["network_name"] == "nat"
    net = client.network("nat")
    assert net["network"] == "10.0.0.0/28" and net["gateway"] == "10.0.0.1"
    assert net["free_count"] == 13 and net["reserved_count"] == 3 and net["map"] == "XX.............X"
    assert net["tags"] == ["nfdhcpd"] and net["mac_prefix"] == "aa:00:01"
    assert net["group_list"] == [] and net["inst_list"] == []


def test_create_network_dry_run_and_exists(client):
    """rapi.rst: ``/2/networks`` POST with ``dry-run`` creates nothing; a second network of the
    same name fails with already_exists."""
    done(client, client.create_network("dr1", "10.9.0.0/24", dry_run=True))
    assert client.networks(bulk=False) == []
    _net(client, "dup")
    with pytest.raises(JobFailed) as err:
        done(client, client.create_network("dup", "10.8.0.0/24"))
    assert err.value.ecode == "already_exists" and "dup" in err.value.message


def test_network(client):
    """rapi.rst: ``/2/networks/[network_name]`` GET: NET_FIELDS; an unknown network is a 404."""
    net = _net(client, "one")
    assert set(net) == set(NET_FIELDS) and net["name"] == "one" and net["uuid"]
    with pytest.raises(RapiNotFound):
        client.network("nosuch")


def test_connect_and_instances_on_network(client):
    """rapi.rst: ``/2/networks/[network_name]/connect`` PUT maps a network to a node group
    (mode, link); NICs on it then draw addresses from its pool (ip=pool)."""
    _net(client, "pub")
    job = done(client, client.connect_network("pub", "default", "bridged", "br100"))
    assert job["ops"][0]["OP_ID"] == "OP_NETWORK_CONNECT"
    group_list = client.network("pub")["group_list"]
    assert [list(g[:3]) for g in group_list] == [["default", "bridged", "br100"]]
    inst = make_instance(client, "vmnet", nics=[{"network": "pub", "ip": "pool"}])
    assert inst["nic.networks.names"] == ["pub"] and inst["nic.links"] == ["br100"]
    assert inst["nic.ips"][0].startswith("10.0.0.") and inst["nic.ips"][0] != "10.0.0.1"
    net = client.network("pub")
    assert net["inst_list"] == ["vmnet"] and net["free_count"] == 12
    # The network is in use: disconnecting it fails until the instance is gone.
    with pytest.raises(JobFailed) as err:
        done(client, client.disconnect_network("pub", "default"))
    assert err.value.ecode == "wrong_state"
    done(client, client.delete_instance("vmnet"))
    assert client.network("pub")["free_count"] == 13


def test_disconnect_network(client):
    """rapi.rst: ``/2/networks/[network_name]/disconnect`` PUT unmaps it from the group."""
    _net(client, "priv")
    done(client, client.connect_network("priv", "default", "routed", "rt_priv"))
    job = done(client, client.disconnect_network("priv", "default"))
    assert job["ops"][0]["OP_ID"] == "OP_NETWORK_DISCONNECT"
    assert client.network("priv")["group_list"] == []


def test_modify_network(client):
    """rapi.rst: ``/2/networks/[network_name]/modify`` PUT (OP_NETWORK_SET_PARAMS): reserve and
    release addresses, change the MAC prefix."""
    _net(client, "mnet")
    job = done(client, client.modify_network("mnet", add_reserved_ips=["10.0.0.5", "10.0.0.6"],
                                              mac_prefix="aa:00:02"))
    assert job["ops"][0]["OP_ID"] == "OP_NETWORK_SET_PARAMS"
    net = client.network("mnet")
    assert net["reserved_count"] == 5 and net["mac_prefix"] == "aa:00:02"
    done(client, client.modify_network("mnet", remove_reserved_ips=["10.0.0.6"]))
    assert client.network("mnet")["reserved_count"] == 4


def test_delete_network(client):
    """rapi.rst: ``/2/networks/[network_name]`` DELETE: refused while connected, ``dry-run``
    keeps it, then it is gone."""
    _net(client, "del1")
    done(client, client.connect_network("del1", "default", "bridged", "br1"))
    with pytest.raises(JobFailed) as err:
        done(client, client.delete_network("del1"))
    assert err.value.ecode == "wrong_state" and "still connected" in err.value.message
    done(client, client.disconnect_network("del1", "default"))
    done(client, client.delete_network("del1", dry_run=True))
    assert client.network("del1")["name"] == "del1"
    done(client, client.delete_network("del1"))
    with pytest.raises(RapiNotFound):
        client.network("del1")
