#!/usr/bin/env bash
# A Flink 1.19 session cluster on one machine, from the Maven jars in runners/flink/target/lib
# (build them with: mvn -pl runners/flink -am package -DskipTests).
#
#   cluster.sh start [TASKMANAGERS]   JobManager + TaskManagers (default 1), waits until registered
#   cluster.sh add-taskmanager        one more TaskManager
#   cluster.sh kill-taskmanager N     kill -9 TaskManager N (fault testing)
#   cluster.sh status                 processes and what the REST API reports
#   cluster.sh stop                   ends the processes this script started (by pid), nothing else
#
# Environment: CLUSTER_DIR (config, logs, pids; default runners/flink/target/cluster),
# FLINK_SLOTS (per TaskManager, default 2), FLINK_REST_PORT (default 8081),
# FLINK_RPC_PORT (default 6123), FLINK_JM_MEMORY (default 1024m), FLINK_TM_MEMORY (default 2048m).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
lib="${FLINK_LIB:-$here/target/lib}"
dir="${CLUSTER_DIR:-$here/target/cluster}"
slots="${FLINK_SLOTS:-2}"
rest_port="${FLINK_REST_PORT:-8081}"
rpc_port="${FLINK_RPC_PORT:-6123}"
conf="$dir/conf"
logs="$dir/log"
pids="$dir/pids"

die() { echo "cluster.sh: $*" | tee /dev/stderr; exit 1; }
trap 'echo "cluster.sh: line $LINENO: \"$BASH_COMMAND\" failed" >&2' ERR

[ -d "$lib" ] || die "no Flink jars in $lib; build them: mvn -pl runners/flink -am package -DskipTests"
classpath="$lib/*"

write_config() {
  mkdir -p "$conf" "$logs" "$pids"
  cat > "$conf/config.yaml" <<EOF
jobmanager.rpc.address: localhost
jobmanager.rpc.port: $rpc_port
jobmanager.bind-host: localhost
jobmanager.memory.process.size: ${FLINK_JM_MEMORY:-1024m}
taskmanager.bind-host: localhost
taskmanager.host: localhost
taskmanager.rpc.port: 0
taskmanager.data.port: 0
taskmanager.memory.process.size: ${FLINK_TM_MEMORY:-2048m}
# Beam's batch translation chains many operators and shuffles: give them network buffers, and
# leave heap to the job rather than to Flink's managed memory.
taskmanager.memory.network.min: 256m
taskmanager.memory.network.max: 256m
taskmanager.memory.managed.fraction: 0.2
# Batch shuffles use sort-shuffle, which takes 512 buffers per result partition by default; a job
# of many small operators runs out of buffers with that.
taskmanager.network.sort-shuffle.min-buffers: 64
taskmanager.numberOfTaskSlots: $slots
parallelism.default: 1
# Restart a failed job (a lost TaskManager, say) up to 10 times. Beam 2.62's classic FlinkRunner
# does not hand a batch job's own restart strategy to the JobManager (neither
# --numberOfExecutionRetries nor one in --flinkConfDir arrives), so the cluster sets it. One lost
# TaskManager can cost several attempts in a batch job: each stage that read a partition the
# TaskManager held fails on its own while it comes back; 3 attempts ran out once on this machine.
restart-strategy.type: fixed-delay
restart-strategy.fixed-delay.attempts: 10
restart-strategy.fixed-delay.delay: 5 s
# Spread a job's subtasks over the TaskManagers rather than filling one first.
cluster.evenly-spread-out-slots: true
rest.address: localhost
rest.bind-address: localhost
rest.port: $rest_port
blob.server.port: 0
heartbeat.interval: 2000
# 30 s: four TaskManagers and a job on two cores starve a TaskManager's heartbeat for more than
# 10 s at times (the parallelism-8 test lost a TaskManager that way, restart after restart). A
# killed TaskManager is still found at once: its heartbeat RPCs fail rather than time out.
heartbeat.timeout: 30000
EOF
  cat > "$conf/log4j.properties" <<'EOF'
rootLogger.level = INFO
rootLogger.appenderRef.file.ref = MainAppender
appender.main.name = MainAppender
appender.main.type = File
appender.main.append = true
appender.main.fileName = ${sys:log.file}
appender.main.layout.type = PatternLayout
appender.main.layout.pattern = %d{yyyy-MM-dd HH:mm:ss,SSS} %-5p %-60c %x - %m%n
logger.pekko.name = org.apache.pekko
logger.pekko.level = WARN
logger.netty.name = org.apache.flink.shaded.netty4
logger.netty.level = WARN
EOF
}

is_running() { [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

rest_get() {
  # A plain HTTP GET through bash, so that no curl is needed.
  local path="$1" reply
  exec 3<>"/dev/tcp/localhost/$rest_port" || return 1
  printf 'GET %s HTTP/1.0\r\nHost: localhost\r\n\r\n' "$path" >&3
  reply="$(cat <&3)"
  exec 3<&-
  printf '%s' "${reply#*$'\r\n\r\n'}"
}

registered_taskmanagers() {
  rest_get /overview 2>/dev/null | sed -n 's/.*"taskmanagers":\([0-9]*\).*/\1/p'
}

start_jobmanager() {
  is_running "$pids/jobmanager.pid" && die "a JobManager started by this script is running (pid $(cat "$pids/jobmanager.pid"))"
  nohup java -Xms768m -Xmx768m \
    -Dlog.file="$logs/jobmanager.log" -Dlog4j.configurationFile="file:$conf/log4j.properties" \
    -cp "$classpath" org.apache.flink.runtime.entrypoint.StandaloneSessionClusterEntrypoint \
    --configDir "$conf" --executionMode cluster \
    >>"$logs/jobmanager.out" 2>&1 </dev/null &
  echo $! > "$pids/jobmanager.pid"
}

next_taskmanager_number() {
  local n=1
  while [ -f "$pids/taskmanager-$n.pid" ]; do n=$((n + 1)); done
  echo "$n"
}

start_taskmanager() {
  local n params jvm dynamic
  n="$(next_taskmanager_number)"
  # What Flink's own taskmanager.sh does: derive the JVM flags and memory settings from the config.
  params="$(java -cp "$classpath" org.apache.flink.runtime.util.bash.BashJavaUtils \
    GET_TM_RESOURCE_PARAMS --configDir "$conf" 2>/dev/null | grep '^BASH_JAVA_UTILS_EXEC_RESULT:' \
    | sed 's/^BASH_JAVA_UTILS_EXEC_RESULT://')" || die "could not compute TaskManager resources"
  jvm="$(printf '%s\n' "$params" | head -n 1)"
  dynamic="$(printf '%s\n' "$params" | tail -n 1)"
  # shellcheck disable=SC2086 # the flags are meant to split
  nohup java $jvm \
    -Dlog.file="$logs/taskmanager-$n.log" -Dlog4j.configurationFile="file:$conf/log4j.properties" \
    -cp "$classpath" org.apache.flink.runtime.taskexecutor.TaskManagerRunner \
    --configDir "$conf" $dynamic \
    >>"$logs/taskmanager-$n.out" 2>&1 </dev/null &
  echo $! > "$pids/taskmanager-$n.pid"
  echo "TaskManager $n: pid $(cat "$pids/taskmanager-$n.pid"), log $logs/taskmanager-$n.log"
}

wait_for_taskmanagers() {
  local want="$1" deadline=$((SECONDS + ${FLINK_START_TIMEOUT:-90})) have
  while [ $SECONDS -lt $deadline ]; do
    have="$(registered_taskmanagers || true)"
    if [ -n "$have" ] && [ "$have" -ge "$want" ]; then
      echo "Flink cluster up: $have TaskManager(s), $((have * slots)) slots, web UI and REST API on http://localhost:$rest_port"
      return 0
    fi
    sleep 1
  done
  die "only ${have:-0} of $want TaskManagers registered after ${FLINK_START_TIMEOUT:-90}s; see $logs"
}

running_taskmanagers() {
  local n=0 f
  for f in "$pids"/taskmanager-*.pid; do
    [ -e "$f" ] && is_running "$f" && n=$((n + 1))
  done
  echo "$n"
}

stop_pid_file() {
  local file="$1" pid
  [ -f "$file" ] || return 0
  pid="$(cat "$file")"
  if kill -0 "$pid" 2>/dev/null; then
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 1 20); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
    kill -9 "$pid" 2>/dev/null || true
  fi
  rm -f "$file"
}

case "${1:-}" in
  start)
    count="${2:-1}"
    write_config
    start_jobmanager
    echo "JobManager: pid $(cat "$pids/jobmanager.pid"), log $logs/jobmanager.log"
    for _ in $(seq 1 "$count"); do start_taskmanager; done
    wait_for_taskmanagers "$count"
    ;;
  add-taskmanager)
    is_running "$pids/jobmanager.pid" || die "no JobManager started by this script is running"
    start_taskmanager
    wait_for_taskmanagers "$(running_taskmanagers)"
    ;;
  kill-taskmanager)
    n="${2:?which TaskManager}"
    is_running "$pids/taskmanager-$n.pid" || die "TaskManager $n is not running"
    kill -9 "$(cat "$pids/taskmanager-$n.pid")"
    mv "$pids/taskmanager-$n.pid" "$pids/taskmanager-$n.killed"
    echo "killed TaskManager $n"
    ;;
  status)
    for f in "$pids"/*.pid; do
      [ -e "$f" ] || continue
      if is_running "$f"; then state=running; else state=gone; fi
      echo "$(basename "$f" .pid): pid $(cat "$f") $state"
    done
    echo "REST /overview: $(rest_get /overview 2>/dev/null || echo unreachable)"
    ;;
  stop)
    for f in "$pids"/taskmanager-*.pid; do [ -e "$f" ] && stop_pid_file "$f"; done
    stop_pid_file "$pids/jobmanager.pid"
    rm -f "$pids"/*.killed
    echo "Flink cluster stopped"
    ;;
  *)
    sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//'
    exit 2
    ;;
esac
