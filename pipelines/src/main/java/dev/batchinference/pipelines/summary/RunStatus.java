package dev.batchinference.pipelines.summary;

import com.fasterxml.jackson.databind.JsonNode;
import java.io.IOException;
import java.io.InputStream;
import java.io.PrintStream;
import java.nio.channels.Channels;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.Objects;
import org.apache.beam.sdk.io.FileSystems;
import org.apache.beam.sdk.options.PipelineOptions;
import org.apache.beam.sdk.options.PipelineOptionsFactory;

/**
 * What a finished run's {@code summary.json} says about it, as the command line's exit status: 1
 * when its nothing-lost check failed, {@link ExitStatus#TOO_MANY_FAILURES} (4) when more records
 * failed than {@code --maxFailureRate} allowed, 1 when (with the gate off) every record failed at
 * infer, {@link ExitStatus#DRIFT_ALERT} (3) when its comparison with {@code --previousSummary}
 * raised drift alerts, else 0. The command line ends with it, and its {@link #main} gives it for a
 * run launched elsewhere (a Dataflow Flex Template launched with {@code --waitUntilFinish=false},
 * whose summary is the only signal left):
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
  public static RunStatus of(RunSummary summary) {
    // A summary without the check cannot say that nothing was lost.
    if (!summary.nothingLost()) {
      return new RunStatus(
          ExitStatus.FAILED,
          "LOST RECORDS: the nothing-lost check failed: "
              + (summary.nothingLostCheck() == null
                  ? "(the summary has no nothing_lost)"
                  : summary.nothingLostCheck()));
    }
    if (summary.failureGateExceeded()) {
      return new RunStatus(
          ExitStatus.TOO_MANY_FAILURES,
          "TOO MANY FAILURES: " + Objects.toString(summary.failureGate().message(), ""));
    }
    if (everyRecordFailedAtInfer(summary)) {
      return new RunStatus(
          ExitStatus.FAILED,
          String.format(
              Locale.ROOT,
              "MODEL FAILED: every one of the %,d records read failed at infer: the model cannot"
                  + " run these records (a shape or type it does not take?)%s",
              summary.recordsRead(),
              mostFrequentError(summary)));
    }
    List<RunSummary.Alert> alerts = summary.alerts();
    if (!alerts.isEmpty()) {
      String previous =
          summary.comparison() == null || summary.comparison().previousSummary() == null
              ? "the previous run"
              : summary.comparison().previousSummary();
      StringBuilder line =
          new StringBuilder(
              String.format(
                  Locale.ROOT,
                  "DRIFT ALERT: %d drift alert%s against %s:",
                  alerts.size(),
                  alerts.size() == 1 ? "" : "s",
                  previous));
      String separator = " ";
      for (RunSummary.Alert alert : alerts) {
        line.append(separator).append(Objects.toString(alert.message(), ""));
        separator = "; ";
      }
      return new RunStatus(ExitStatus.DRIFT_ALERT, line.toString());
    }
    return new RunStatus(
        ExitStatus.OK,
        String.format(
            Locale.ROOT,
            "OK: %,d records read, %,d predicted, %,d failed, nothing lost",
            summary.recordsRead(),
            summary.predictions(),
            summary.failures()));
  }

  /**
   * Whether no record got a prediction and every record read failed in the model: a model that
   * cannot run the job's records at all (a batch or shape it does not take) is an error even with
   * the failure gate off, not a run that merely failed many records.
   */
  public static boolean everyRecordFailedAtInfer(RunSummary summary) {
    return summary.recordsRead() > 0
        && summary.predictions() == 0
        && summary.carriedForward() == 0
        && summary.failuresByStage().size() == 1
        && summary.failuresByStage().getOrDefault("infer", 0L) == summary.recordsRead();
  }

  private static String mostFrequentError(RunSummary summary) {
    String top = null;
    long count = -1;
    for (var e : summary.failuresByError().entrySet()) {
      if (e.getValue() > count) {
        top = e.getKey();
        count = e.getValue();
      }
    }
    if (top == null) {
      return "";
    }
    List<RunSummary.FailureExample> examples =
        summary.failureExamples().getOrDefault(top, List.of());
    String example =
        examples.isEmpty() || examples.get(0).error() == null
            ? ""
            : ", e.g. \"" + abbreviate(examples.get(0).error().replaceAll("\\s+", " ")) + "\"";
    return "; most frequent: " + top + " (" + count + ")" + example;
  }

  private static String abbreviate(String text) {
    return text.length() > 200 ? text.substring(0, 200) + "…" : text;
  }

  /** {@link #of(RunSummary)} of a summary read as a JSON tree. */
  public static RunStatus of(JsonNode summary) {
    return of(RunSummary.of(summary));
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
  public static RunSummary read(String summaryPath) throws IOException {
    try (InputStream in =
        Channels.newInputStream(
            FileSystems.open(FileSystems.matchNewResource(summaryPath, false)))) {
      return RunSummary.JSON.readValue(in, RunSummary.class);
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
    RunSummary summary;
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
