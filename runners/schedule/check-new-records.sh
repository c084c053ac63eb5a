#!/usr/bin/env bash
# The threshold check alone, for schedulers that launch the job elsewhere (a Dataflow Flex
# Template, where the launcher must submit a job): takes the job's own options, among them
# --input, --inputFormat, --previousSummary and --minNewRecords, and prints one line.
#
#   check-new-records.sh --input='gs://b/docs/*.jsonl' --previousSummary=gs://b/runs/latest/summary.json --minNewRecords=1000
#
# Exit status: 0 enough new records (or no previous run yet: its summary does not exist),
# 99 too few (Airflow's BashOperator skips on 99), 2 cannot tell (bad options, unreadable summary).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
JAR="${JAR:-$here/../target/batch-inference-bundled.jar}"
# shellcheck disable=SC2086 # JAVA_OPTS is a list of JVM flags
exec "${JAVA:-java}" ${JAVA_OPTS:-} -cp "$JAR" dev.batchinference.pipelines.cli.NewRecords "$@"
