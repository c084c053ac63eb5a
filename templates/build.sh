#!/usr/bin/env bash
# Builds the Flex Template: the bundled jar, the launcher image, and the template spec file in
# Cloud Storage. With --gpu: the jar with onnxruntime_gpu and the GPU worker image too.
#
#   PROJECT=my-project REGION=us-central1 BUCKET=my-bucket templates/build.sh [--gpu]
#
# Needs gcloud (authenticated) and Docker (gcloud auth configure-docker REGION-docker.pkg.dev).
# Images go to Artifact Registry: $REGION-docker.pkg.dev/$PROJECT/${REPOSITORY:-batch-inference}.
set -euo pipefail
cd "$(dirname "$0")/.."

: "${PROJECT:?set PROJECT}" "${REGION:?set REGION}" "${BUCKET:?set BUCKET (without gs://)}"
REPOSITORY="${REPOSITORY:-batch-inference}"
TAG="${TAG:-$(git rev-parse --short HEAD 2>/dev/null || echo latest)}"
REGISTRY="$REGION-docker.pkg.dev/$PROJECT/$REPOSITORY"
GPU=false
[ "${1:-}" = "--gpu" ] && GPU=true

SUFFIX=""
PROFILE=()
if $GPU; then
  SUFFIX="-gpu"
  PROFILE=(-Pgpu)
fi
LAUNCHER_IMAGE="$REGISTRY/launcher$SUFFIX:$TAG"
SPEC="gs://$BUCKET/templates/batch-inference$SUFFIX.json"

mvn -q -B -DskipTests "${PROFILE[@]}" package
gcloud artifacts repositories describe "$REPOSITORY" --project="$PROJECT" --location="$REGION" \
  >/dev/null 2>&1 ||
  gcloud artifacts repositories create "$REPOSITORY" --project="$PROJECT" --location="$REGION" \
    --repository-format=docker

docker build -f templates/Dockerfile -t "$LAUNCHER_IMAGE" .
docker push "$LAUNCHER_IMAGE"
if $GPU; then
  docker build -f templates/gpu-worker.Dockerfile -t "$REGISTRY/gpu-worker:$TAG" templates
  docker push "$REGISTRY/gpu-worker:$TAG"
  echo "GPU worker image: $REGISTRY/gpu-worker:$TAG"
fi

gcloud dataflow flex-template build "$SPEC" \
  --project="$PROJECT" \
  --image="$LAUNCHER_IMAGE" \
  --sdk-language=JAVA \
  --metadata-file=templates/metadata.json

echo "Template: $SPEC"
