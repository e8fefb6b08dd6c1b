"""The simulator's whole routing table: (path pattern, Resource), as rlib2's connector lists it.

One place to read which path serves which handler, and with what access. '*' matches
one path segment (an item, e.g. an instance name). Resource names are rlib2's class
names without R_2_, as they appear in the reason trail. Importing this module also
registers the opcodes defined outside opcodes.py (networks.py, instance_modify.py),
which jobs submitted here need.
"""
from __future__ import annotations

from . import admin
from . import constants as C
from . import handlers as h
from . import instance_modify
from . import networks as net
from .handlers import tags_resource
from .resource import Resource as R

OPCODE_MODULES = (instance_modify, net)  # imported for the opcodes they register
W = [C.RAPI_ACCESS_WRITE]  # the /sim admin resources need the write option for every method

ROUTES: tuple[tuple[str, R], ...] = (
    ("/", R("root", GET=h.get_none)),
    ("/2", R("2", GET=h.get_none)),
    ("/version", R("version", GET=h.get_version)),
    ("/2/info", R("info", GET=h.get_info)),
    ("/2/features", R("features", GET=h.get_features)),
    ("/2/os", R("os", GET=h.get_os)),
    ("/2/tags", tags_resource("tags", "cluster")),
    ("/2/nodes", R("nodes", GET=h.get_nodes)),
    ("/2/nodes/*", R("nodes_name", GET=h.get_node)),
    ("/2/nodes/*/role", R("nodes_name_role", GET=h.get_node_role, PUT=h.put_node_role)),
    ("/2/nodes/*/modify", R("nodes_name_modify", POST=h.post_node_modify)),
    ("/2/nodes/*/tags", tags_resource("nodes_name_tags", "node")),
    ("/2/groups", R("groups", GET=h.get_groups)),
    ("/2/groups/*", R("groups_name", GET=h.get_group)),
    ("/2/groups/*/tags", tags_resource("groups_name_tags", "nodegroup")),
    ("/2/instances", R("instances", GET=h.get_instances, POST=h.post_instances)),
    ("/2/instances/*", R("instances_name", GET=h.get_instance, DELETE=h.delete_instance)),
    ("/2/instances/*/info", R("instances_name_info", GET=h.get_instance_info)),
    ("/2/instances/*/reboot", R("instances_name_reboot", POST=h.post_instance_reboot)),
    ("/2/instances/*/startup", R("instances_name_startup", PUT=h.put_instance_startup)),
    ("/2/instances/*/shutdown", R("instances_name_shutdown", PUT=h.put_instance_shutdown)),
    ("/2/instances/*/reinstall", R("instances_name_reinstall", POST=h.post_instance_reinstall)),
    ("/2/instances/*/modify", R("instances_name_modify", PUT=h.put_instance_modify)),
    ("/2/instances/*/rename", R("instances_name_rename", PUT=h.put_instance_rename)),
    ("/2/instances/*/tags", tags_resource("instances_name_tags", "instance")),
    ("/2/jobs", R("jobs", GET=h.get_jobs)),
    ("/2/jobs/*", R("jobs_id", GET=h.get_job, DELETE=h.delete_job)),
    # rlib2: the wait blocks and shows job details, so even its GET needs write access
    ("/2/jobs/*/wait", R("jobs_id_wait", GET=(h.get_job_wait, W))),
    ("/2/networks", R("networks", GET=net.get_networks, POST=net.post_networks)),
    ("/2/networks/*", R("networks_name", GET=net.get_network, DELETE=net.delete_network)),
    ("/2/networks/*/connect", R("networks_name_connect", PUT=net.put_network_connect)),
    ("/2/networks/*/disconnect", R("networks_name_disconnect", PUT=net.put_network_disconnect)),
    ("/2/networks/*/modify", R("networks_name_modify", PUT=net.put_network_modify)),
    ("/2/networks/*/rename", R("networks_name_rename", PUT=net.put_network_rename)),
    ("/2/networks/*/tags", tags_resource("networks_name_tags", "network")),
    # not Ganeti: the drills' admin endpoints (admin.py)
    ("/sim/faults", R("sim_faults", GET=admin.get_faults, POST=(admin.post_faults, W),
                      PUT=(admin.post_faults, W), DELETE=(admin.delete_faults, W))),
    ("/sim/state", R("sim_state", GET=admin.get_state)),
    ("/sim/meter", R("sim_meter", GET=admin.get_meter, DELETE=(admin.delete_meter, W))),
    ("/sim/down", R("sim_down", POST=(admin.post_down, W))),
    ("/sim/nodes/*", R("sim_node", POST=(admin.post_node, W))),
    ("/sim/instances", R("sim_instances", POST=(admin.post_instance, W))),
    ("/sim/instances/*", R("sim_instance", DELETE=(admin.delete_instance, W))),
    ("/sim/instances/*/crash", R("sim_instance_crash", POST=(admin.post_instance_crash, W))),
    ("/sim/instances/*/state", R("sim_instance_state", POST=(admin.post_instance_state, W))),
    ("/sim/instances/*/beparams", R("sim_instance_beparams", PUT=(admin.put_instance_beparams, W))),
)
