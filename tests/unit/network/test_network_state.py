"""The one state function for networks on backends: what each job report does to a
backend's row, by Ganeti's time, and the network's state from its rows."""
from __future__ import annotations

from orchestrator.ganeti import OP_NETWORK_ADD, OP_NETWORK_CONNECT, OP_NETWORK_DISCONNECT, OP_NETWORK_REMOVE
from orchestrator.models import BackendNetwork, Network
from orchestrator.network.state import apply_network_report, refresh_network
from orchestrator.state import JobReport


def _network(*states: str) -> Network:
    network = Network(name="pub", public=True, flavor="CUSTOM", mode="bridged", link="br0", mac_prefix="aa:00:0",
                      state="PENDING", deleted=False)
    for i, state in enumerate(states, start=1):
        network.backend_networks.append(BackendNetwork(backend_id=i, state=state))
    return network


def test_a_create_is_pending_after_the_add_and_active_after_the_connect():
    network = _network("PENDING", "PENDING")
    row, other = network.backend_networks
    assert apply_network_report(row, JobReport(7, OP_NETWORK_ADD, "queued", 0.0))
    assert (row.state, row.job_id, row.job_status) == ("PENDING", 7, "queued")
    apply_network_report(row, JobReport(7, OP_NETWORK_ADD, "success", 10.0))
    assert row.state == "PENDING"
    apply_network_report(row, JobReport(8, OP_NETWORK_CONNECT, "success", 11.0))
    assert (row.state, row.backend_time, network.state) == ("ACTIVE", 11.0, "PENDING")
    apply_network_report(other, JobReport(9, OP_NETWORK_CONNECT, "success", 12.0))
    assert network.state == "ACTIVE"


def test_a_failed_add_is_error_a_retry_pending_again_and_older_reports_are_ignored():
    network = _network("PENDING", "ACTIVE")
    row = network.backend_networks[0]
    apply_network_report(row, JobReport(3, OP_NETWORK_ADD, "error", 5.0, log_msg="no"))
    assert (row.state, network.state) == ("ERROR", "ERROR")
    apply_network_report(row, JobReport.local(OP_NETWORK_ADD, "queued"))
    assert (row.state, network.state) == ("PENDING", "PENDING")
    apply_network_report(row, JobReport(4, OP_NETWORK_CONNECT, "success", 20.0))
    assert not apply_network_report(row, JobReport(2, OP_NETWORK_CONNECT, "error", 19.0))
    assert (row.state, network.state) == ("ACTIVE", "ACTIVE")


def test_a_removal_deletes_the_row_and_a_failed_disconnect_changes_nothing():
    network = _network("ACTIVE", "ACTIVE")
    row, other = network.backend_networks
    apply_network_report(row, JobReport(5, OP_NETWORK_DISCONNECT, "error", 30.0))
    assert row.state == "ACTIVE"
    apply_network_report(row, JobReport(6, OP_NETWORK_REMOVE, "success", 31.0))
    assert (row.state, network.state) == ("DELETED", "ACTIVE")
    apply_network_report(other, JobReport(7, OP_NETWORK_REMOVE, "success", 32.0))
    assert other.state == "DELETED" and network.state == "ACTIVE"  # the last removal's finalize deletes it


def test_a_network_on_no_backend_keeps_its_state():
    network = _network()
    network.state = "ACTIVE"
    refresh_network(network)
    assert network.state == "ACTIVE"
