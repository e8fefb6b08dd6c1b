"""The contract suite checks itself: each test names the doc/rapi.rst section it checks, and
every public method of the client is exercised somewhere in this folder."""
from __future__ import annotations

import importlib
import inspect
import pkgutil
import re
from pathlib import Path

import tests.contract as package
from orchestrator.rapi import RapiClient

# Section headings of ganeti/ganeti doc/rapi.rst that tests may name: the resources (as
# written there) and the prose sections.
RAPI_RST_RESOURCES = {
    "/", "/2", "/version", "/2/info", "/2/redistribute-config", "/2/features", "/2/filters",
    "/2/filters/[filter_uuid]", "/2/modify", "/2/groups", "/2/groups/[group_name]",
    "/2/groups/[group_name]/modify", "/2/groups/[group_name]/rename", "/2/groups/[group_name]/assign-nodes",
    "/2/groups/[group_name]/tags", "/2/networks", "/2/networks/[network_name]",
    "/2/networks/[network_name]/modify", "/2/networks/[network_name]/connect",
    "/2/networks/[network_name]/disconnect", "/2/networks/[network_name]/tags",
    "/2/networks/[network_name]/rename", "/2/instances-multi-alloc", "/2/instances",
    "/2/instances/[instance_name]", "/2/instances/[instance_name]/info", "/2/instances/[instance_name]/reboot",
    "/2/instances/[instance_name]/shutdown", "/2/instances/[instance_name]/startup",
    "/2/instances/[instance_name]/reinstall", "/2/instances/[instance_name]/replace-disks",
    "/2/instances/[instance_name]/activate-disks", "/2/instances/[instance_name]/deactivate-disks",
    "/2/instances/[instance_name]/recreate-disks", "/2/instances/[instance_name]/disk/[disk_index]/grow",
    "/2/instances/[instance_name]/prepare-export", "/2/instances/[instance_name]/export",
    "/2/instances/[instance_name]/migrate", "/2/instances/[instance_name]/failover",
    "/2/instances/[instance_name]/rename", "/2/instances/[instance_name]/modify",
    "/2/instances/[instance_name]/console", "/2/instances/[instance_name]/tags", "/2/jobs",
    "/2/jobs/[job_id]", "/2/jobs/[job_id]/wait", "/2/nodes", "/2/nodes/[node_name]",
    "/2/nodes/[node_name]/powercycle", "/2/nodes/[node_name]/evacuate", "/2/nodes/[node_name]/migrate",
    "/2/nodes/[node_name]/role", "/2/nodes/[node_name]/modify", "/2/nodes/[node_name]/storage",
    "/2/nodes/[node_name]/storage/modify", "/2/nodes/[node_name]/storage/repair",
    "/2/nodes/[node_name]/tags", "/2/query/[resource]", "/2/query/[resource]/fields", "/2/os", "/2/tags",
}
RAPI_RST_SECTIONS = {"Introduction", "Users and passwords", "Protocol", "PUT or POST?", "Generic parameters",
                     "Generic parameter types"}


def _tests():
    for info in pkgutil.iter_modules(package.__path__):
        if info.name.startswith("test_"):
            module = importlib.import_module(f"{package.__name__}.{info.name}")
            for name, fn in inspect.getmembers(module, inspect.isfunction):
                if name.startswith("test_") and fn.__module__ == module.__name__:
                    yield f"{info.name}.{name}", fn


def test_every_test_names_its_rapi_rst_section():
    """rapi.rst: "Introduction": the contract is the document; each test says which part."""
    bad = []
    for name, fn in _tests():
        if fn is test_every_test_names_its_rapi_rst_section or fn is test_every_client_method_is_exercised:
            continue
        doc = fn.__doc__ or ""
        resources = re.findall(r"``(/[^`]*)``", doc)
        sections = re.findall(r'"([^"]+)"', doc)
        if not doc.startswith("rapi.rst: ") or not (
                any(r in RAPI_RST_RESOURCES for r in resources) or any(s in RAPI_RST_SECTIONS for s in sections)):
            bad.append(name)
        elif any(r not in RAPI_RST_RESOURCES and r.startswith("/2") and "?" not in r for r in resources):
            bad.append(name)
    assert bad == []


def test_every_client_method_is_exercised():
    """rapi.rst: "Introduction": every RAPI call the product can make is proven here."""
    source = "\n".join(p.read_text() for p in Path(package.__file__).parent.glob("test_*.py"))
    methods = [n for n, _ in inspect.getmembers(RapiClient, inspect.isfunction) if not n.startswith("_")]
    missing = [m for m in methods if m not in ("close",) and f".{m}(" not in source]
    assert missing == []
