#!/usr/bin/env bash
# Start a throw-away PostgreSQL server on 127.0.0.1:${PGPORT:-54329} for the
# tests (as root, using Debian's postgresql package) and print the URL to
# export as CCMS_TEST_PG_URL. Stop it with: scripts/start-test-postgres.sh stop
set -euo pipefail
PORT="${PGPORT:-54329}"
STATE=/tmp/ccms-test-pg-$PORT  # one state folder per port: servers on other ports are left alone
PGBIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
[ -n "$PGBIN" ] || { echo "postgresql is not installed (apt-get install -y postgresql)" >&2; exit 1; }
if [ "${1:-}" = "stop" ]; then
  [ -f "$STATE/datadir" ] && su postgres -s /bin/sh -c "$PGBIN/pg_ctl -D $(cat $STATE/datadir) -m fast -w stop" || true
  exit 0
fi
if [ -f "$STATE/datadir" ] && su postgres -s /bin/sh -c "$PGBIN/pg_ctl -D $(cat $STATE/datadir) status" >/dev/null 2>&1; then
  echo "postgresql+psycopg://postgres@127.0.0.1:$PORT/postgres"; exit 0
fi
mkdir -p "$STATE"
PGDATA=$(mktemp -d /tmp/ccms-pgdata.XXXXXX)
chown postgres:postgres "$PGDATA"; chmod 700 "$PGDATA"
echo "$PGDATA" > "$STATE/datadir"
su postgres -s /bin/sh -c "$PGBIN/initdb -D $PGDATA -U postgres -A trust -E UTF8 --locale=C.UTF-8 --no-sync" >/dev/null
su postgres -s /bin/sh -c "$PGBIN/pg_ctl -D $PGDATA -l $PGDATA/server.log -w -t 60 -o '-c listen_addresses=127.0.0.1 -p $PORT -k $PGDATA -c fsync=off -c max_connections=300' start" >/dev/null
echo "postgresql+psycopg://postgres@127.0.0.1:$PORT/postgres"
