package dev.batchinference.pipelines.summary;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.io.InputStream;
import java.io.PrintStream;
import java.nio.channels.Channels;
import java.util.Arrays;
import java.util.Locale;
import org.apache.beam.sdk.io.FileSystems;
import org.apache.beam.sdk.options.PipelineOptions;
import org.apache.beam.sdk.options.PipelineOptionsFactory;

/**
 * What a finished run's {@code summary.json} says about it, as the command line's exit status: 1
 * when its nothing-lost check failed, {@link ExitStatus#TOO_MANY_FAILURES} (4) when more records
 * failed than {@code --maxFailureRate} allowed, {@link ExitStatus#DRIFT_ALERT} (3) when its
 * comparison with {@code --previousSummary} raised drift alerts, else 0. The command line ends with
 * it, and its {@link #main} gives it for a run launched elsewhere (a Dataflow Flex Template
 * launched with {@code --waitUntilFinish=false}, whose summary is the only signal left):
 *
 * <pre>{@code
 * java -cp batch-inference-bundled.jar dev.batchinference.pipelines.summary.RunStatus gs://b/runs/2025-03-01/summary.json
 * }</pre>
 *
 * <p>The rules live here only: a scheduler reading the summary and the command line that wrote it
 * must not disagree about a run.
 */
public final class RunStatus {

  private final ExitStatus exitStatus;
  private final String line;

  private RunStatus(ExitStatus exitStatus, String line) {
    this.exitStatus = exitStatus;
    this.line = line;
  }

  /** The status a summary gives its run; the first rule that holds wins. */
  public static RunStatus of(JsonNode summary) {
    // A summary without the check cannot say that nothing was lost.
    if (!summary.path("nothing_lost").asBoolean(false)) {
      return new RunStatus(
          ExitStatus.FAILED,
          "LOST RECORDS: the nothing-lost check failed: "
              + summary.path("nothing_lost_check").asText("(the summary has no nothing_lost)"));
    }
    if (FailureGate.exceeded(summary)) {
      return new RunStatus(
          ExitStatus.TOO_MANY_FAILURES,
          "TOO MANY FAILURES: " + summary.path("failure_gate").path("message").asText());
    }
    JsonNode alerts = summary.path("alerts");
    if (alerts.size() > 0) {
      StringBuilder line =
          new StringBuilder(
              String.format(
                  Locale.ROOT,
                  "DRIFT ALERT: %d drift alert%s against %s:",
                  alerts.size(),
                  alerts.size() == 1 ? "" : "s",
                  summary.path("comparison").path("previous_summary").asText("the previous run")));
      String separator = " ";
      for (JsonNode alert : alerts) {
        line.append(separator).append(alert.path("message").asText());
        separator = "; ";
      }
      return new RunStatus(ExitStatus.DRIFT_ALERT, line.toString());
    }
    return new RunStatus(
        ExitStatus.OK,
        String.format(
            Locale.ROOT,
            "OK: %,d records read, %,d predicted, %,d failed, nothing lost",
            summary.path("records_read").asLong(),
            summary.path("predictions").asLong(),
            summary.path("failures").asLong()));
  }

  /** The exit status: OK, FAILED, DRIFT_ALERT or TOO_MANY_FAILURES. */
  public ExitStatus exitStatus() {
    return exitStatus;
  }

  /** One line that says why, starting with the status in capitals ({@code OK: ...}). */
  public String line() {
    return line;
  }

  /** Reads a summary (a local path, {@code gs://...}: anything Beam's FileSystems open). */
  public static JsonNode read(String summaryPath) throws IOException {
    try (InputStream in =
        Channels.newInputStream(
            FileSystems.open(FileSystems.matchNewResource(summaryPath, false)))) {
      return new ObjectMapper().readTree(in);
    }
  }

  /**
   * {@code RunStatus SUMMARY [PIPELINE OPTIONS...]}: prints one line and exits with the status the
   * command line would have given the run ({@link #of}); 1 when the summary cannot be read (a run
   * that did not finish writes none), 2 without a summary path. Pipeline options (e.g. {@code
   * --project}) reach the file systems.
   */
  public static void main(String[] args) {
    System.exit(run(args, System.out, System.err));
  }

  static int run(String[] args, PrintStream out, PrintStream err) {
    if (args.length == 0 || args[0].startsWith("-")) {
      err.println("usage: RunStatus SUMMARY_JSON [PIPELINE OPTIONS...]");
      return ExitStatus.INVALID.code();
    }
    PipelineOptions options =
        PipelineOptionsFactory.fromArgs(Arrays.copyOfRange(args, 1, args.length))
            .withoutStrictParsing()
            .create();
    FileSystems.setDefaultPipelineOptions(options);
    JsonNode summary;
    try {
      summary = read(args[0]);
    } catch (IOException | RuntimeException e) {
      out.println("NO SUMMARY: " + args[0] + " cannot be read (did the run finish?): " + e);
      return ExitStatus.FAILED.code();
    }
    RunStatus status = of(summary);
    out.println(status.line());
    return status.exitStatus().code();
  }
}
