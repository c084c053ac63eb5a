package dev.batchinference.pipelines.summary;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.util.Iterator;
import java.util.Locale;
import java.util.Map;

/**
 * The failure gate ({@code --maxFailureRate}): a run whose failures exceed this share of the
 * records read still writes everything, but is not a success. The summary says so in its {@code
 * failure_gate} object, and the command line ends with exit status {@link
 * ExitStatus#TOO_MANY_FAILURES} and one line naming the rate and the most frequent failure reason.
 */
public final class FailureGate {

  private FailureGate() {}

  /**
   * Adds {@code failure_rate} and {@code failure_gate} to a summary that already holds {@code
   * records_read}, {@code failures}, {@code failures_by_error}, {@code failure_examples} and the
   * job's {@code max_failure_rate} (null when the gate is off).
   */
  static void addTo(ObjectNode summary) {
    JsonNode max = summary.path("max_failure_rate");
    double maxFailureRate = max.isNumber() ? max.asDouble() : -1;
    long read = summary.path("records_read").asLong();
    long failed = summary.path("failures").asLong();
    double rate = read == 0 ? 0 : (double) failed / read;
    summary.put("failure_rate", Math.round(rate * 1e6) / 1e6);
    ObjectNode gate = summary.putObject("failure_gate");
    boolean on = maxFailureRate >= 0;
    if (on) {
      gate.put("max_failure_rate", maxFailureRate);
    } else {
      gate.putNull("max_failure_rate");
    }
    boolean exceeded = on && rate > maxFailureRate;
    gate.put("exceeded", exceeded);
    if (exceeded) {
      gate.put("message", message(summary, rate, maxFailureRate));
    }
  }

  /** Whether a summary says its run failed the gate (false for summaries from before the gate). */
  static boolean exceeded(JsonNode summary) {
    return summary.path("failure_gate").path("exceeded").asBoolean(false);
  }

  private static String message(ObjectNode summary, double rate, double max) {
    long failed = summary.path("failures").asLong();
    String top = null;
    long topCount = -1;
    Iterator<Map.Entry<String, JsonNode>> errors = summary.path("failures_by_error").fields();
    while (errors.hasNext()) {
      Map.Entry<String, JsonNode> e = errors.next();
      if (e.getValue().asLong() > topCount) {
        top = e.getKey();
        topCount = e.getValue().asLong();
      }
    }
    StringBuilder line =
        new StringBuilder(
            String.format(
                Locale.ROOT,
                "too many failures: %,d of %,d records failed (%.1f%%), above --maxFailureRate=%s",
                failed,
                summary.path("records_read").asLong(),
                rate * 100,
                trim(max)));
    if (top != null) {
      line.append(String.format(Locale.ROOT, "; most frequent: %s (%,d)", top, topCount));
      JsonNode example = summary.path("failure_examples").path(top).path(0).path("error");
      if (example.isTextual()) {
        String text = example.asText().replaceAll("\\s+", " ");
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
