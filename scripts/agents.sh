#!/usr/bin/env bash
# The node agents of the one-machine stack (the Procfile's `agents` line):
#
#   - installs the NIC post hook (instance-add, instance-modify) in the hooks directory
#     the simulator runs hooks from, with the broker URL and spool directory baked in
#     (Ganeti runs hooks with little more than GANETI_* in the environment);
#   - starts one `node-agent watch-queue` per simulated cluster, following the job files
#     `ganeti-sim` writes to <SIM_STATE_DIR>/cluster<n>.sim.local/queue/job-<id>;
#   - waits for them: when one ends the others are stopped and the script exits with its
#     status (honcho then stops the stack); SIGTERM/SIGINT stop them all.
#
# Settings, as scripts/run.sh and the Procfile's `sim` line read them: SIM_CLUSTERS (2),
# SIM_STATE_DIR (var/sim), SIM_HOOKS_DIR (var/hooks), NODE_AGENT_SPOOL_DIR
# (var/node-agent), NODE_AGENT_INTERVAL (0.5 seconds between scans), CELERY_BROKER_URL.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$(pwd)

CLUSTERS=${SIM_CLUSTERS:-2}
STATE_DIR=${SIM_STATE_DIR:-var/sim}
HOOKS_DIR=${SIM_HOOKS_DIR:-var/hooks}
INTERVAL=${NODE_AGENT_INTERVAL:-0.5}
export NODE_AGENT_SPOOL_DIR=${NODE_AGENT_SPOOL_DIR:-$ROOT/var/node-agent}
AGENT="$ROOT/.venv/bin/node-agent"

[ -x "$AGENT" ] || { echo "agents.sh: $AGENT is missing; run 'make run' (or scripts/bootstrap.sh)" >&2; exit 1; }

"$AGENT" install-hooks --hooks-dir "$HOOKS_DIR" --spool-dir "$NODE_AGENT_SPOOL_DIR"

pids=()
stop_all() {
    trap - TERM INT
    [ ${#pids[@]} -eq 0 ] || kill -TERM "${pids[@]}" 2>/dev/null || true
    wait 2>/dev/null || true
}
trap 'stop_all; exit 0' TERM INT

for ((n = 1; n <= CLUSTERS; n++)); do
    name="cluster$n.sim.local"
    "$AGENT" watch-queue --cluster "$name" --queue-dir "$STATE_DIR/$name/queue" --interval "$INTERVAL" &
    pids+=("$!")
done
echo "agents.sh: ${#pids[@]} agent(s) watching $STATE_DIR/cluster{1..$CLUSTERS}.sim.local/queue; hooks in $HOOKS_DIR"

set +e
wait -n
status=$?
echo "agents.sh: an agent exited with status $status; stopping the others" >&2
stop_all
exit "$status"
