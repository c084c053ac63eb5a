package dev.batchinference.pipelines.summary;

import com.fasterxml.jackson.databind.node.ObjectNode;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import org.checkerframework.checker.nullness.qual.Nullable;

/**
 * The failure gate ({@code --maxFailureRate}): a run whose failures exceed this share of the
 * records read still writes everything, but is not a success. The summary says so in its {@code
 * failure_gate} object, and the command line ends with exit status {@link
 * ExitStatus#TOO_MANY_FAILURES} and one line naming the rate and the most frequent failure reason.
 */
public final class FailureGate {

  private final double rate;
  private final RunSummary.FailureGateResult result;

  private FailureGate(double rate, RunSummary.FailureGateResult result) {
    this.rate = rate;
    this.result = result;
  }

  /**
   * The gate's verdict on a run that read {@code read} records of which {@code failed} failed, with
   * the job's {@code maxFailureRate} (null or negative when the gate is off); the failures by error
   * and their examples name the most frequent reason.
   */
  static FailureGate of(
      long read,
      long failed,
      @Nullable Double maxFailureRate,
      Map<String, Long> failuresByError,
      Map<String, List<RunSummary.FailureExample>> failureExamples) {
    double max = maxFailureRate == null ? -1 : maxFailureRate;
    double rate = read == 0 ? 0 : (double) failed / read;
    boolean on = max >= 0;
    boolean exceeded = on && rate > max;
    return new FailureGate(
        Math.round(rate * 1e6) / 1e6,
        new RunSummary.FailureGateResult(
            on ? max : null,
            exceeded,
            exceeded ? message(read, failed, rate, max, failuresByError, failureExamples) : null));
  }

  /**
   * Adds {@code failure_rate} and {@code failure_gate} to a summary as a JSON tree that already
   * holds the counts, failures by error, examples and the job's {@code max_failure_rate} (tests
   * build summaries this way).
   */
  static void addTo(ObjectNode summary) {
    RunSummary s = RunSummary.of(summary);
    FailureGate gate =
        of(
            s.recordsRead(),
            s.failures(),
            s.maxFailureRate(),
            s.failuresByError(),
            s.failureExamples());
    summary.put("failure_rate", gate.rate());
    summary.set("failure_gate", RunSummary.JSON.valueToTree(gate.result()));
  }

  /** {@code failure_rate}: failures / records read, to 6 decimals. */
  double rate() {
    return rate;
  }

  /** {@code failure_gate}: its threshold (null when off), whether exceeded, and why. */
  RunSummary.FailureGateResult result() {
    return result;
  }

  private static String message(
      long read,
      long failed,
      double rate,
      double max,
      Map<String, Long> failuresByError,
      Map<String, List<RunSummary.FailureExample>> failureExamples) {
    String top = null;
    long topCount = -1;
    for (Map.Entry<String, Long> e : failuresByError.entrySet()) {
      if (e.getValue() > topCount) {
        top = e.getKey();
        topCount = e.getValue();
      }
    }
    StringBuilder line =
        new StringBuilder(
            String.format(
                Locale.ROOT,
                "too many failures: %,d of %,d records failed (%.1f%%), above --maxFailureRate=%s",
                failed,
                read,
                rate * 100,
                trim(max)));
    if (top != null) {
      line.append(String.format(Locale.ROOT, "; most frequent: %s (%,d)", top, topCount));
      List<RunSummary.FailureExample> examples = failureExamples.getOrDefault(top, List.of());
      String example = examples.isEmpty() ? null : examples.get(0).error();
      if (example != null) {
        String text = example.replaceAll("\\s+", " ");
        line.append(", e.g. \"")
            .append(text.length() > 200 ? text.substring(0, 200) + "…" : text)
            .append('"');
      }
    }
    return line.toString();
  }

  private static String trim(double v) {
    return v == Math.rint(v) ? Long.toString((long) v) : Double.toString(v);
  }
}
