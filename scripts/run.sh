#!/usr/bin/env bash
# Start the whole stack on one machine (every Procfile process, under honcho).
#
# Settings: the environment wins, then .env (if present), then the defaults below.
# `make run` calls scripts/bootstrap.sh first; run this directly once bootstrapped.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$(pwd)

# --- settings -------------------------------------------------------------------------
# .env: KEY=VALUE lines (optionally `export KEY=VALUE`, optionally quoted), comments with #.
# A variable already set in the environment is not overridden.
if [ -f .env ]; then
    while IFS= read -r line || [ -n "$line" ]; do
        line="${line#"${line%%[![:space:]]*}"}"          # trim leading space
        [[ -z "$line" || "$line" == \#* ]] && continue
        line="${line#export }"
        key="${line%%=*}"
        [[ "$line" == *=* && "$key" =~ ^[A-Za-z_][A-Za-z0-9_]*$ ]] || { echo "run.sh: ignoring .env line: $line" >&2; continue; }
        value="${line#*=}"
        if [[ "$value" =~ ^\"(.*)\"[[:space:]]*$ || "$value" =~ ^\'(.*)\'[[:space:]]*$ ]]; then
            value="${BASH_REMATCH[1]}"
        else
            value="${value%%[[:space:]]#*}"                 # strip a trailing comment
            value="${value%"${value##*[![:space:]]}"}"      # trim trailing space
        fi
        [ -n "${!key+set}" ] || export "$key=$value"
    done < .env
fi

default() { [ -n "${!1:-}" ] || export "$1=$2"; }  # unset or empty
default API_PORT 8000
default FLOWER_PORT 5555
default STREAMS_PORT 8001
# The API sends event-stream readers to the streams process (Procfile `streams`).
default STREAMS_URL "http://127.0.0.1:$STREAMS_PORT"
default REDIS_PORT 6379
default SIM_BASE_PORT 5080
default SIM_CLUSTERS 2
default SIM_RAPI_USER rapi
default SIM_RAPI_PASSWORD rapi-secret
default SIM_JOB_DURATION 2
# The broker, result backend, REDIS_URL and PUBLIC_API_URL derive from REDIS_PORT and API_PORT
# in orchestrator/settings.py, the one place their defaults are written.
default ORCHESTRATOR_ADMIN_TOKEN dev-admin-token
# Flower reads FLOWER_BASIC_AUTH itself (user:password[,user:password]); its API needs it.
default FLOWER_BASIC_AUTH flower:dev-flower-password
export PATH="$ROOT/.venv/bin:$PATH"
export PYTHONUNBUFFERED=1

[ -x .venv/bin/honcho ] || { echo "run.sh: .venv is not set up; run 'make run' (or scripts/bootstrap.sh)" >&2; exit 1; }

# --- ports must be free -----------------------------------------------------------------
port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
busy=()
for port in "$REDIS_PORT" "$API_PORT" "$FLOWER_PORT" "$STREAMS_PORT"; do
    port_busy "$port" && busy+=("$port")
done
for ((i = 0; i < SIM_CLUSTERS; i++)); do
    port_busy $((SIM_BASE_PORT + i)) && busy+=($((SIM_BASE_PORT + i)))
done
if [ ${#busy[@]} -gt 0 ]; then
    echo "run.sh: port(s) ${busy[*]} already in use on 127.0.0.1." >&2
    echo "  Another stack still running? A system redis-server (service redis-server stop)?" >&2
    echo "  Or choose other ports: REDIS_PORT, API_PORT, FLOWER_PORT, STREAMS_PORT, SIM_BASE_PORT (see .env.example)." >&2
    exit 1
fi

# var/ holds the database (with the clusters' credentials), Flower's db and
# the agents' spools: every file the stack creates is its owner's only.
umask 077
mkdir -p var
chmod -R go-rwx var  # also what an older run left

# Redis asks for a password: REDIS_PASSWORD, or one made on the first run and kept in
# var/redis-password. It reaches redis-server in var/redis.conf (never on a command line)
# and every other process through the URLs Settings derive from it.
if [ -z "${REDIS_PASSWORD:-}" ]; then
    [ -s var/redis-password ] || .venv/bin/python -c 'import secrets; print(secrets.token_urlsafe(24))' > var/redis-password
    REDIS_PASSWORD=$(cat var/redis-password)
fi
export REDIS_PASSWORD
printf 'requirepass %s\n' "$REDIS_PASSWORD" > var/redis.conf
# The API's gunicorn workers share their /metrics figures here (prometheus-client's
# multiprocess mode, the Procfile's web line); each start begins from zero.
rm -rf var/prometheus && mkdir -p var/prometheus

# --- database and demo data ----------------------------------------------------------------
.venv/bin/orchestrator db upgrade
.venv/bin/orchestrator demo seed

# --- what is where ------------------------------------------------------------------------
API="http://127.0.0.1:$API_PORT"
cat <<EOF

  Ganeti orchestrator, one-machine stack
  --------------------------------------
  API            $API/api/v1
  API docs       $API/docs        (OpenAPI: $API/openapi.json)
  Health         $API/healthz
  Event streams  $STREAMS_URL/api/v1/servers/<id>/events   (the streams process; the API answers 307 there)
  Flower         http://127.0.0.1:$FLOWER_PORT   (basic auth from FLOWER_BASIC_AUTH$( [ "$FLOWER_BASIC_AUTH" = flower:dev-flower-password ] && echo ": flower / dev-flower-password"))
  Redis          redis://127.0.0.1:$REDIS_PORT   (password in var/redis-password, or REDIS_PASSWORD)
EOF
for ((i = 0; i < SIM_CLUSTERS; i++)); do
    printf '  Cluster %-6s http://127.0.0.1:%s  (simulated Ganeti RAPI, user %s)\n' \
        "$((i + 1))" "$((SIM_BASE_PORT + i))" "$SIM_RAPI_USER"
done
if [ "$ORCHESTRATOR_ADMIN_TOKEN" = dev-admin-token ]; then
    echo "  Admin token    $ORCHESTRATOR_ADMIN_TOKEN   (development default; set ORCHESTRATOR_ADMIN_TOKEN for anything else)"
    TOKEN=$ORCHESTRATOR_ADMIN_TOKEN
else
    echo "  Admin token    the value of ORCHESTRATOR_ADMIN_TOKEN (not printed)"
    TOKEN='$ORCHESTRATOR_ADMIN_TOKEN'
fi
cat <<EOF

  OpenStack clients (docs/openstack.md): save this as ~/.config/openstack/clouds.yaml, then
  'openstack --os-cloud dev server list'. For a user's cloud: 'orchestrator token create --user alice'
  gives the secret, and the id is alice.
    clouds:
      dev:
        auth_type: v3applicationcredential
        auth:
          auth_url: $API/identity/v3
          application_credential_id: admin
          application_credential_secret: $TOKEN
        region_name: RegionOne
        identity_api_version: 3
EOF
cat <<EOF

  Try it:
    curl -s -X POST $API/api/v1/servers \\
         -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' \\
         -d '{"name": "web1", "flavor_id": 1, "image_id": 1}'
    curl -s $API/api/v1/servers/1 -H "Authorization: Bearer $TOKEN"

  Ctrl-C stops everything.

EOF

# honcho would let .env override the environment; the environment is already complete.
exec .venv/bin/honcho start -f Procfile -e /dev/null
