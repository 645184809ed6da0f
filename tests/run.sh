#!/usr/bin/env bash
# The whole test suite, on a fresh Debian machine of this project's kind: installs what the tests
# need when missing (docker-registry, skopeo, umoci, the PostgreSQL client, Chromium, python3 for
# the example plugin, rpm and db5.3-util for genuine rpm databases, docker-compose for its compose
# schema check; and from PyPI kubernetes-validate, which ships the Kubernetes API schemas), starts
# PostgreSQL and RabbitMQ when installed but stopped, then runs every test of the workspace.
set -euo pipefail
cd "$(dirname "$0")/.."

log() { printf '==> %s\n' "$*" >&2; }

missing=()
command -v docker-registry >/dev/null 2>&1 || missing+=(docker-registry)
command -v skopeo >/dev/null 2>&1 || missing+=(skopeo)
command -v umoci >/dev/null 2>&1 || missing+=(umoci)
command -v psql >/dev/null 2>&1 || missing+=(postgresql-client)
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
command -v gzip >/dev/null 2>&1 || missing+=(gzip)
command -v python3 >/dev/null 2>&1 || missing+=(python3)
command -v db5.3_load >/dev/null 2>&1 || missing+=(db5.3-util)
command -v rpm >/dev/null 2>&1 || missing+=(rpm)
command -v docker-compose >/dev/null 2>&1 || missing+=(docker-compose)
if [ ${#missing[@]} -gt 0 ]; then
    log "installing ${missing[*]}"
    if [ "$(id -u)" -ne 0 ]; then SUDO=sudo; else SUDO=; fi
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# tests/deploy.rs validates the Helm chart's objects against the Kubernetes API schemas.
if ! command -v kubernetes-validate >/dev/null 2>&1; then
    log "installing kubernetes-validate (PyPI)"
    if ! python3 -m pip --version >/dev/null 2>&1; then
        if [ "$(id -u)" -ne 0 ]; then SUDO=sudo; else SUDO=; fi
        DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends python3-pip >/dev/null
    fi
    python3 -m pip install -q kubernetes-validate==1.37.0 2>/dev/null \
        || python3 -m pip install -q --break-system-packages kubernetes-validate==1.37.0
fi

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

if ! port_open 5432; then
    if [ -d /etc/postgresql ]; then
        log "starting PostgreSQL"
        pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n1)" main start
    else
        log "PostgreSQL is not installed: the PostgreSQL tests need it at 127.0.0.1:5432" && exit 1
    fi
fi
if ! port_open 5672; then
    if command -v rabbitmq-server >/dev/null 2>&1; then
        log "starting RabbitMQ"
        rabbitmq-server -detached
    else
        log "RabbitMQ is not installed: the RabbitMQ tests need it at 127.0.0.1:5672" && exit 1
    fi
fi
for _ in $(seq 1 120); do port_open 5432 && port_open 5672 && break; sleep 1; done
port_open 5432 || { log "PostgreSQL did not come up"; exit 1; }
port_open 5672 || { log "RabbitMQ did not come up"; exit 1; }

log "running the test suite"
exec cargo test --workspace --no-fail-fast "$@"
