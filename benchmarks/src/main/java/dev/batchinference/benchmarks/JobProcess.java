package dev.batchinference.benchmarks;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
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

  /** What one child run looked like from outside. */
  static final class Outcome {
    final Measurement measurement;
    final Path log;
    final int exit;
    final boolean timedOut;
    final long peakKb;

    /** {@code VmRSS} in KiB, one sample per poll (every 200 ms), from start to end. */
    final List<Long> rssKb;

    Outcome(
        Measurement measurement,
        Path log,
        int exit,
        boolean timedOut,
        long peakKb,
        List<Long> rssKb) {
      this.measurement = measurement;
      this.log = log;
      this.exit = exit;
      this.timedOut = timedOut;
      this.peakKb = peakKb;
      this.rssKb = rssKb;
    }

    boolean succeeded() {
      return !timedOut && exit == 0;
    }

    /**
     * The resident set at each tenth of the run (the last sample of each tenth), in MiB: flat
     * figures after the first tenth mean memory did not grow with the records read.
     */
    String rssProfile() {
      if (rssKb.isEmpty()) {
        return "no samples";
      }
      StringBuilder sb = new StringBuilder();
      for (int tenth = 1; tenth <= 10; tenth++) {
        int i = Math.max(0, (int) Math.ceil(rssKb.size() * tenth / 10.0) - 1);
        sb.append(tenth == 1 ? "" : "/").append(rssKb.get(i) / 1024);
      }
      return sb.toString();
    }

    /** Why the child did not succeed, in a few words; empty when it did. */
    String failure() {
      if (!timedOut && exit == 0) {
        return "";
      }
      // An OutOfMemoryError in a worker thread need not end the JVM: the DirectRunner's then
      // hangs in garbage collection until the cap kills it. Name the error either way.
      String cause = "";
      try {
        for (String line : Files.readAllLines(log, StandardCharsets.UTF_8)) {
          if (line.contains("OutOfMemoryError")) {
            int at = line.indexOf("OutOfMemoryError");
            cause = line.substring(at, Math.min(line.length(), at + 80)).trim();
            break;
          }
        }
      } catch (IOException | RuntimeException e) {
        // The exit status alone says it failed.
      }
      String how =
          timedOut
              ? String.format(
                  Locale.ROOT, "killed after %.0f s (the run's time cap)", measurement.seconds())
              : String.format(Locale.ROOT, "exited %d after %.0f s", exit, measurement.seconds());
      return cause.isEmpty() ? how : cause + " in the log; " + how;
    }
  }

  static Row run(String workload, String mode, Path output, List<String> jobArgs, String heap)
      throws Exception {
    Outcome outcome = launch(workload, mode, output, jobArgs, heap, 0);
    if (!outcome.succeeded()) {
      throw new IllegalStateException(
          mode + ": the job " + outcome.failure() + "; see " + outcome.log);
    }
    return row(workload, mode, output, heap, outcome, "");
  }

  /**
   * Like {@link #run}, but a run that fails or passes {@code timeoutSeconds} (killed then) is a
   * result too: its row has no records and says why in its notes. Every row's notes carry the
   * resident set over the run ({@link Outcome#rssProfile()}).
   */
  static Row runBounded(
      String workload,
      String mode,
      Path output,
      List<String> jobArgs,
      String heap,
      long timeoutSeconds)
      throws Exception {
    Outcome outcome = launch(workload, mode, output, jobArgs, heap, timeoutSeconds);
    String profile = "RSS MiB at each tenth of the run: " + outcome.rssProfile();
    if (!outcome.succeeded()) {
      Row row =
          new Row(
                  workload,
                  mode,
                  0,
                  outcome.measurement,
                  String.format(
                      Locale.ROOT,
                      "FAILED: %s; fresh JVM (-Xmx%s); %s; log %s",
                      outcome.failure(),
                      heap,
                      profile,
                      outcome.log.getFileName()))
              .inChildProcess(outcome.peakKb / 1024.0);
      System.out.printf("    %s, peak RSS %.0f MiB%n", outcome.failure(), outcome.peakKb / 1024.0);
      return row;
    }
    return row(workload, mode, output, heap, outcome, "; " + profile);
  }

  private static Outcome launch(
      String workload,
      String mode,
      Path output,
      List<String> jobArgs,
      String heap,
      long timeoutSeconds)
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
    List<Long> rss = new ArrayList<>();
    int exit;
    boolean timedOut = false;
    try {
      Process p =
          new ProcessBuilder(command)
              .redirectErrorStream(true)
              .redirectOutput(log.toFile())
              .start();
      long deadline = timeoutSeconds > 0 ? System.nanoTime() + timeoutSeconds * 1_000_000_000L : 0;
      Path status = Path.of("/proc", Long.toString(p.pid()), "status");
      while (!p.waitFor(200, TimeUnit.MILLISECONDS)) {
        peakKb = Math.max(peakKb, statusKb(status, "VmHWM:"));
        long now = statusKb(status, "VmRSS:");
        if (now > 0) {
          rss.add(now);
        }
        if (deadline != 0 && System.nanoTime() > deadline) {
          timedOut = true;
          p.destroyForcibly();
          p.waitFor();
          break;
        }
      }
      exit = p.exitValue();
    } finally {
      m.close();
    }
    return new Outcome(m, log, exit, timedOut, peakKb, rss);
  }

  private static Row row(
      String workload, String mode, Path output, String heap, Outcome outcome, String more)
      throws IOException {
    JsonNode summary = new ObjectMapper().readTree(output.resolve("summary.json").toFile());
    Row row =
        new Row(
                workload,
                mode,
                summary.get("records_read").asLong(),
                outcome.measurement,
                String.format(
                    Locale.ROOT,
                    "%d predicted, %d failed; fresh JVM (-Xmx%s), the job's own wall %.1f s;"
                        + " %d batches (mean %.1f)%s",
                    summary.get("predictions").asLong(),
                    summary.get("failures").asLong(),
                    heap,
                    summary.get("wall_seconds").asDouble(),
                    summary.get("batches").asLong(),
                    summary.path("batch_size").path("mean").asDouble(),
                    more))
            .withSummaryRate(summary.get("throughput_records_per_second").asDouble())
            .inChildProcess(outcome.peakKb / 1024.0);
    System.out.printf(
        "    %.1f s, %.0f records/s, peak RSS %.0f MiB%n", row.seconds, row.rate(), row.peakRssMiB);
    return row;
  }

  private static long statusKb(Path status, String key) {
    Long kb = Measurement.statusKb(status, key);
    return kb == null ? 0 : kb;
  }
}
