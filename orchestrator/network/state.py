"""The one function that moves a network's state on a backend from a Ganeti job report,
as orchestrator/state.py does for servers.

`apply_network_report(backend_network, report)` is the only code that writes a
`backend_networks` row's state; it then sets the network's own state from its rows
(`refresh_network`): a public network is ACTIVE once every backend holding it has it
ACTIVE. The chain's submit (the jobs queued), finalize (their end), a retry (PENDING again)
and the orchestrator's own conclusions (a create that never reached its cluster: ERROR, a
`JobReport.local`) all come through here.
"""
from __future__ import annotations

import logging

from ..ganeti import OP_NETWORK_ADD, OP_NETWORK_CONNECT, OP_NETWORK_DISCONNECT, OP_NETWORK_REMOVE
from ..models import BackendNetwork, Network, NetworkState
from ..state import JobReport

log = logging.getLogger(__name__)

# The opcodes of a network's jobs: their reports (the chain's, or the agents' events, which
# name the network) come through `apply_network_report`.
NETWORK_OPCODES = frozenset({OP_NETWORK_ADD, OP_NETWORK_CONNECT, OP_NETWORK_DISCONNECT, OP_NETWORK_REMOVE})

# A backend's network after a successful opcode; opcodes absent here leave it alone. The add
# alone leaves it PENDING: the network is usable on a backend once its groups are connected.
SUCCESS_STATE = {
    OP_NETWORK_CONNECT: NetworkState.ACTIVE,
    OP_NETWORK_REMOVE: NetworkState.DELETED,
}
# Opcodes whose failure leaves the backend's network in ERROR.
FAILS_TO_ERROR = frozenset({OP_NETWORK_ADD, OP_NETWORK_CONNECT})


def apply_network_report(row: BackendNetwork, report: JobReport) -> bool:
    """Apply `report` to the backend's network `row` (and then its network); False when it
    is older than the row's state and ignored (by Ganeti's time, as for servers)."""
    if report.job_id is not None:
        row.job_id = report.job_id
        row.job_status = report.status
    if row.backend_time is not None and report.timestamp < row.backend_time:
        log.info("network=%s backend=%s job=%s ignoring %s %s older than backend time",
                 row.network_id, row.backend_id, report.job_id, report.opcode, report.status)
        return False
    if not report.is_final:
        if report.opcode == OP_NETWORK_ADD and row.state == NetworkState.ERROR.value:
            row.state = NetworkState.PENDING.value  # a failed create queued again (a retry)
    elif report.status == "success":
        new_state = SUCCESS_STATE.get(report.opcode)
        if new_state is not None:
            row.state = new_state.value
            row.backend_time = report.timestamp
    elif report.opcode in FAILS_TO_ERROR and row.state != NetworkState.DELETED.value:
        row.state = NetworkState.ERROR.value
    log.info("network=%s backend=%s job=%s %s %s -> %s", row.network_id, row.backend_id, report.job_id,
             report.opcode, report.status, row.state)
    if row.network is not None:
        refresh_network(row.network)
    return True


def refresh_network(network: Network) -> None:
    """A network held by backends takes its state from theirs: ACTIVE once all are ACTIVE,
    ERROR once none is PENDING and one is ERROR, PENDING otherwise. A private network on no
    backend (every one today) keeps the state it has; a deleted one stays deleted."""
    if network.deleted:
        return
    states = {row.state for row in network.backend_networks if row.state != NetworkState.DELETED.value}
    if not states:
        return
    if states == {NetworkState.ACTIVE.value}:
        network.state = NetworkState.ACTIVE.value
    elif NetworkState.PENDING.value in states:
        network.state = NetworkState.PENDING.value
    else:
        network.state = NetworkState.ERROR.value
