"""The comparison rules on their own: no stack needed."""
from __future__ import annotations

from orchestrator.reconciliation import batch_size, nics_match, observed_operstate


def _inst(**fields):
    base = {"name": "snf-1", "status": "running", "oper_state": True, "nic.ips": [None],
            "nic.macs": ["aa:00:00:00:00:01"], "nic.networks": [None], "nic.networks.names": [None]}
    return {**base, **fields}


def test_batch_size_covers_everything_within_reconciliation_min():
    assert batch_size(0, 30, 1) == 0
    assert batch_size(1, 30, 1) == 1
    assert batch_size(1000, 30, 1) == 34 and 34 * 30 >= 1000
    assert batch_size(1000, 0.5, 0.1) == 200
    assert batch_size(10, 1, 5) == 50  # an interval longer than RECONCILIATION_MIN: everything each run


def test_observed_operstate():
    assert observed_operstate(_inst()) == "STARTED"
    assert observed_operstate(_inst(status="ERROR_down", oper_state=False)) == "STOPPED"
    assert observed_operstate(_inst(status="ADMIN_down", oper_state=False)) == "STOPPED"
    assert observed_operstate(_inst(status="ERROR_up", oper_state=True)) == "STARTED"
    # The node gives no data: unknown, not "stopped".
    assert observed_operstate(_inst(status="ERROR_nodeoffline", oper_state=None)) is None
    assert observed_operstate(_inst(status="ERROR_nodedown", oper_state=None)) is None


def test_nics_match_compares_ips_macs_and_networks():
    db = [{"index": 0, "ip": None, "mac": "aa:00:00:00:00:01", "network": None}]
    assert nics_match(db, _inst())
    assert nics_match([{**db[0], "mac": "AA:00:00:00:00:01"}], _inst())  # MACs compare case-blind
    assert not nics_match([], _inst())  # the database does not know the NIC
    assert not nics_match(db, _inst(**{"nic.ips": ["10.0.0.2"]}))
    assert not nics_match(db, _inst(**{"nic.macs": ["aa:00:00:00:00:02"]}))
    assert not nics_match(db, _inst(**{"nic.networks.names": ["public"], "nic.networks": ["uuid-1"]}))
    on_net = [{"index": 0, "ip": "10.0.0.2", "mac": "aa:00:00:00:00:01", "network": "public"}]
    by_name = _inst(**{"nic.ips": ["10.0.0.2"], "nic.networks.names": ["public"], "nic.networks": ["uuid-1"]})
    assert nics_match(on_net, by_name)
    assert nics_match([{**on_net[0], "network": "uuid-1"}], by_name)  # recorded by UUID
    two = _inst(**{"nic.ips": [None, "10.0.0.3"], "nic.macs": ["aa:00:00:00:00:01", "aa:00:00:00:00:02"],
                   "nic.networks": [None, None], "nic.networks.names": [None, None]})
    listed = [{"index": 1, "ip": "10.0.0.3", "mac": "aa:00:00:00:00:02", "network": None}, db[0]]
    assert nics_match(listed, two)  # by index, whatever the stored order
    assert not nics_match(db, two)  # a NIC added behind the back
