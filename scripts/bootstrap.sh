#!/usr/bin/env bash
# Install what `make run` and `make test` need, and nothing when it is all there already.
#
#   - redis-server, PostgreSQL, RabbitMQ and Chromium with its driver (Debian packages) when absent, through apt; the system
#     services the packages start are stopped and disabled: `make run` starts its own
#     redis-server on REDIS_PORT and the tests start their own servers on free ports;
#   - .venv with Python >= 3.11 when absent;
#   - `pip install -e '.[test]'` when pyproject.toml changed since the last install
#     (a hash of it is kept in .venv/.bootstrap-stamp).
#
# Idempotent, safe to run from any directory, non-interactive (CI has no stdin).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

log() { printf 'bootstrap: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

as_root() {
    if [ "$(id -u)" -eq 0 ]; then
        "$@"
    elif command -v sudo >/dev/null 2>&1; then
        sudo -n "$@" || die "need root for: $* (run as root, or allow sudo without a password)"
    else
        die "need root for: $* (run as root)"
    fi
}

# --- Python >= 3.11 -----------------------------------------------------------------
find_python() {
    local candidate
    for candidate in "${PYTHON:-}" python3.11 python3.12 python3.13 python3; do
        [ -n "$candidate" ] || continue
        command -v "$candidate" >/dev/null 2>&1 || continue
        if "$candidate" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
            command -v "$candidate"
            return 0
        fi
    done
    return 1
}

# --- system packages ----------------------------------------------------------------
apt_packages=()
command -v redis-server >/dev/null 2>&1 || apt_packages+=(redis-server)
compgen -G '/usr/lib/postgresql/*/bin/postgres' >/dev/null || apt_packages+=(postgresql)
# RabbitMQ is the other supported broker; the tests run the integration suite on it too.
[ -x /usr/lib/rabbitmq/bin/rabbitmq-server ] || apt_packages+=(rabbitmq-server)
# The console's browser tests drive Debian's Chromium headless, through its driver.
[ -x /usr/bin/chromium ] || apt_packages+=(chromium)
# The multi-host drill's network namespaces, veths and bridge; setpriv runs its PostgreSQL as postgres.
command -v ip >/dev/null 2>&1 || apt_packages+=(iproute2)
command -v setpriv >/dev/null 2>&1 || apt_packages+=(util-linux)
[ -x /usr/bin/chromedriver ] || apt_packages+=(chromium-driver)

PY=""
if [ ! -x .venv/bin/python ]; then
    if PY=$(find_python); then
        # Debian splits venv/ensurepip into python3.X-venv.
        if ! "$PY" -c 'import ensurepip, venv' >/dev/null 2>&1; then
            apt_packages+=("python$("$PY" -c 'import sys; print("%d.%d" % sys.version_info[:2])')-venv")
        fi
    else
        apt_packages+=(python3 python3-venv)
    fi
fi

# Packages we installed ourselves; only their services are stopped below.
installed_now=()
if [ ${#apt_packages[@]} -gt 0 ]; then
    command -v apt-get >/dev/null 2>&1 || die "missing ${apt_packages[*]} and no apt-get; install them by hand"
    log "installing ${apt_packages[*]} through apt"
    export DEBIAN_FRONTEND=noninteractive
    # Ask invoke-rc.d / deb-systemd-invoke not to start services while we install
    # (policy-rc.d exit code 101 = "action forbidden"), unless a policy already exists.
    policy=/usr/sbin/policy-rc.d
    own_policy=0
    if [ ! -e "$policy" ]; then
        as_root sh -c "printf '#!/bin/sh\nexit 101\n' > $policy && chmod 755 $policy"
        own_policy=1
        trap 'as_root rm -f /usr/sbin/policy-rc.d' EXIT
    fi
    as_root apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
        -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold "${apt_packages[@]}" </dev/null
    if [ "$own_policy" -eq 1 ]; then
        as_root rm -f "$policy"
        trap - EXIT
    fi
    installed_now=("${apt_packages[@]}")
fi

# The packages' own services would hold 6379 / 5432: stop and disable them.
stop_service() {
    local name=$1
    if [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1; then
        as_root systemctl disable --now "$name" >/dev/null 2>&1 || true
    elif [ -x "/etc/init.d/$name" ]; then
        as_root service "$name" stop >/dev/null 2>&1 || true
        if command -v update-rc.d >/dev/null 2>&1; then
            as_root update-rc.d "$name" disable >/dev/null 2>&1 || true
        fi
    fi
}
for pkg in "${installed_now[@]}"; do
    case "$pkg" in
        redis-server) log "stopping the system redis-server service"; stop_service redis-server ;;
        postgresql) log "stopping the system postgresql service"; stop_service postgresql ;;
        rabbitmq-server) log "stopping the system rabbitmq-server service"; stop_service rabbitmq-server ;;
    esac
done

command -v redis-server >/dev/null 2>&1 || die "redis-server still missing after apt"
compgen -G '/usr/lib/postgresql/*/bin/postgres' >/dev/null || die "PostgreSQL still missing after apt"
[ -x /usr/lib/rabbitmq/bin/rabbitmq-server ] || die "rabbitmq-server still missing after apt"
[ -x /usr/bin/chromium ] && [ -x /usr/bin/chromedriver ] || die "chromium or chromium-driver still missing after apt"

# --- the virtualenv -----------------------------------------------------------------
if [ ! -x .venv/bin/python ]; then
    [ -n "$PY" ] || PY=$(find_python) || die "no Python >= 3.11 found (Debian 12: apt-get install python3)"
    log "creating .venv with $PY ($("$PY" --version 2>&1))"
    rm -rf .venv
    "$PY" -m venv .venv
fi
.venv/bin/python -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
    || die ".venv has Python $(.venv/bin/python --version 2>&1); need >= 3.11 (remove .venv and run again)"

# --- the project --------------------------------------------------------------------
stamp=.venv/.bootstrap-stamp
want=$( { sha256sum pyproject.toml; .venv/bin/python --version; } 2>&1 | sha256sum | cut -d' ' -f1)
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
    log "installing the project into .venv (pip install -e '.[test]')"
    export PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_INPUT=1
    .venv/bin/python -m pip install -q -e '.[test]' </dev/null
    echo "$want" > "$stamp"
fi
