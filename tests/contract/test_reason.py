"""The reason trail: every write the client makes carries the caller's reason into the job."""
from __future__ import annotations

import pytest

from .conftest import spec

REASON = "orchestrator:op:42"

WRITES = {
    "create_instance": lambda c: c.create_instance(spec("r1"), reason=REASON),
    "delete_instance": lambda c: c.delete_instance("r1", reason=REASON),
    "instance_info": lambda c: c.instance_info("r1", reason=REASON),
    "startup": lambda c: c.startup("r1", reason=REASON),
    "shutdown": lambda c: c.shutdown("r1", reason=REASON, timeout=10),
    "reboot": lambda c: c.reboot("r1", reboot_type="hard", reason=REASON),
    "modify": lambda c: c.modify("r1", beparams={"vcpus": 2}, reason=REASON),
    "add_nic": lambda c: c.add_nic("r1", {"name": "eth9"}, reason=REASON),
    "remove_nic": lambda c: c.remove_nic("r1", "eth9", reason=REASON),
    "rename_instance": lambda c: c.rename_instance("r1", "r2", name_check=False, reason=REASON),
    "add_instance_tags": lambda c: c.add_instance_tags("r1", ["a"], reason=REASON),
    "delete_instance_tags": lambda c: c.delete_instance_tags("r1", ["a"], reason=REASON),
    "create_network": lambda c: c.create_network("rn", "10.5.0.0/24", reason=REASON),
    "delete_network": lambda c: c.delete_network("rn", reason=REASON),
    "connect_network": lambda c: c.connect_network("rn", "default", "bridged", "br0", reason=REASON),
    "disconnect_network": lambda c: c.disconnect_network("rn", "default", reason=REASON),
    "modify_network": lambda c: c.modify_network("rn", mac_prefix="aa:00:03", reason=REASON),
}


@pytest.mark.parametrize("write", sorted(WRITES))
def test_reason_reaches_the_job(client, write):
    """rapi.rst: "Generic parameters" (``reason``, lib/rapi/client.py _AppendReason): the
    reason is the first entry of each opcode's reason trail, then rlib2's own, so a job is
    found again by the operation that submitted it (one bulk ``/2/jobs`` call)."""
    job_id = WRITES[write](client)
    assert isinstance(job_id, int)
    op = client.job(job_id)["ops"][0]
    source, text, stamp = op["reason"][0]
    assert (source, text) == ("gnt:user", REASON) and isinstance(stamp, int)
    assert op["reason"][1][0].startswith("gnt:library:rlib2")
    found = [j["id"] for j in client.jobs() if any(e[1] == REASON for o in j["ops"] for e in o["reason"])]
    assert found == [job_id]


def test_no_reason_no_user_entry(client):
    """rapi.rst: "Generic parameters": without a reason only Ganeti's own sources are recorded."""
    op = client.job(client.startup("r3"))["ops"][0]
    assert all(not e[0].startswith("gnt:user") for e in op["reason"])
