package dev.batchinference.benchmarks;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.Callable;
import jdk.jfr.Recording;
import jdk.jfr.consumer.RecordedEvent;
import jdk.jfr.consumer.RecordedFrame;
import jdk.jfr.consumer.RecordingFile;

/**
 * The share of CPU samples spent in coders while a job runs: Java Flight Recorder samples every
 * thread's stack every 10 ms; a sample counts as coding when one of its frames is an {@code encode}
 * or {@code decode} method of a class whose name ends in {@code Coder} (Beam's coders, the job's
 * own, and Flink's serializers that wrap them).
 */
final class CoderShare {

  /** The result of a profiled call, with the share of samples in coders (NaN: no samples). */
  static final class Profiled<T> {
    final T value;
    final double coderShare;
    final long samples;

    Profiled(T value, double coderShare, long samples) {
      this.value = value;
      this.coderShare = coderShare;
      this.samples = samples;
    }
  }

  private CoderShare() {}

  static <T> Profiled<T> of(Callable<T> call) throws Exception {
    Path file = Files.createTempFile("batch-inference-profile", ".jfr");
    T value;
    try (Recording recording = new Recording()) {
      recording.enable("jdk.ExecutionSample").withPeriod(Duration.ofMillis(10));
      recording.start();
      try {
        value = call.call();
      } finally {
        recording.stop();
        recording.dump(file);
      }
      long samples = 0;
      long coding = 0;
      for (RecordedEvent e : RecordingFile.readAllEvents(file)) {
        if (!e.getEventType().getName().equals("jdk.ExecutionSample")
            || e.getStackTrace() == null) {
          continue;
        }
        samples++;
        if (inCoder(e)) {
          coding++;
        }
      }
      return new Profiled<>(value, samples == 0 ? Double.NaN : (double) coding / samples, samples);
    } finally {
      try {
        Files.deleteIfExists(file);
      } catch (IOException ignored) {
        // a temporary file
      }
    }
  }

  private static boolean inCoder(RecordedEvent sample) {
    for (RecordedFrame frame : sample.getStackTrace().getFrames()) {
      if (!frame.isJavaFrame()) {
        continue;
      }
      String method = frame.getMethod().getName();
      String type = frame.getMethod().getType().getName();
      if ((method.startsWith("encode")
              || method.startsWith("decode")
              || method.equals("serialize")
              || method.equals("deserialize"))
          && (type.endsWith("Coder") || type.contains("CoderTypeSerializer"))) {
        return true;
      }
    }
    return false;
  }
}
