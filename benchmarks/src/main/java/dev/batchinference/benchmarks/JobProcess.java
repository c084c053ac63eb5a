package dev.batchinference.benchmarks;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.TimeUnit;

/**
 * Runs the job's command line ({@code BatchInference.main}, with its runner defaults) in a fresh
 * JVM, as a user would, and measures it from the outside: wall time, and the child's peak resident
 * set size ({@code VmHWM}, polled every 200 ms). Used for Flink {@code [local]}, whose embedded
 * cluster is best kept out of the harness's JVM, and for the scale runs, whose memory must be their
 * own.
 */
final class JobProcess {

  private JobProcess() {}

  static Row run(String workload, String mode, Path output, List<String> jobArgs, String heap)
      throws Exception {
    PipelineRun.deleteTree(output);
    List<String> command = new ArrayList<>();
    command.add(Path.of(System.getProperty("java.home"), "bin", "java").toString());
    command.add("-Xmx" + heap);
    command.add("-Dai.djl.offline=true");
    command.add("-Dorg.slf4j.simpleLogger.defaultLogLevel=warn");
    command.add("-cp");
    command.add(System.getProperty("java.class.path"));
    command.add("dev.batchinference.pipelines.BatchInference");
    command.addAll(jobArgs);
    command.add("--output=" + output.toAbsolutePath());
    command.add("--progress=false");
    System.out.printf("  %s / %s: %s%n", workload, mode, String.join(" ", jobArgs));
    Files.createDirectories(output.toAbsolutePath().getParent());
    Path log = output.resolveSibling(output.getFileName() + ".log");
    Measurement m = Measurement.start();
    long peakKb = 0;
    int exit;
    try {
      Process p =
          new ProcessBuilder(command)
              .redirectErrorStream(true)
              .redirectOutput(log.toFile())
              .start();
      Path status = Path.of("/proc", Long.toString(p.pid()), "status");
      while (!p.waitFor(200, TimeUnit.MILLISECONDS)) {
        peakKb = Math.max(peakKb, highWaterMarkKb(status));
      }
      exit = p.exitValue();
    } finally {
      m.close();
    }
    if (exit != 0) {
      throw new IllegalStateException(mode + ": the job exited " + exit + "; see " + log);
    }
    JsonNode summary = new ObjectMapper().readTree(output.resolve("summary.json").toFile());
    Row row =
        new Row(
                workload,
                mode,
                summary.get("records_read").asLong(),
                m,
                String.format(
                    Locale.ROOT,
                    "%d predicted, %d failed; fresh JVM (-Xmx%s), the job's own wall %.1f s;"
                        + " %d batches (mean %.1f)",
                    summary.get("predictions").asLong(),
                    summary.get("failures").asLong(),
                    heap,
                    summary.get("wall_seconds").asDouble(),
                    summary.get("batches").asLong(),
                    summary.path("batch_size").path("mean").asDouble()))
            .withSummaryRate(summary.get("throughput_records_per_second").asDouble())
            .inChildProcess(peakKb / 1024.0);
    System.out.printf(
        "    %.1f s, %.0f records/s, peak RSS %.0f MiB%n", row.seconds, row.rate(), row.peakRssMiB);
    return row;
  }

  private static long highWaterMarkKb(Path status) {
    Long kb = Measurement.statusKb(status, "VmHWM:");
    return kb == null ? 0 : kb;
  }
}
