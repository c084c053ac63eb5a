#!/usr/bin/env bash
# Loopback Cloud Storage emulator for Beam GcsFileSystem tests.
#
#   emulator.sh start [PORT]   install npm deps if needed (npm ci), start in the
#                              background, wait until it answers, print the
#                              endpoint http://127.0.0.1:PORT/storage/v1/
#   emulator.sh stop           stop it (and drop its stored objects)
#   emulator.sh status         print the endpoint if running (exit 0), else exit 1
#
# Env:
#   GCS_EMULATOR_DIR      pid, port, log and object data (default: <repo>/target/gcs-emulator)
#   GCS_EMULATOR_PORT     port when none is given to start (default 4443)
#   GCS_EMULATOR_BUCKETS  buckets to create at start, comma or space separated (optional)
#   GCS_EMULATOR_DEBUG    non-empty: log every request to the log file
#   GCS_EMULATOR_TIMEOUT  seconds to wait for the emulator to answer (default 60)
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_ROOT="$(cd "$HERE/../../.." && pwd)"
DIR="${GCS_EMULATOR_DIR:-$REPO_ROOT/target/gcs-emulator}"
PID_FILE="$DIR/emulator.pid"
PORT_FILE="$DIR/emulator.port"
LOG_FILE="$DIR/emulator.log"
HOST=127.0.0.1

endpoint() { echo "http://$HOST:$1/storage/v1/"; }

running_pid() {
  [[ -f "$PID_FILE" ]] || return 1
  local pid
  pid="$(cat "$PID_FILE" 2>/dev/null || true)"
  [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null || return 1
  echo "$pid"
}

answers() { # port -> 0 when the emulator answers its health check
  node -e '
    const r = require("http").get({host: "127.0.0.1", port: +process.argv[1], path: "/_health", timeout: 1000},
      (res) => { res.resume(); process.exit(res.statusCode === 200 ? 0 : 1); });
    r.on("error", () => process.exit(1));
    r.on("timeout", () => { r.destroy(); process.exit(1); });' "$1"
}

cmd_start() {
  local port="${1:-${GCS_EMULATOR_PORT:-4443}}"
  [[ "$port" =~ ^[0-9]+$ ]] || { echo "emulator.sh: bad port '$port'" >&2; exit 2; }
  command -v node >/dev/null || { echo "emulator.sh: node is required" >&2; exit 1; }
  mkdir -p "$DIR"

  local pid
  if pid="$(running_pid)"; then
    local cur; cur="$(cat "$PORT_FILE" 2>/dev/null || echo "?")"
    if [[ "$cur" != "$port" ]]; then
      echo "emulator.sh: already running on port $cur (pid $pid); stop it first" >&2
      exit 1
    fi
    endpoint "$port"
    return 0
  fi

  if [[ ! -d "$HERE/node_modules/firebase-tools" ]]; then
    echo "emulator.sh: installing npm dependencies (npm ci) ..." >&2
    # --ignore-scripts: no native builds / downloads; the storage emulator needs none.
    (cd "$HERE" && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error >&2)
  fi

  local args=(--port "$port" --host "$HOST" --data-dir "$DIR/data")
  local b buckets="${GCS_EMULATOR_BUCKETS:-}"
  for b in ${buckets//,/ }; do args+=(--bucket "$b"); done

  rm -rf "$DIR/data"
  : >"$LOG_FILE"
  # setsid/nohup: survive the shell (e.g. a Maven exec step) that started it.
  if command -v setsid >/dev/null; then
    setsid nohup node "$HERE/gcs-emulator.js" "${args[@]}" >>"$LOG_FILE" 2>&1 </dev/null &
  else
    nohup node "$HERE/gcs-emulator.js" "${args[@]}" >>"$LOG_FILE" 2>&1 </dev/null &
  fi
  pid=$!
  echo "$pid" >"$PID_FILE"
  echo "$port" >"$PORT_FILE"

  local deadline=$((SECONDS + ${GCS_EMULATOR_TIMEOUT:-60}))
  until answers "$port"; do
    if ! kill -0 "$pid" 2>/dev/null; then
      echo "emulator.sh: emulator exited during start; log $LOG_FILE:" >&2
      tail -n 20 "$LOG_FILE" >&2 || true
      rm -f "$PID_FILE" "$PORT_FILE"
      exit 1
    fi
    if ((SECONDS >= deadline)); then
      echo "emulator.sh: emulator did not answer on port $port in time; log $LOG_FILE" >&2
      kill "$pid" 2>/dev/null || true
      rm -f "$PID_FILE" "$PORT_FILE"
      exit 1
    fi
    sleep 0.2
  done
  endpoint "$port"
}

cmd_stop() {
  local pid
  if ! pid="$(running_pid)"; then
    rm -f "$PID_FILE" "$PORT_FILE"
    echo "emulator.sh: not running" >&2
    return 0
  fi
  kill "$pid" 2>/dev/null || true
  local i
  for i in $(seq 1 50); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.2
  done
  if kill -0 "$pid" 2>/dev/null; then
    kill -9 "$pid" 2>/dev/null || true
  fi
  rm -f "$PID_FILE" "$PORT_FILE"
  echo "emulator.sh: stopped (pid $pid)" >&2
}

cmd_status() {
  local pid
  if pid="$(running_pid)"; then
    local port; port="$(cat "$PORT_FILE")"
    if answers "$port"; then
      echo "running (pid $pid) $(endpoint "$port")"
      return 0
    fi
    echo "not answering (pid $pid, port $port); log $LOG_FILE"
    return 1
  fi
  echo "not running"
  return 1
}

case "${1:-}" in
  start) shift; cmd_start "$@" ;;
  stop) cmd_stop ;;
  status) cmd_status ;;
  *) echo "usage: $0 start [PORT] | stop | status" >&2; exit 2 ;;
esac
