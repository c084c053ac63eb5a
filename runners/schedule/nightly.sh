#!/usr/bin/env bash
# One scheduled run of the batch inference job, for cron (or Airflow's BashOperator):
#
#   nightly.sh [JOB OPTIONS...]      e.g. nightly.sh --input='/data/docs/*.jsonl' --carryFields=url
#
# Each run writes to OUT_ROOT/<date>/ (RUN_DATE, default today as YYYY-MM-DD) and, when the job
# finished, points OUT_ROOT/latest at it. The next run passes OUT_ROOT/latest/summary.json as
# --previousSummary, with --minNewRecords=MIN_NEW_RECORDS: with fewer new records than that the
# job prints "skipped: ...", writes nothing, and latest stays where it was, so new records keep
# adding up until a run happens. The first run (no latest yet) always runs.
#
# Environment: OUT_ROOT (default out/scheduled), MIN_NEW_RECORDS (default 0: always run),
# JAR (default runners/target/batch-inference-bundled.jar next to this script), JAVA (default
# java), JAVA_OPTS, RUN_DATE, SKIPPED_EXIT (the exit status of a skipped run, default 0; Airflow's
# DAG sets 99 to mark its task skipped).
#
# Exit status, the job's own: 0 done (or skipped), 1 failed, 2 could not start (bad options), 3 the
# run finished but its drift check alerted (latest moves on: the run is complete), 4 the run
# finished but more records failed than --maxFailureRate allows (a failed run: latest stays, and a
# scheduler should not retry it, the inputs are the problem); and 75 when an earlier run still
# holds the lock, this script's or the output directory's (nothing was started). Each run's console
# goes to OUT_ROOT/logs/ as well.
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
JAR="${JAR:-$here/../target/batch-inference-bundled.jar}"
JAVA="${JAVA:-java}"
MIN_NEW_RECORDS="${MIN_NEW_RECORDS:-0}"
RUN_DATE="${RUN_DATE:-$(date +%F)}"
SKIPPED_EXIT="${SKIPPED_EXIT:-0}"
OUT_ROOT="${OUT_ROOT:-out/scheduled}"

for arg in "$@"; do
  case "$arg" in
    --output=* | --previousSummary=* | --minNewRecords=*)
      echo "nightly.sh: ${arg%%=*} is set by this script (OUT_ROOT, MIN_NEW_RECORDS)" >&2
      exit 2
      ;;
  esac
done
[ -f "$JAR" ] || { echo "nightly.sh: no jar at $JAR; build it: mvn -DskipTests package" >&2; exit 2; }

mkdir -p "$OUT_ROOT/logs"
# Absolute: Flink TaskManagers resolve paths on their own machines.
OUT_ROOT="$(cd "$OUT_ROOT" && pwd)"

# One run at a time: a run that outlasts the interval makes the next one give up, not overlap.
exec 9>"$OUT_ROOT/.nightly.lock"
if ! flock -n 9; then
  echo "nightly.sh: an earlier run still holds $OUT_ROOT/.nightly.lock; not starting" >&2
  exit 75
fi

out="$OUT_ROOT/$RUN_DATE"
log="$OUT_ROOT/logs/$RUN_DATE-$(date +%H%M%S).log"
args=("--output=$out")
if [ -f "$OUT_ROOT/latest/summary.json" ]; then
  args+=("--previousSummary=$OUT_ROOT/latest/summary.json")
  if [ "$MIN_NEW_RECORDS" -gt 0 ]; then
    args+=("--minNewRecords=$MIN_NEW_RECORDS")
  fi
else
  echo "nightly.sh: no earlier run in $OUT_ROOT/latest: running without a threshold" | tee -a "$log"
fi

set +e
# shellcheck disable=SC2086 # JAVA_OPTS is a list of JVM flags
"$JAVA" ${JAVA_OPTS:-} -jar "$JAR" "${args[@]}" "$@" 2>&1 | tee -a "$log"
status=${PIPESTATUS[0]}
set -e

if { [ "$status" -eq 0 ] || [ "$status" -eq 3 ]; } && [ -f "$out/summary.json" ]; then
  # Swap the pointer in one rename, so that a reader never sees it missing.
  ln -sfn "$RUN_DATE" "$OUT_ROOT/.latest.new"
  mv -T "$OUT_ROOT/.latest.new" "$OUT_ROOT/latest"
  echo "nightly.sh: latest -> $RUN_DATE (exit $status)" | tee -a "$log"
elif [ "$status" -eq 0 ] && grep -q '^skipped: ' "$log"; then
  echo "nightly.sh: skipped; latest stays $(readlink "$OUT_ROOT/latest" 2>/dev/null || echo unset)" | tee -a "$log"
  status=$SKIPPED_EXIT
elif [ "$status" -eq 4 ]; then
  # Its summary names the failures; it is no base for the next run's comparison or threshold.
  echo "nightly.sh: the run finished with too many failed records (exit 4, --maxFailureRate); latest stays $(readlink "$OUT_ROOT/latest" 2>/dev/null || echo unset); see $out" | tee -a "$log" >&2
elif [ "$status" -eq 0 ]; then
  echo "nightly.sh: submitted without waiting (--waitUntilFinish=false): latest not moved" | tee -a "$log"
else
  echo "nightly.sh: the job exited $status; latest stays $(readlink "$OUT_ROOT/latest" 2>/dev/null || echo unset); see $log" | tee -a "$log" >&2
fi
exit "$status"
