#!/usr/bin/env bash
# What a finished run's summary says, as the exit status the command line would have given it, for
# schedulers that launch the job elsewhere and do not wait for it (a Dataflow Flex Template with
# --waitUntilFinish=false): its summary.json is then the only signal. Prints one line that says why.
#
#   check-run.sh gs://b/runs/2025-03-01/summary.json
#
# Exit status: 0 done; 1 the nothing-lost check failed, or no summary (the run did not finish);
# 3 the run finished but its drift check alerted; 4 the run finished but more records failed than
# --maxFailureRate allows; 2 no summary path given. Arguments after the summary are pipeline
# options for the file systems (e.g. --project).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
JAR="${JAR:-$here/../target/batch-inference-bundled.jar}"
# shellcheck disable=SC2086 # JAVA_OPTS is a list of JVM flags
exec "${JAVA:-java}" ${JAVA_OPTS:-} -cp "$JAR" dev.batchinference.pipelines.summary.RunStatus "$@"
