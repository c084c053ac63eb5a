#!/usr/bin/env bash
# Launches a batch inference job from the Flex Template and returns once Dataflow accepted it
# (it does not wait for the job; follow it in the console or with gcloud dataflow jobs describe).
#
#   PROJECT=my-project REGION=us-central1 BUCKET=my-bucket templates/launch.sh \
#     input=gs://my-bucket/in/*.jsonl,output=gs://my-bucket/out/run-1/,carryFields=category
#
# The argument is the template parameters, comma-separated NAME=VALUE (see templates/metadata.json;
# a value with commas needs gcloud's ^~^ delimiter syntax). More gcloud flags may follow it.
#
# GPU workers: GPU=nvidia-l4 (or nvidia-tesla-t4, ...) with a template built by build.sh --gpu;
# WORKER_IMAGE=the GPU worker image build.sh printed. The job runs on CUDA.
set -euo pipefail

: "${PROJECT:?set PROJECT}" "${REGION:?set REGION}" "${BUCKET:?set BUCKET (without gs://)}"
PARAMETERS="${1:?give the template parameters, e.g. input=gs://b/in/*.jsonl,output=gs://b/out/}"
shift
JOB="${JOB:-batch-inference-$(date -u +%Y%m%d-%H%M%S)}"
SPEC="gs://$BUCKET/templates/batch-inference.json"
EXTRA=()
if [ -n "${GPU:-}" ]; then
  : "${WORKER_IMAGE:?set WORKER_IMAGE to the GPU worker image (build.sh --gpu prints it)}"
  SPEC="gs://$BUCKET/templates/batch-inference-gpu.json"
  PARAMETERS="$PARAMETERS,executionProvider=CUDA"
  EXTRA+=(
    "--worker-machine-type=${MACHINE_TYPE:-g2-standard-8}"
    "--additional-experiments=worker_accelerator=type:$GPU;count:1;install-nvidia-driver,use_runner_v2"
    "--additional-pipeline-options=sdkContainerImage=$WORKER_IMAGE"
  )
fi

gcloud dataflow flex-template run "$JOB" \
  --project="$PROJECT" \
  --region="$REGION" \
  --template-file-gcs-location="$SPEC" \
  --staging-location="gs://$BUCKET/staging" \
  --temp-location="gs://$BUCKET/tmp" \
  --parameters="$PARAMETERS" \
  "${EXTRA[@]}" \
  "$@"
