# Worker image for GPU jobs: CUDA 12 and cuDNN 9 (what onnxruntime_gpu 1.24 links against) with
# Beam's Java 17 SDK harness copied in. Dataflow starts it with --sdkContainerImage; the job's own
# jar (built with -Pgpu) is staged by the runner as usual.
FROM nvidia/cuda:12.8.0-cudnn-runtime-ubuntu22.04

COPY --from=apache/beam_java17_sdk:2.62.0 /opt/apache/beam /opt/apache/beam
COPY --from=apache/beam_java17_sdk:2.62.0 /opt/java/openjdk /opt/java/openjdk
ENV JAVA_HOME=/opt/java/openjdk
ENV PATH=/opt/java/openjdk/bin:${PATH}

ENTRYPOINT ["/opt/apache/beam/boot"]
