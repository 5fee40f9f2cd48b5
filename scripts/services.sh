#!/usr/bin/env bash
# Makes sure the services the test suite talks to are up (Postgres, Redis, NATS with JetStream),
# starting any that is down with this machine kind's own start command. The SQS/SNS emulator is
# not here: the sqs-sns tests start it themselves. Exits non-zero, naming the service, if one
# cannot be reached: tests never skip a missing service, they fail.
set -uo pipefail

up() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

wait_for() { # name port
  for _ in $(seq 1 60); do up "$2" && return 0; sleep 0.5; done
  echo "services: $1 is not reachable on 127.0.0.1:$2 after starting it; see its log" >&2
  return 1
}

ensure() { # name port start-command...
  local name=$1 port=$2; shift 2
  if up "$port"; then echo "services: $name up on $port"; return 0; fi
  echo "services: $name down on $port, starting it: $*"
  if ! "$@"; then echo "services: could not start $name; install it or start it by hand" >&2; return 1; fi
  wait_for "$name" "$port" && echo "services: $name up on $port"
}

status=0
ensure postgres 5432 bash -c 'pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -1)" main start' || status=1
ensure redis 6379 redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no --dir /var/lib/redis --logfile /var/log/redis/ci.log || status=1
ensure nats 4222 start-stop-daemon --start --oknodo --background --exec /usr/sbin/nats-server -- -a 127.0.0.1 -p 4222 -js -sd /var/lib/nats-server -l /var/log/nats-server.log || status=1
if [ "$status" -eq 0 ] && command -v psql >/dev/null; then
  psql -h 127.0.0.1 -U postgres -tAc "select 1 from pg_database where datname='test'" | grep -q 1 \
    || psql -h 127.0.0.1 -U postgres -c 'create database test' >/dev/null || status=1
fi
exit $status
