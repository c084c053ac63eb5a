#!/usr/bin/env bash
# A throwaway PostgreSQL server on loopback for the tests, from Debian's postgresql package.
#
#   postgres.sh start [PORT]   initdb (first time) and start; prints the JDBC URL
#   postgres.sh stop           stop it
#
# Data, log and pid live in $POSTGRES_DIR (default: a folder in /tmp named after the repository
# path: the server's system user must be able to reach it, which a checkout under /root is not).
# The server accepts
# password logins only (scram-sha-256) on 127.0.0.1 for user 'batchinference', password
# 'batchinference-test' (a test server: the tests pass the password the way users do, by
# environment variable or file). Run as root, the server runs as the 'postgres' system user.
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
REPO="$(cd "$HERE/../../.." && pwd)"
DIR="${POSTGRES_DIR:-/tmp/batch-inference-postgres-$(printf '%s' "$REPO" | md5sum | cut -c1-12)}"
PORT="${2:-${POSTGRES_PORT:-15432}}"
BIN="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)"
USER_NAME=batchinference
PASSWORD=batchinference-test

as_owner() {
  if [ "$(id -u)" = "0" ]; then
    runuser -u postgres -- "$@"
  else
    "$@"
  fi
}

start() {
  [ -n "$BIN" ] || { echo "postgres.sh: no PostgreSQL under /usr/lib/postgresql (apt-get install postgresql)" >&2; exit 1; }
  mkdir -p "$DIR"
  [ "$(id -u)" = "0" ] && chown postgres "$DIR"
  if [ ! -f "$DIR/data/PG_VERSION" ]; then
    local pwfile="$DIR/pw"
    echo "$PASSWORD" >"$pwfile"
    [ "$(id -u)" = "0" ] && chown postgres "$pwfile"
    as_owner "$BIN/initdb" -D "$DIR/data" -U "$USER_NAME" --pwfile="$pwfile" \
      --auth-local=scram-sha-256 --auth-host=scram-sha-256 -E UTF8 >"$DIR/initdb.log"
    rm -f "$pwfile"
  fi
  if as_owner "$BIN/pg_ctl" -D "$DIR/data" status >/dev/null 2>&1; then
    echo "jdbc:postgresql://127.0.0.1:$(cat "$DIR/port")/postgres"
    return
  fi
  echo "$PORT" >"$DIR/port"
  as_owner "$BIN/pg_ctl" -D "$DIR/data" -l "$DIR/server.log" -w -t 60 \
    -o "-h 127.0.0.1 -p $PORT -k $DIR" start >/dev/null
  echo "jdbc:postgresql://127.0.0.1:$PORT/postgres"
}

stop() {
  [ -d "$DIR/data" ] || return 0
  as_owner "$BIN/pg_ctl" -D "$DIR/data" -m fast -w stop >/dev/null 2>&1 || true
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  *) echo "usage: $0 start [PORT] | stop" >&2; exit 2 ;;
esac
