#!/usr/bin/env bash
# Where the job's time and bytes go (issue 17, item 2): runs the job once per runner in a fresh JVM
# under Java Flight Recorder (settings=profile: Java stacks sampled every 10 ms, native every 20 ms),
# aggregates the samples by job step and kind of code (Breakdown profile), then measures the bytes
# per element through each shuffle with the job's own coders (Breakdown coders).
#
# Needs the job's inputs the harness writes (run the harness's fashion workload first, see
# benchmarks/results/breakdown.md). From the repository root:
#   benchmarks/breakdown.sh RECORDS [INPUT_GLOB MODEL LABELS]
#   JOB="--task=EMBED ..." OUT=benchmarks/target/breakdown-text benchmarks/breakdown.sh RECORDS
# Outputs under benchmarks/target/breakdown/. Measures only; changes nothing in the job.
set -euo pipefail
records=${1:-20000}
data=benchmarks/target/bench-data
input=${2:-$PWD/$data/fashion-$records/*.jsonl}
model=${3:-$(ls "$PWD"/$data/*.onnx | head -1)}
labels=${4:-$PWD/$data/fashion-mnist-labels.txt}
out=${OUT:-benchmarks/target/breakdown}
mkdir -p "$out"
if [ ! -s "$out/cp" ]; then
  mvn -o -q -pl benchmarks -am package -DskipTests dependency:build-classpath \
    -Dmdep.outputFile="$PWD/$out/cp.deps"
  echo "$PWD/benchmarks/target/classes:$(cat "$out/cp.deps")" > "$out/cp"
fi
cp=$(cat "$out/cp")
job=(--task=CLASSIFY "--input=$input" "--model=$model" "--classLabels=$labels" --batchSize=64
  --intraOpThreads=2 --progress=false)
# Another workload: JOB="--task=EMBED --input=... --model=... ..." (space-separated job arguments).
if [ -n "${JOB:-}" ]; then
  read -ra job <<< "$JOB --progress=false"
fi
java=(java -Xmx4g -Dai.djl.offline=true -Dorg.slf4j.simpleLogger.defaultLogLevel=warn -cp "$cp")
for runner in direct flink; do
  extra=()
  if [ "$runner" = flink ]; then
    extra=(--runner=FlinkRunner --flinkMaster=[local] --parallelism=2)
  fi
  rm -rf "$out/job-$runner"
  /usr/bin/time -f "$runner: %e s wall, %U s user, %S s sys, %M KB peak RSS" -o "$out/time-$runner.txt" \
    "${java[@]}" "-XX:StartFlightRecording=filename=$out/$runner.jfr,settings=profile" \
    dev.batchinference.pipelines.BatchInference "${job[@]}" "${extra[@]}" \
    "--output=$PWD/$out/job-$runner" > "$out/job-$runner.log" 2>&1
  cat "$out/time-$runner.txt"
  grep -o '"throughput_records_per_second" *: *[0-9.]*' "$out/job-$runner/summary.json" || true
  "${java[@]}" dev.batchinference.benchmarks.Breakdown profile "$out/$runner.jfr" "$records" \
    > "$out/profile-$runner.md"
done
rm -rf "$out/job-coders"
timeout 300 "${java[@]}" dev.batchinference.benchmarks.Breakdown coders "${job[@]}" \
  "--output=$PWD/$out/job-coders" > "$out/coders.md" 2> "$out/coders.log"
cat "$out/coders.md"
