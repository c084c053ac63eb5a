package dev.batchinference.pipelines.cli;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.batchinference.pipelines.BatchInference;
import dev.batchinference.pipelines.JobPlan;
import dev.batchinference.pipelines.OutputLock;
import dev.batchinference.pipelines.options.BatchInferenceOptions;
import dev.batchinference.pipelines.options.InvalidJobException;
import dev.batchinference.pipelines.options.RunnerKind;
import dev.batchinference.pipelines.options.RunnerParallelism;
import dev.batchinference.pipelines.summary.ExitStatus;
import dev.batchinference.pipelines.summary.RunStatus;
import dev.batchinference.pipelines.summary.RunSummary;
import dev.batchinference.transforms.RunInference;
import dev.batchinference.transforms.io.ReadRecords;
import dev.batchinference.transforms.model.SharedResources;
import java.io.IOException;
import java.io.PrintStream;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import org.apache.beam.sdk.Pipeline;
import org.apache.beam.sdk.PipelineResult;
import org.apache.beam.sdk.metrics.MetricNameFilter;
import org.apache.beam.sdk.metrics.MetricQueryResults;
import org.apache.beam.sdk.metrics.MetricResult;
import org.apache.beam.sdk.metrics.MetricsFilter;
import org.apache.beam.sdk.options.PipelineOptionsFactory;
import org.joda.time.Duration;

/**
 * The command line around {@link BatchInference}: {@code --help}, the runner when none is named
 * ({@link DefaultRunner}: the DirectRunner, or Flink's embedded mini cluster for inputs too large
 * for the heap), sensible DirectRunner settings, progress while the job runs (records done, rate,
 * ETA), and one result line at the end. Exit status: 0 when the job succeeded and lost nothing, 1
 * when it failed, 2 when it could not start, 3 ({@link ExitStatus#DRIFT_ALERT}) when it succeeded
 * but its comparison with {@code --previousSummary} raised drift alerts (the predictions are
 * written all the same), 4 ({@link ExitStatus#TOO_MANY_FAILURES}) when it wrote everything but more
 * records failed than {@code --maxFailureRate} allows, 75 ({@link ExitStatus#OUTPUT_LOCKED}) when
 * another run holds the output directory's lock ({@link OutputLock}; nothing was started).
 */
public final class CommandLine {

  private final PrintStream out;
  private final PrintStream err;

  private CommandLine(PrintStream out, PrintStream err) {
    this.out = out;
    this.err = err;
  }

  /** Runs the job as the command line does, printing to {@code out} and {@code err}. */
  public static int run(String[] args, PrintStream out, PrintStream err) {
    return new CommandLine(out, err).run(args);
  }

  private int run(String[] args) {
    if (Arrays.asList(args).contains("--help") || Arrays.asList(args).contains("-h")) {
      PipelineOptionsFactory.printHelp(out, BatchInferenceOptions.class);
      return ExitStatus.OK.code();
    }
    BatchInferenceOptions options;
    try {
      List<String> given = Arrays.asList(args);
      if (!DefaultRunner.namesRunner(given)) {
        // No --runner: the input's size decides between the DirectRunner and Flink [local].
        DefaultRunner.Choice choice = DefaultRunner.choose(given, BatchInference.parse(args));
        if (choice.line() != null) {
          out.println(choice.line());
        }
        args = choice.args().toArray(new String[0]);
      }
      options = BatchInference.parse(withRunnerDefaults(args));
    } catch (IllegalArgumentException e) {
      err.println("error: " + e.getMessage());
      err.println("Run with --help to list the options.");
      return ExitStatus.INVALID.code();
    }
    if (options.getMinNewRecords() > 0) {
      // A scheduled run with too few new records is skipped, not failed: nothing is written.
      try {
        NewRecords.Check check = NewRecords.check(options);
        out.println(check.line());
        if (!check.enough()) {
          return ExitStatus.OK.code();
        }
      } catch (InvalidJobException e) {
        err.println("error: " + e.getMessage());
        return ExitStatus.INVALID.code();
      }
    }
    // Where the workers run in this JVM, they find the model and tokenizer the checks opened.
    try (SharedResources.Hold loaded =
        waits(options) && workersHere(options) > 0 ? SharedResources.hold() : null) {
      return checkAndRun(options);
    }
  }

  private static int workersHere(BatchInferenceOptions options) {
    return RunnerParallelism.of(RunnerKind.of(options)).map(p -> p.workersHere(options)).orElse(0);
  }

  /** Checks the job, builds it and runs it; the exit status. */
  private int checkAndRun(BatchInferenceOptions options) {
    long start = System.currentTimeMillis();
    JobPlan plan;
    try {
      plan = JobPlan.from(options);
    } catch (InvalidJobException | IllegalArgumentException e) {
      err.println("error: " + e.getMessage());
      return ExitStatus.INVALID.code();
    }
    PipelineResult.State state;
    OutputLock lock = OutputLock.forRun(plan.output(), plan.jobName());
    // Released here when this process sees the job end (or is stopped), else by the job itself.
    boolean releaseHere = true;
    Thread releaseOnExit = new Thread(lock::release, "release-output-lock");
    try {
      Pipeline pipeline = Pipeline.create(options);
      try {
        BatchInference.build(pipeline, plan, lock);
      } catch (InvalidJobException | IllegalArgumentException e) {
        releaseHere = false;
        err.println("error: " + e.getMessage());
        return ExitStatus.INVALID.code();
      }
      try {
        lock.acquire(plan.breakLock());
      } catch (OutputLock.HeldException e) {
        releaseHere = false;
        err.println("error: " + e.getMessage());
        return ExitStatus.OUTPUT_LOCKED.code();
      } catch (java.io.IOException e) {
        releaseHere = false;
        err.println("error: cannot take the output lock " + lock.file() + ": " + e);
        return ExitStatus.INVALID.code();
      }
      if (waits(options)) {
        Runtime.getRuntime().addShutdownHook(releaseOnExit);
      }
      // Runners that execute inside run() (Flink) throw from here when the job fails.
      PipelineResult result = pipeline.run();
      if (!waits(options)) {
        releaseHere = false;
        out.println(
            "Submitted to "
                + plan.runnerName()
                + " as job '"
                + plan.jobName()
                + "', state "
                + result.getState()
                + ". Not waiting for it to finish (--waitUntilFinish=false); its run summary will"
                + " be "
                + plan.resolve(BatchInference.SUMMARY)
                + ".");
        return ExitStatus.OK.code();
      }
      state = waitWithProgress(result, options.getProgress());
    } catch (RuntimeException e) {
      err.println();
      err.println("error: the job failed: " + rootMessage(e));
      return ExitStatus.FAILED.code();
    } finally {
      if (releaseHere) {
        lock.release();
        try {
          Runtime.getRuntime().removeShutdownHook(releaseOnExit);
        } catch (IllegalStateException | IllegalArgumentException e) {
          // Shutting down already, or never added.
        }
      }
    }
    if (state != PipelineResult.State.DONE) {
      err.println("error: the job ended in state " + state);
      return ExitStatus.FAILED.code();
    }
    return printResult(plan, System.currentTimeMillis() - start);
  }

  /**
   * Whether to wait for the job to finish: as {@code --waitUntilFinish} says, else everywhere but
   * on Dataflow, where a launch (a Flex Template launcher among them) returns once the job is
   * submitted.
   */
  static boolean waits(BatchInferenceOptions options) {
    Boolean wait = options.getWaitUntilFinish();
    if (wait != null) {
      return wait;
    }
    return RunnerKind.of(options) != RunnerKind.DATAFLOW;
  }

  /**
   * On the DirectRunner (the default), returns at once from {@code run} so that progress can be
   * shown, uses every core, and skips the immutability and encodability checks meant for tests. On
   * Flink, passes elements between chained steps as they are instead of copying each through its
   * coder ({@code --fasterCopy}, {@code --objectReuse}): the job's steps never change an element
   * once they have output it or been given it. Options the user set win.
   */
  static String[] withRunnerDefaults(String[] args) {
    List<String> all = new ArrayList<>(Arrays.asList(args));
    if (RunnerKind.ofArgs(all) == RunnerKind.DIRECT) {
      addIfAbsent(all, "--blockOnRun", "false");
      addIfAbsent(
          all, "--targetParallelism", Integer.toString(Runtime.getRuntime().availableProcessors()));
      addIfAbsent(all, "--enforceImmutability", "false");
      addIfAbsent(all, "--enforceEncodability", "false");
    } else if (RunnerKind.ofArgs(all) == RunnerKind.FLINK) {
      addIfAbsent(all, "--fasterCopy", "true");
      addIfAbsent(all, "--objectReuse", "true");
    }
    return all.toArray(new String[0]);
  }

  private static void addIfAbsent(List<String> args, String name, String value) {
    if (args.stream().noneMatch(a -> a.equals(name) || a.startsWith(name + "="))) {
      args.add(name + "=" + value);
    }
  }

  private PipelineResult.State waitWithProgress(PipelineResult result, boolean progress) {
    long start = System.currentTimeMillis();
    boolean console = System.console() != null;
    long lastPrint = 0;
    PipelineResult.State state = result.waitUntilFinish(Duration.standardSeconds(2));
    while (state == null || !state.isTerminal()) {
      long now = System.currentTimeMillis();
      if (progress && (console || now - lastPrint >= 10_000)) {
        String line = progressLine(result, now - start);
        if (line != null) {
          err.print(console ? "\r" + line + "   " : line + System.lineSeparator());
          lastPrint = now;
        }
      }
      state = result.waitUntilFinish(Duration.standardSeconds(2));
    }
    if (progress && console && lastPrint > 0) {
      err.println();
    }
    return state;
  }

  private static String progressLine(PipelineResult result, long elapsedMillis) {
    long read;
    long done;
    try {
      read = counter(result, ReadRecords.class, "records_read");
      done = counter(result, RunInference.class, "num_inferences");
    } catch (RuntimeException e) {
      return null;
    }
    double seconds = Math.max(0.001, elapsedMillis / 1000.0);
    double rate = done / seconds;
    String eta =
        rate > 0 && read > done
            ? String.format(Locale.ROOT, ", ETA %.0f s", (read - done) / rate)
            : "";
    return String.format(
        Locale.ROOT, "%,d of %,d records inferred, %.1f records/s%s", done, read, rate, eta);
  }

  private static long counter(PipelineResult result, Class<?> namespace, String name) {
    MetricQueryResults metrics =
        result
            .metrics()
            .queryMetrics(
                MetricsFilter.builder()
                    .addNameFilter(MetricNameFilter.named(namespace, name))
                    .build());
    long total = 0;
    for (MetricResult<Long> c : metrics.getCounters()) {
      Long attempted = c.getAttempted();
      total += attempted == null ? 0 : attempted;
    }
    return total;
  }

  private int printResult(JobPlan plan, long wallMillis) {
    String output = plan.output();
    String summaryPath = plan.resolve(BatchInference.SUMMARY);
    RunSummary summary;
    try {
      summary = RunStatus.read(summaryPath);
    } catch (IOException e) {
      err.println(
          "error: the job finished but its summary " + summaryPath + " cannot be read: " + e);
      return ExitStatus.FAILED.code();
    }
    long read = summary.recordsRead();
    long predicted = summary.predictions();
    // What the summary says of the run, decided where a scheduler reading it decides too.
    RunStatus status = RunStatus.of(summary);
    boolean nothingLost = summary.nothingLost();
    boolean tooManyFailures = status.exitStatus() == ExitStatus.TOO_MANY_FAILURES;
    boolean modelFailed = !tooManyFailures && RunStatus.everyRecordFailedAtInfer(summary);
    double seconds = wallMillis / 1000.0;
    // The result line is one line: what unreadableFiles adds ends it.
    out.print(
        String.format(
            Locale.ROOT,
            "%s: %,d records read, %,d predicted, %,d failed %s%s in %.1f s (%.1f records/s)."
                + " Predictions: %s/%s*.%s  Failures: %s/%s*.%s  Summary: %s",
            !nothingLost
                ? "LOST RECORDS"
                : tooManyFailures
                    ? "TOO MANY FAILURES"
                    : modelFailed
                        ? "MODEL FAILED"
                        : predicted == 0 && read > 0 ? "NO PREDICTIONS" : "OK",
            read,
            predicted,
            summary.failures(),
            failuresByStage(summary),
            alsoAccounted(summary),
            seconds,
            read / Math.max(0.001, seconds),
            stripSlash(output),
            BatchInference.PREDICTIONS,
            plan.fileExtension(),
            stripSlash(output),
            BatchInference.FAILURES,
            plan.fileExtension(),
            summaryPath));
    out.println(unreadableFiles(summary));
    if (!nothingLost) {
      return status.exitStatus().code();
    }
    if (modelFailed) {
      err.println("error: " + status.line() + "; exit status " + status.exitStatus().code());
    }
    if (tooManyFailures) {
      err.println(
          "error: "
              + summary.failureGate().message()
              + "; exit status "
              + ExitStatus.TOO_MANY_FAILURES.code()
              + ". Failures: "
              + stripSlash(output)
              + "/"
              + BatchInference.FAILURES
              + "*");
    }
    List<RunSummary.Alert> alerts = summary.alerts();
    if (!alerts.isEmpty()) {
      for (RunSummary.Alert alert : alerts) {
        err.println("DRIFT ALERT: " + alert.message());
      }
      err.println(
          alerts.size()
              + " drift alert(s) against "
              + plan.drift().map(JobPlan.Drift::previousSummary).orElse("the previous run")
              + (tooManyFailures ? "" : "; exit status " + ExitStatus.DRIFT_ALERT.code())
              + ". Report: "
              + plan.resolve(BatchInference.REPORT));
    }
    return status.exitStatus().code();
  }

  /**
   * The records the nothing-lost check counts besides predictions and failures, when there are:
   * previous predictions carried forward by an incremental run, and records whose id an upsert
   * collapsed.
   */
  static String alsoAccounted(RunSummary summary) {
    StringBuilder more = new StringBuilder();
    long carried = summary.carriedForward();
    if (carried > 0) {
      more.append(String.format(Locale.ROOT, ", %,d carried forward", carried));
    }
    long collapsed = summary.collapsedDuplicateIds() == null ? 0 : summary.collapsedDuplicateIds();
    if (collapsed > 0) {
      more.append(String.format(Locale.ROOT, ", %,d collapsed duplicate ids", collapsed));
    }
    return more.toString();
  }

  /**
   * What the result line adds when files could not be read to their end: their records after the
   * cut are in no count, so the line must not read as if the files were read whole.
   */
  static String unreadableFiles(RunSummary summary) {
    List<RunSummary.UnreadableFile> files = summary.unreadableFiles();
    if (files.isEmpty()) {
      return "";
    }
    StringBuilder line =
        new StringBuilder(
            String.format(
                Locale.ROOT,
                " UNREADABLE FILES: %,d file%s could not be read to the end, the rest of each is one"
                    + " read failure (see unreadable_files in the summary):",
                files.size(),
                files.size() == 1 ? "" : "s"));
    int shown = 0;
    for (RunSummary.UnreadableFile file : files) {
      if (shown++ == 3) {
        line.append(String.format(Locale.ROOT, " and %,d more", files.size() - 3));
        break;
      }
      line.append(
          String.format(
              Locale.ROOT,
              "%s %s after %,d record%s",
              shown == 1 ? "" : ",",
              file.file(),
              file.recordsReadBeforeCut(),
              file.recordsReadBeforeCut() == 1 ? "" : "s"));
    }
    return line.append('.').toString();
  }

  /** The failures by stage as the summary writes them: {@code {"preprocess":1}}. */
  private static String failuresByStage(RunSummary summary) {
    try {
      return new ObjectMapper().writeValueAsString(summary.failuresByStage());
    } catch (JsonProcessingException e) {
      throw new IllegalStateException(e);
    }
  }

  private static String stripSlash(String path) {
    return path.endsWith("/") ? path.substring(0, path.length() - 1) : path;
  }

  private static String rootMessage(Throwable e) {
    Throwable t = e;
    while (t.getCause() != null && t.getCause() != t) {
      t = t.getCause();
    }
    return t.getClass().getSimpleName() + ": " + t.getMessage();
  }
}
