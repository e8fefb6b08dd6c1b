"""Cluster-level reads: version, info, features, nodes, groups."""
from __future__ import annotations

import pytest

from orchestrator.rapi import RapiNotFound

from .conftest import G_FIELDS, N_FIELDS


def test_version(client):
    """rapi.rst: ``/version`` GET answers the RAPI version, 2."""
    assert client.version() == 2


def test_info(client, cluster):
    """rapi.rst: ``/2/info`` GET returns the cluster's configuration."""
    info = client.info()
    assert info["name"] == cluster.name
    assert info["master"] in cluster.nodes
    for key in ("software_version", "protocol_version", "config_version", "os_api_version",
                "enabled_hypervisors", "default_hypervisor", "beparams", "hvparams", "candidate_pool_size"):
        assert key in info, key
    assert isinstance(info["beparams"]["default"], dict)


def test_features(client):
    """rapi.rst: ``/2/features`` GET lists instance-create-reqv1, which the product needs."""
    features = client.features()
    assert "instance-create-reqv1" in features
    assert set(features) <= {"instance-create-reqv1", "instance-reinstall-reqv1", "node-migrate-reqv1",
                             "node-evac-res1"}


def test_nodes_bulk_and_names(client, cluster):
    """rapi.rst: ``/2/nodes`` GET with bulk returns N_FIELDS per node; without, ids and uris."""
    nodes = client.nodes()
    assert sorted(n["name"] for n in nodes) == sorted(cluster.nodes)
    for node in nodes:
        assert set(node) == set(N_FIELDS)
        assert node["mfree"] <= node["mtotal"] and node["dfree"] <= node["dtotal"]
        assert node["role"] in ("M", "C", "R", "D", "O")
        assert isinstance(node["offline"], bool) and isinstance(node["drained"], bool)
    assert sorted(client.nodes(bulk=False)) == sorted(cluster.nodes)


def test_node(client, cluster):
    """rapi.rst: ``/2/nodes/[node_name]`` GET returns the node's N_FIELDS; an unknown node is a 404."""
    name = sorted(cluster.nodes)[0]
    node = client.node(name)
    assert set(node) == set(N_FIELDS) and node["name"] == name
    with pytest.raises(RapiNotFound) as err:
        client.node("nosuch.example.com")
    assert err.value.code == 404


def test_groups_and_group(client, cluster):
    """rapi.rst: ``/2/groups`` GET (bulk: G_FIELDS) and ``/2/groups/[group_name]`` GET."""
    assert client.groups(bulk=False) == ["default"]
    (group,) = client.groups()
    assert set(group) == set(G_FIELDS)
    assert sorted(group["node_list"]) == sorted(cluster.nodes) and group["node_cnt"] == len(cluster.nodes)
    single = client.group("default")
    assert single["uuid"] == group["uuid"] and set(single) == set(G_FIELDS)
    nodes = client.nodes()
    assert {n["group.uuid"] for n in nodes} == {group["uuid"]}
    with pytest.raises(RapiNotFound):
        client.group("nosuch")
