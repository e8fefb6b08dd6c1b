"""Instances on Ganeti networks: a network added, connected to every node group, instances
created on it (ip=pool, a given MAC) once those jobs are done (``depends``), NICs hot-added
and removed by name; and the failures the product must see as failed jobs."""
from __future__ import annotations

import pytest

from orchestrator.rapi import JobFailed, RapiNotFound, nic_params

from .conftest import done, make_instance, spec, wait_status

CIDR, GATEWAY, PREFIX = "10.0.0.0/28", "10.0.0.1", "aa:00:01"


def network_everywhere(client, name: str, cidr: str = CIDR, link: str = "br100", **kw) -> tuple[int, list[int]]:
    """Submit a network's add and, depending on it, its connect to every node group (bridged
    on `link`): (the add's job id, the connects' job ids). Nothing is waited for."""
    add = client.create_network(name, cidr, **kw)
    connects = [client.connect_network(name, group, "bridged", link, depends=[add])
                for group in client.groups(bulk=False)]
    return add, connects


def test_network_add_connect_create_on_pool(client):
    """rapi.rst: ``/2/networks`` POST, ``/2/networks/[network_name]/connect`` PUT and ``/2/instances``
    POST: the slice's flow: OP_NETWORK_ADD, OP_NETWORK_CONNECT to every group (each depending on the
    add), OP_INSTANCE_CREATE with a NIC on the network (``ip: pool``, a given MAC and a name)
    depending on the connects, all submitted at once; the instance's query fields (rlib2.I_FIELDS)
    show the NIC on the network."""
    add, connects = network_everywhere(client, "pub", gateway=GATEWAY, mac_prefix=PREFIX)
    assert connects  # the cluster has node groups
    mac = "aa:00:01:00:00:42"
    nic = nic_params(network="pub", ip="pool", mac=mac, name="eth0")
    create = client.create_instance(spec("vmnet", nics=[nic]), depends=connects)
    job = done(client, create)
    op = job["ops"][0]
    assert op["depends"] == [[c, ["success"]] for c in connects]
    assert op["nics"][0]["network"] == "pub" and op["nics"][0]["name"] == "eth0"
    for connect in connects:
        connected = client.job(connect)
        assert connected["status"] == "success" and connected["ops"][0]["depends"] == [[add, ["success"]]]
        assert job["start_ts"] >= connected["end_ts"]  # it only ran once they had ended
    inst = client.instance("vmnet")
    assert inst["nic.networks.names"] == ["pub"] and inst["nic.names"] == ["eth0"]
    assert inst["nic.ips"] == ["10.0.0.2"]  # the pool's first free address (.0, .1 and .15 are reserved)
    assert inst["nic.macs"] == [mac] and inst["nic.modes"] == ["bridged"] and inst["nic.links"] == ["br100"]
    net = client.network("pub")
    assert net["inst_list"] == ["vmnet"] and net["free_count"] == 12
    assert sorted(g[0] for g in net["group_list"]) == sorted(client.groups(bulk=False))


def test_dependent_jobs_stay_queued(make_cluster, make_client):
    """rapi.rst: ``/2/jobs/[job_id]`` GET: luxid's scheduler keeps a job queued while a job it depends
    on is queued or running (JQScheduler.jobEligible): the create waits for the connect, which waits
    for the add."""
    slow = make_cluster(job_duration=0.3)
    client = make_client(url=slow.url)
    add, connects = network_everywhere(client, "pub")
    create = client.create_instance(spec("vmq", nics=[nic_params(network="pub", ip="pool")]), depends=connects)
    wait_status(client, add, "running")
    for job_id in connects + [create]:
        job = client.job(job_id)
        assert job["status"] == "queued" and job["start_ts"] is None
    done(client, create)
    assert client.instance("vmq")["nic.networks.names"] == ["pub"]


def test_hot_add_and_remove_nic_by_name(client):
    """rapi.rst: ``/2/instances/[instance_name]/modify`` PUT with ``nics: [["add", -1, {...}]]`` and
    ``hotplug``: a running instance gets a second NIC, on another network whose connect the change
    depends on, hotplugged ("hotplug:done"); then ``[["remove", "<name>", {}]]`` removes it by name
    and its address goes back to the pool. Ganeti 3.1's parameters: ``hotplug`` and never
    ``hotplug_if_possible``."""
    _, connects = network_everywhere(client, "pub")
    done(client, client.create_instance(spec("hp1", nics=[nic_params(network="pub", ip="pool", name="eth0")]),
                                        depends=connects))
    assert client.instance("hp1")["status"] == "running"
    _, priv = network_everywhere(client, "priv", "10.1.0.0/28", link="br200")
    mac = "aa:00:02:00:00:07"
    job = done(client, client.add_nic("hp1", nic_params(network="priv", ip="pool", mac=mac, name="eth1"),
                                      depends=priv, reason="orchestrator:op:9"))
    op = job["ops"][0]
    assert op["OP_ID"] == "OP_INSTANCE_SET_PARAMS" and op["hotplug"] is True
    assert "hotplug_if_possible" not in op and op["depends"] == [[c, ["success"]] for c in priv]
    assert [m[:2] for m in op["nics"]] == [["add", -1]] and op["nics"][0][2]["name"] == "eth1"
    assert ["nic.1", "hotplug:done"] in job["opresult"][0]
    inst = client.instance("hp1")
    assert inst["nic.names"] == ["eth0", "eth1"] and inst["nic.networks.names"] == ["pub", "priv"]
    assert inst["nic.ips"] == ["10.0.0.1", "10.1.0.1"]  # no gateways: .1 is the first free address
    assert inst["nic.macs"][1] == mac
    assert inst["nic.links"] == ["br100", "br200"]
    assert client.network("priv")["inst_list"] == ["hp1"] and client.network("priv")["free_count"] == 13

    job = done(client, client.remove_nic("hp1", "eth1"))
    assert job["ops"][0]["nics"] == [["remove", "eth1", {}]] and job["ops"][0]["hotplug"] is True
    assert job["opresult"][0] == [["NIC/1", "remove"], ["NIC/1", "hotplug:done"]]
    inst = client.instance("hp1")
    assert inst["nic.names"] == ["eth0"] and inst["nic.networks.names"] == ["pub"]
    net = client.network("priv")
    assert net["inst_list"] == [] and net["free_count"] == 14  # /28 less network and broadcast


def test_add_nic_to_a_stopped_instance_changes_only_the_config(client):
    """rapi.rst: ``/2/instances/[instance_name]/modify`` PUT: ganeti 3.1's ``hotplug`` (the default) on
    an instance not marked up: no hotplug, no failure (LUInstanceSetParams: the opcode's hotplug
    becomes false); the NIC is in the configuration for the next start."""
    _, connects = network_everywhere(client, "pub")
    done(client, client.create_instance(spec("down1", start=False), depends=connects))
    job = done(client, client.add_nic("down1", nic_params(network="pub", ip="pool", name="eth1")))
    assert job["ops"][0]["hotplug"] is False
    assert all(entry[1] != "hotplug:done" for entry in job["opresult"][0])
    assert client.instance("down1")["nic.names"] == [None, "eth1"]
    job = done(client, client.remove_nic("down1", "eth1"))
    assert job["opresult"][0] == [["NIC/1", "remove"]]


def test_create_whose_network_job_failed_ends_in_error(client):
    """rapi.rst: ``/2/instances`` POST and ``/2/jobs/[job_id]`` GET: ``depends`` with ["success"]: the
    network's add fails (a /31 is too small for a pool, OpExecError), so the connect that depends on
    it fails with Ganeti's "Dependency job N finished with status 'error'" and so does the create
    that depends on the connect; the client raises JobFailed with that message and no instance
    exists."""
    add, connects = network_everywhere(client, "tiny", "10.7.0.0/31")
    create = client.create_instance(spec("nonet", nics=[nic_params(network="tiny", ip="pool")]),
                                    depends=connects)
    with pytest.raises(JobFailed) as err:
        done(client, add)
    assert err.value.error_class == "OpExecError" and "Cannot create IP address pool" in err.value.message
    for connect in connects:
        with pytest.raises(JobFailed) as err:
            done(client, connect)
        assert err.value.error_class == "OpExecError"
        assert f"Dependency job {add} finished with status 'error'" in err.value.message
    with pytest.raises(JobFailed) as err:
        done(client, create)
    assert err.value.job_id == create and err.value.status == "error" and err.value.error_class == "OpExecError"
    assert f"Dependency job {connects[-1]} finished with status 'error', not one of 'success'" in err.value.message
    with pytest.raises(RapiNotFound):
        client.instance("nonet")


def test_canceled_dependency_cancels_the_create(make_cluster, make_client):
    """rapi.rst: ``/2/jobs/[job_id]`` DELETE: A dependency canceled while "canceled" is not accepted
    cancels the job (jqueue._CheckDependencies): JobFailed with the canceled status."""
    slow = make_cluster(job_duration=0.3)
    client = make_client(url=slow.url)
    add, connects = network_everywhere(client, "pub")
    create = client.create_instance(spec("cx", nics=[nic_params(network="pub", ip="pool")]), depends=connects)
    ok, _ = client.cancel_job(connects[0])
    assert ok is True
    with pytest.raises(JobFailed) as err:
        done(client, create)
    assert err.value.status == "canceled" and err.value.job_id == create
    done(client, add)


def test_address_in_use_fails_the_job(client):
    """rapi.rst: ``/2/instances`` POST and ``/2/instances/[instance_name]/modify`` PUT: A named address
    already used in the network fails the job (OpPrereqError, resource_not_unique), surfaced by the
    client as JobFailed with Ganeti's message: at create ("IP address ... already in use or does not
    belong to network ...") and at a NIC's hot-add ("IP ... not available in network ..."); so does
    a MAC in use."""
    _, connects = network_everywhere(client, "pub")
    done(client, client.create_instance(spec("ip1", nics=[nic_params(network="pub", ip="pool")]),
                                        depends=connects))
    used_ip, used_mac = client.instance("ip1")["nic.ips"][0], client.instance("ip1")["nic.macs"][0]
    with pytest.raises(JobFailed) as err:
        done(client, client.create_instance(spec("ip2", nics=[nic_params(network="pub", ip=used_ip)],
                                                 conflicts_check=True)))
    assert err.value.error_class == "OpPrereqError" and err.value.ecode == "resource_not_unique"
    assert err.value.message == (f"OpPrereqError: IP address {used_ip} already in use or does not belong"
                                 " to network pub")
    with pytest.raises(RapiNotFound):
        client.instance("ip2")
    make_instance(client, "ip3", nics=[nic_params(network="pub", ip="pool")])
    with pytest.raises(JobFailed) as err:
        done(client, client.add_nic("ip3", nic_params(network="pub", ip=used_ip)))
    assert err.value.ecode == "resource_not_unique"
    assert f"IP {used_ip} not available in network pub" in err.value.message
    with pytest.raises(JobFailed) as err:
        done(client, client.add_nic("ip3", nic_params(network="pub", ip="pool", mac=used_mac)))
    assert err.value.ecode == "resource_not_unique" and "already in use in cluster" in err.value.message
    assert len(client.instance("ip3")["nic.ips"]) == 1  # neither change was made


def test_pool_exhausted_fails_the_job(client):
    """rapi.rst: ``/2/instances/[instance_name]/modify`` PUT: A /29 holds 5 addresses for instances
    once network, broadcast and gateway are reserved: the next ``ip: pool`` fails (OpPrereqError,
    "Unable to get a free IP")."""
    _, connects = network_everywhere(client, "small", "10.2.0.0/29", gateway="10.2.0.1")
    for c in connects:
        done(client, c)
    make_instance(client, "full", nics=[nic_params(network="small", ip="pool")] * 5)
    assert client.network("small")["free_count"] == 0
    with pytest.raises(JobFailed) as err:
        done(client, client.add_nic("full", nic_params(network="small", ip="pool")))
    assert err.value.error_class == "OpPrereqError" and "free IP" in err.value.message
