#!/usr/bin/env bash
# Makes sure everything `npm test` talks to is there: Postgres (5432, database `test`), Redis (6379),
# NATS with JetStream (4222) and RabbitMQ (5672) up on 127.0.0.1, and PgBouncer and Chromium installed
# (tests start their own pgbouncer; Playwright drives Debian's chromium). `npm test` runs it first
# (pretest) and so does .ci/run: this is the one list of services.
#
# - A service that is up is left alone (whoever started it); one that is installed but down is started
#   with this machine kind's start command, then waited for.
# - What is missing is installed from Debian's packages (apt-get update once, then apt-get install) when
#   running as root on Debian; anywhere else the script stops with one message naming what to install.
# - Quiet when everything is up: one line. Exits non-zero, naming the service, when one cannot be had:
#   tests never skip a missing service, they fail.
#
# Usage: bash scripts/services.sh [service...]   (default: all of postgres redis nats rabbitmq pgbouncer chromium)
# For tests of this script:
#   TIERBUS_SERVICES_DRY_RUN=1          print the commands it would run (install, start) instead of running them
#   TIERBUS_SERVICES_PORTS='redis=16379'  probe (and start) a service on another port; only redis can really
#                                         start elsewhere, the others only in a dry run
set -uo pipefail

# name       port  Debian package    binary that shows it is installed
SERVICES="
postgres     5432  postgresql        pg_ctlcluster
redis        6379  redis-server      redis-server
nats         4222  nats-server       nats-server
rabbitmq     5672  rabbitmq-server   rabbitmq-server
pgbouncer    -     pgbouncer         pgbouncer
chromium     -     chromium          chromium
"
# RabbitMQ plugin the amqp tier's consistent-hash exchange needs.
RABBITMQ_PLUGIN=rabbitmq_consistent_hash_exchange
# Services whose start command takes the port, so a test can start a private instance elsewhere.
MOVABLE=" redis "
DRY_RUN=${TIERBUS_SERVICES_DRY_RUN:-}

say() { echo "services: $*"; }
fail() { echo "services: $*" >&2; exit 1; }

# Runs a command, or only prints it in a dry run (to the script's own stdout, fd 3, even where the
# command's output is redirected).
exec 3>&1
run() {
  if [ -n "$DRY_RUN" ]; then local cmd; cmd=$(printf "%q " "$@"); say "would run: ${cmd% }" >&3; return 0; fi
  "$@" 3>&- # a daemon must not inherit fd 3: it would hold our caller's stdout open
}

# The table above, read once into arrays (no subprocess per lookup: this runs before every `npm test`).
declare -A PORT STANDARD_PORT PACKAGE BINARY
NAMES=()
while read -r name port package binary; do
  [ -n "$name" ] || continue
  NAMES+=("$name"); PORT[$name]=$port; STANDARD_PORT[$name]=$port; PACKAGE[$name]=$package; BINARY[$name]=$binary
done <<<"$SERVICES"
for override in ${TIERBUS_SERVICES_PORTS:-}; do PORT[${override%%=*}]=${override#*=}; done

up() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# Whether the service's software is on this machine (its port may still be down).
installed() { # service
  command -v "${BINARY[$1]}" >/dev/null || return 1
  if [ "$1" = postgres ]; then compgen -G '/usr/lib/postgresql/*/bin/postgres' >/dev/null; fi
}

# Whether the service needs nothing: its port answers, or (no port) it is installed.
ready() { # service
  local port; port=${PORT[$1]}
  if [ "$port" = - ]; then installed "$1"; else up "$port"; fi
}

wait_for() { # service port seconds
  local deadline=$((SECONDS + $3))
  until up "$2"; do
    [ "$SECONDS" -lt "$deadline" ] || fail "$1 is not reachable on 127.0.0.1:$2 $3 s after starting it; see its log"
    sleep 0.2
  done
}

# ---- installing -------------------------------------------------------------------------------------

can_apt() { [ "$(id -u)" = 0 ] && [ -f /etc/debian_version ] && command -v apt-get >/dev/null; }

install_packages() { # package...
  if ! can_apt; then
    local how="with your system's package manager (Debian package names)"
    [ -f /etc/debian_version ] && how="as root: apt-get install -y $* (npm test does this itself when run as root)"
    fail "missing $*; install them $how, then run npm test again"
  fi
  # The packages' own scripts are chatty: their output goes to a log, shown only when something fails.
  local log=${TMPDIR:-/tmp}/tierbus-services-apt.log
  [ -n "$DRY_RUN" ] && log=/dev/null
  say "installing $* from Debian's packages (log: $log)"
  export DEBIAN_FRONTEND=noninteractive
  # A source that cannot be refreshed (a third-party repo offline) must not stop Debian's own packages.
  run apt-get update -qq -o DPkg::Lock::Timeout=300 >"$log" 2>&1 || say "apt-get update reported errors (see $log); installing anyway"
  if ! run apt-get install -y -qq -o DPkg::Lock::Timeout=300 "$@" >>"$log" 2>&1; then
    tail -n 20 "$log" >&2
    fail "apt-get install $* failed; the whole output is in $log"
  fi
}

# ---- starting ---------------------------------------------------------------------------------------

start_postgres() {
  local version
  if ! version=$(postgres_cluster_version); then
    version=$(ls /usr/lib/postgresql 2>/dev/null | sort -V | tail -1)
    [ -n "$version" ] || version='<newest>' # only in a dry run: nothing was installed
    run pg_createcluster "$version" main >/dev/null || fail "pg_createcluster $version main failed"
    FRESH_POSTGRES=1
  fi
  [ -n "${FRESH_POSTGRES:-}" ] && configure_fresh_postgres "$version"
  run pg_ctlcluster --skip-systemctl-redirect "$version" main start
}

# The newest version with a `main` cluster, or non-zero when there is none (a fresh install may have none).
postgres_cluster_version() {
  local found
  found=$(compgen -G '/etc/postgresql/*/main/postgresql.conf' | awk -F/ '{ print $4 }' | sort -V | tail -1)
  [ -n "$found" ] && echo "$found"
}

# What this machine kind has: trust for local sockets and 127.0.0.1, listening on 127.0.0.1:5432 only.
# Only ever applied to a cluster this script installed or created, never to someone else's.
configure_fresh_postgres() { # version
  local dir="/etc/postgresql/$1/main"
  say "configuring the new cluster $1/main: trust auth on 127.0.0.1, listen 127.0.0.1:5432"
  if [ -n "$DRY_RUN" ]; then say "would write $dir/pg_hba.conf and $dir/conf.d/90-tierbus.conf"; return 0; fi
  printf '%s\n' '# written by tierbus scripts/services.sh: the tests connect as postgres without a password' \
    'local all all trust' 'host all all 127.0.0.1/32 trust' >"$dir/pg_hba.conf"
  mkdir -p "$dir/conf.d"
  printf '%s\n' "listen_addresses = '127.0.0.1'" 'port = 5432' >"$dir/conf.d/90-tierbus.conf"
}

# A cluster the package installation just created and started still has Debian's default auth.
restart_fresh_postgres() {
  local version; version=$(postgres_cluster_version) || fail "postgres is up but has no main cluster in /etc/postgresql"
  configure_fresh_postgres "$version"
  pg_ctlcluster --skip-systemctl-redirect "$version" main restart || fail "could not restart the new cluster $version/main"
}

start_redis() {
  run redis-server --daemonize yes --bind 127.0.0.1 -::1 --port "${PORT[redis]}" --save "" --appendonly no \
    --dir /var/lib/redis --logfile /var/log/redis/ci.log
}

start_nats() {
  run start-stop-daemon --start --oknodo --background --exec /usr/sbin/nats-server -- \
    -a 127.0.0.1 -p 4222 -js -sd /var/lib/nats-server -l /var/log/nats-server.log
}

start_rabbitmq() {
  [ -n "${FRESH_RABBITMQ:-}" ] && configure_fresh_rabbitmq
  run rabbitmq-plugins enable --offline "$RABBITMQ_PLUGIN" >/dev/null || fail "could not enable $RABBITMQ_PLUGIN"
  run rabbitmq-server -detached
}

# What this machine kind has: node rabbit@localhost (starts even where the host name does not resolve),
# Erlang's port mapper and AMQP on 127.0.0.1 only. Only for a RabbitMQ this script installed, and only
# where no such configuration exists yet (the Debian package ships only a commented rabbitmq-env.conf).
configure_fresh_rabbitmq() {
  local env=/etc/rabbitmq/rabbitmq-env.conf conf=/etc/rabbitmq/rabbitmq.conf
  # The package's rabbitmq-env.conf is all comments; a NODENAME or a rabbitmq.conf is someone's choice.
  { grep -qs '^[[:space:]]*NODENAME=' "$env" || [ -e "$conf" ]; } && return 0
  say "configuring the new RabbitMQ: node rabbit@localhost, listening on 127.0.0.1:5672"
  if [ -n "$DRY_RUN" ]; then say "would write $env and $conf"; return 0; fi
  printf '%s\n' 'NODENAME=rabbit@localhost' 'ERL_EPMD_ADDRESS=127.0.0.1' \
    'export ERL_FLAGS="-kernel inet_dist_use_interface {127,0,0,1}"' >>"$env"
  printf '%s\n' 'listeners.tcp.local = 127.0.0.1:5672' >"$conf"
}

# Starts a service that is installed but down, and waits until its port answers.
start() { # service
  local port; port=${PORT[$1]}
  if [ "$port" != "${STANDARD_PORT[$1]}" ] && [ -z "$DRY_RUN" ] && [[ $MOVABLE != *" $1 "* ]]; then
    fail "$1 can only be started on its own port ${STANDARD_PORT[$1]}; use TIERBUS_SERVICES_PORTS for it only with TIERBUS_SERVICES_DRY_RUN=1"
  fi
  say "$1 is down on $port, starting it"
  "start_$1" || fail "could not start $1; see the output above"
  [ -n "$DRY_RUN" ] && return 0
  local seconds=30 since=$SECONDS; [ "$1" = rabbitmq ] && seconds=60
  wait_for "$1" "$port" "$seconds"
  say "$1 up on $port after $((SECONDS - since)) s"
}

# ---- checks on services that are up -----------------------------------------------------------------

# The tests connect as postgres, no password, to database `test` on 127.0.0.1; create `test` if missing.
ensure_test_database() {
  local port; port=${PORT[postgres]}
  if [ -n "$DRY_RUN" ]; then say "would create database test on $port if missing"; return 0; fi
  command -v psql >/dev/null || return 0 # the tests themselves will say what is wrong
  local deadline=$((SECONDS + 30)) answer
  # Right after a start the server may still refuse connections ("starting up"): retry until the deadline.
  until answer=$(PGCONNECT_TIMEOUT=5 psql -h 127.0.0.1 -p "$port" -U postgres -w -d postgres -tAc \
    "select count(*) from pg_database where datname = 'test'" 2>&1); do
    [ "$SECONDS" -lt "$deadline" ] || fail "postgres on $port refused user postgres without a password ($answer); the tests need 'host all all 127.0.0.1/32 trust' in pg_hba.conf"
    sleep 0.2
  done
  [ "$answer" = 1 ] && return 0
  psql -h 127.0.0.1 -p "$port" -U postgres -w -d postgres -qc 'create database test' || fail "could not create database test"
  say "created database test"
}

# The amqp tier's ordered subscriptions need the consistent-hash exchange plugin (it ships with RabbitMQ).
# A running RabbitMQ that lacks it gets it enabled online (no restart). Reads the enabled-plugins file
# first, as asking the node (rabbitmq-plugins list) takes seconds.
ensure_rabbitmq_plugin() {
  local file=${RABBITMQ_ENABLED_PLUGINS_FILE:-/etc/rabbitmq/enabled_plugins}
  [ -r "$file" ] && grep -q "$RABBITMQ_PLUGIN" "$file" && return 0
  run rabbitmq-plugins enable "$RABBITMQ_PLUGIN" >/dev/null ||
    fail "could not enable $RABBITMQ_PLUGIN on the running RabbitMQ (rabbitmq-plugins enable $RABBITMQ_PLUGIN)"
  say "enabled RabbitMQ plugin $RABBITMQ_PLUGIN"
}

# ---- main -------------------------------------------------------------------------------------------

main() {
  local wanted=("$@") name missing=() down=()
  [ ${#wanted[@]} -gt 0 ] || wanted=("${NAMES[@]}")
  for name in "${wanted[@]}"; do
    [ -n "${PORT[$name]:-}" ] || fail "unknown service '$name'; known: ${NAMES[*]}"
    ready "$name" && continue
    down+=("$name")
    installed "$name" || missing+=("$name")
  done

  if [ ${#missing[@]} -gt 0 ]; then
    local packages=()
    for name in "${missing[@]}"; do packages+=("${PACKAGE[$name]}"); done
    install_packages "${packages[@]}"
    [[ " ${missing[*]} " == *" postgres "* ]] && FRESH_POSTGRES=1
    [[ " ${missing[*]} " == *" rabbitmq "* ]] && FRESH_RABBITMQ=1
  fi
  for name in "${down[@]}"; do
    [ "${PORT[$name]}" = - ] && continue # installed above; nothing to start
    if [ -z "$DRY_RUN" ] && ready "$name"; then # its package started it (where policy-rc.d allows that)
      [ "$name" = postgres ] && [ -n "${FRESH_POSTGRES:-}" ] && restart_fresh_postgres
      continue
    fi
    start "$name"
    [ "$name" = rabbitmq ] && STARTED_RABBITMQ=1
  done

  [[ " ${wanted[*]} " == *" postgres "* ]] && ensure_test_database
  [[ " ${wanted[*]} " == *" rabbitmq "* ]] && [ -z "${STARTED_RABBITMQ:-}" ] && ensure_rabbitmq_plugin
  [ ${#down[@]} -eq 0 ] && say "all up: ${wanted[*]}"
  return 0
}

main "$@"
