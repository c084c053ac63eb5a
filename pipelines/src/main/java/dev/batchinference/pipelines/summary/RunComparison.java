package dev.batchinference.pipelines.summary;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.batchinference.pipelines.cli.NewRecords;
import dev.batchinference.pipelines.options.BatchInferenceOptions;
import dev.batchinference.pipelines.options.InvalidJobException;
import dev.batchinference.transforms.stats.EmbeddingCentroid;
import java.io.IOException;
import java.io.InputStream;
import java.io.Serializable;
import java.nio.channels.Channels;
import java.util.Locale;
import java.util.TreeSet;
import org.apache.beam.sdk.io.FileSystems;

/**
 * Compares a run's summary with the previous run's: the population stability index (PSI) of the
 * class distribution and of the top-score histogram, shifts of the top score's mean and quantiles,
 * the cosine distance between the two runs' mean embeddings, and the changes in failure rate and
 * throughput. Figures past their {@link Thresholds} become alerts. Summaries of a different task or
 * model are not compared; the comparison says why.
 */
public final class RunComparison {

  /** Share given to a class or bin that one run has none of, so that the PSI stays finite. */
  static final double PSI_EPSILON = 1e-4;

  private static final ObjectMapper JSON = new ObjectMapper();

  private RunComparison() {}

  /** Alert thresholds; a negative one turns its check off. */
  public static final class Thresholds implements Serializable {
    final double maxPsi;
    final double maxScoreShift;
    final double maxCentroidShift;
    final double maxFailureRateIncrease;
    final double maxThroughputDrop;

    Thresholds(
        double maxPsi,
        double maxScoreShift,
        double maxCentroidShift,
        double maxFailureRateIncrease,
        double maxThroughputDrop) {
      this.maxPsi = maxPsi;
      this.maxScoreShift = maxScoreShift;
      this.maxCentroidShift = maxCentroidShift;
      this.maxFailureRateIncrease = maxFailureRateIncrease;
      this.maxThroughputDrop = maxThroughputDrop;
    }

    public static Thresholds of(BatchInferenceOptions options) {
      return new Thresholds(
          options.getMaxPsi(),
          options.getMaxScoreShift(),
          options.getMaxCentroidShift(),
          options.getMaxFailureRateIncrease(),
          options.getMaxThroughputDrop());
    }

    static Thresholds defaults() {
      return new Thresholds(0.2, 0.1, 0.05, 0.01, 0.5);
    }

    /** The alert threshold of {@code metric}: its option's value, or -1 (off) when it has none. */
    double of(DriftMetric metric) {
      switch (metric.thresholdOption().orElse("")) {
        case "--maxPsi":
          return maxPsi;
        case "--maxScoreShift":
          return maxScoreShift;
        case "--maxCentroidShift":
          return maxCentroidShift;
        case "--maxFailureRateIncrease":
          return maxFailureRateIncrease;
        case "--maxThroughputDrop":
          return maxThroughputDrop;
        default:
          return -1;
      }
    }
  }

  /**
   * Reads the previous run's summary, before the job reads any data; a missing, unreadable or
   * foreign file fails the job with what to do. Returned as text, which the summary step carries.
   */
  public static String readPrevious(String path) {
    JsonNode summary = readSummary(path);
    if (!summary.isObject() || !summary.path("records_read").isNumber()) {
      throw new InvalidJobException(
          "--previousSummary "
              + path
              + " is not a run summary (a JSON object with records_read). Point it at the"
              + " summary.json of the previous run.");
    }
    return summary.toString();
  }

  /**
   * The JSON of {@code --previousSummary}, read through Beam's file systems; the run comparison and
   * {@code --minNewRecords} ({@link NewRecords}) both read it through here, each then checking the
   * fields it needs.
   */
  public static JsonNode readSummary(String path) {
    JsonNode summary;
    try (InputStream in =
        Channels.newInputStream(FileSystems.open(FileSystems.matchNewResource(path, false)))) {
      summary = JSON.readTree(in);
    } catch (IOException | RuntimeException e) {
      throw new InvalidJobException(
          "--previousSummary "
              + path
              + " cannot be read ("
              + e.getClass().getSimpleName()
              + ": "
              + e.getMessage()
              + "). Point it at the summary.json of the previous run, or leave it unset for the"
              + " first run.",
          e);
    }
    return summary == null ? JSON.missingNode() : summary;
  }

  /**
   * Compares {@code current} with {@code previous}; returns the {@code comparison} object. Alerts
   * are appended to {@code alerts}, one object each with {@code metric}, {@code value}, {@code
   * threshold} and {@code message}.
   */
  static ObjectNode compare(
      JsonNode previous,
      JsonNode current,
      String previousPath,
      Thresholds thresholds,
      ArrayNode alerts) {
    ObjectNode c = JSON.createObjectNode();
    c.put("previous_summary", previousPath);
    c.put("previous_started_at", previous.path("started_at").asText(null));
    String why = notComparable(previous, current);
    c.put("comparable", why == null);
    if (why != null) {
      c.put("reason", why);
      return c;
    }
    ArrayNode notes = c.putArray("notes");
    String previousSha = previous.path("model").path("sha256").asText("");
    if (!previousSha.equals(current.path("model").path("sha256").asText(""))) {
      notes.add(
          "the model changed (sha256 "
              + abbreviate(previousSha)
              + " before): part of any drift may be the model's");
    }
    ObjectNode metrics = c.putObject("metrics");
    JsonNode prevDist = previous.path("prediction_distribution");
    JsonNode curDist = current.path("prediction_distribution");

    JsonNode prevClasses = prevDist.path("class_counts");
    JsonNode curClasses = curDist.path("class_counts");
    if (prevClasses.isObject() && curClasses.isObject()) {
      c.set("class_distribution", classTable(prevClasses, curClasses));
      long[][] counts = byClass(prevClasses, curClasses);
      checkPsi(metrics, alerts, DriftMetric.CLASS_PSI, counts[0], counts[1], thresholds);
    } else if (prevClasses.isObject() != curClasses.isObject()) {
      notes.add("only one of the runs has a class distribution");
    }

    JsonNode prevScore = prevDist.path("score");
    JsonNode curScore = curDist.path("score");
    if (prevScore.isObject() && curScore.isObject()) {
      JsonNode prevHist = prevScore.path("histogram").path("counts");
      JsonNode curHist = curScore.path("histogram").path("counts");
      if (prevHist.isArray() && curHist.isArray() && prevHist.size() == curHist.size()) {
        checkPsi(
            metrics,
            alerts,
            DriftMetric.TOP_SCORE_PSI,
            toArray(prevHist),
            toArray(curHist),
            thresholds);
      } else {
        notes.add("the previous summary has no top-score histogram: no score PSI or quantiles");
      }
      shift(metrics, alerts, DriftMetric.TOP_SCORE_MEAN, prevScore, curScore, "mean", thresholds);
      shift(metrics, alerts, DriftMetric.TOP_SCORE_STD, prevScore, curScore, "std", thresholds);
      for (String q : new String[] {"p05", "p50", "p95"}) {
        if (prevScore.path(q).isNumber() && curScore.path(q).isNumber()) {
          shift(
              metrics, alerts, DriftMetric.topScoreQuantile(q), prevScore, curScore, q, thresholds);
        }
      }
    }

    JsonNode prevCentroid = prevDist.path("embedding_centroid");
    JsonNode curCentroid = curDist.path("embedding_centroid");
    if (prevCentroid.isObject() && curCentroid.isObject()) {
      double[] a = doubles(prevCentroid.path("mean"));
      double[] b = doubles(curCentroid.path("mean"));
      if (a.length != b.length) {
        notes.add(
            "the embeddings have "
                + b.length
                + " dimensions, the previous run's "
                + a.length
                + ": no centroid shift");
      } else {
        check(
            metrics,
            alerts,
            DriftMetric.EMBEDDING_CENTROID_COSINE_DISTANCE,
            EmbeddingCentroid.cosineDistance(a, b),
            null,
            null,
            thresholds,
            false);
        shift(
            metrics,
            alerts,
            DriftMetric.EMBEDDING_CENTROID_NORM,
            prevCentroid,
            curCentroid,
            "norm",
            thresholds);
      }
    } else if (curCentroid.isObject()) {
      notes.add("the previous summary has no embedding centroid: no centroid shift");
    }
    JsonNode prevNorm = prevDist.path("embedding_norm");
    JsonNode curNorm = curDist.path("embedding_norm");
    if (prevNorm.isObject() && curNorm.isObject()) {
      shift(
          metrics, alerts, DriftMetric.EMBEDDING_NORM_MEAN, prevNorm, curNorm, "mean", thresholds);
    }

    double prevRate = failureRate(previous);
    double curRate = failureRate(current);
    check(
        metrics,
        alerts,
        DriftMetric.FAILURE_RATE,
        curRate - prevRate,
        prevRate,
        curRate,
        thresholds,
        false);

    double prevThroughput = previous.path("throughput_records_per_second").asDouble(0);
    double curThroughput = current.path("throughput_records_per_second").asDouble(0);
    if (prevThroughput > 0) {
      check(
          metrics,
          alerts,
          DriftMetric.THROUGHPUT_DROP,
          (prevThroughput - curThroughput) / prevThroughput,
          prevThroughput,
          curThroughput,
          thresholds,
          false);
    }
    return c;
  }

  /** Why two summaries cannot be compared, or null when they can. */
  private static String notComparable(JsonNode previous, JsonNode current) {
    String prevTask = previous.path("task").asText("");
    String curTask = current.path("task").asText("");
    if (!prevTask.equals(curTask)) {
      return "the previous run was task " + quote(prevTask) + ", this one is " + quote(curTask);
    }
    String prevModel = previous.path("model").path("name").asText("");
    String curModel = current.path("model").path("name").asText("");
    if (!prevModel.equals(curModel)) {
      return "the previous run used model "
          + quote(prevModel)
          + ", this one uses "
          + quote(curModel);
    }
    return null;
  }

  /**
   * The population stability index of two count distributions over the same categories: the sum of
   * (q - p) ln(q / p) over the shares p (before) and q (now), an empty share counting as {@link
   * #PSI_EPSILON}. Below 0.1 is usually read as stable, above 0.2 as a real shift.
   */
  static double psi(long[] before, long[] now) {
    long totalBefore = 0;
    long totalNow = 0;
    for (int i = 0; i < before.length; i++) {
      totalBefore += before[i];
      totalNow += now[i];
    }
    if (totalBefore == 0 || totalNow == 0) {
      return Double.NaN;
    }
    double psi = 0;
    for (int i = 0; i < before.length; i++) {
      double p = Math.max(PSI_EPSILON, before[i] / (double) totalBefore);
      double q = Math.max(PSI_EPSILON, now[i] / (double) totalNow);
      psi += (q - p) * Math.log(q / p);
    }
    return psi;
  }

  /**
   * The PSI that sampling alone gives on average when nothing drifted, (k - 1)(1/n1 + 1/n2) for k
   * categories that either run has and n1, n2 records: about 0.15 for 20 bins and 250 records a
   * run, next to nothing for large runs. It is added to the PSI threshold so that small runs do not
   * raise false alarms.
   */
  static double psiSamplingAllowance(long[] before, long[] now) {
    long totalBefore = 0;
    long totalNow = 0;
    int categories = 0;
    for (int i = 0; i < before.length; i++) {
      totalBefore += before[i];
      totalNow += now[i];
      categories += before[i] + now[i] > 0 ? 1 : 0;
    }
    if (totalBefore == 0 || totalNow == 0) {
      return 0;
    }
    return Math.max(0, categories - 1) * (1.0 / totalBefore + 1.0 / totalNow);
  }

  /** Class counts of both runs, over both runs' classes in name order. */
  static long[][] byClass(JsonNode before, JsonNode now) {
    TreeSet<String> classes = new TreeSet<>();
    before.fieldNames().forEachRemaining(classes::add);
    now.fieldNames().forEachRemaining(classes::add);
    long[][] counts = new long[2][classes.size()];
    int i = 0;
    for (String name : classes) {
      counts[0][i] = before.path(name).asLong(0);
      counts[1][i] = now.path(name).asLong(0);
      i++;
    }
    return counts;
  }

  private static void checkPsi(
      ObjectNode metrics,
      ArrayNode alerts,
      DriftMetric metric,
      long[] before,
      long[] now,
      Thresholds thresholds) {
    double threshold = thresholds.of(metric);
    double allowance = psiSamplingAllowance(before, now);
    check(
        metrics,
        alerts,
        metric.metricName(),
        psi(before, now),
        null,
        null,
        threshold < 0 ? threshold : threshold + allowance,
        false);
    if (threshold >= 0) {
      ((ObjectNode) metrics.get(metric.metricName())).put("sampling_allowance", round(allowance));
    }
  }

  private static ObjectNode classTable(JsonNode before, JsonNode now) {
    TreeSet<String> classes = new TreeSet<>();
    before.fieldNames().forEachRemaining(classes::add);
    now.fieldNames().forEachRemaining(classes::add);
    long totalBefore = 0;
    long totalNow = 0;
    for (String name : classes) {
      totalBefore += before.path(name).asLong(0);
      totalNow += now.path(name).asLong(0);
    }
    ObjectNode table = JSON.createObjectNode();
    for (String name : classes) {
      ObjectNode row = table.putObject(name);
      long b = before.path(name).asLong(0);
      long n = now.path(name).asLong(0);
      row.put("previous", b);
      row.put("current", n);
      row.put("previous_share", round(totalBefore == 0 ? 0 : b / (double) totalBefore));
      row.put("current_share", round(totalNow == 0 ? 0 : n / (double) totalNow));
    }
    return table;
  }

  private static void shift(
      ObjectNode metrics,
      ArrayNode alerts,
      DriftMetric metric,
      JsonNode before,
      JsonNode now,
      String field,
      Thresholds thresholds) {
    if (!before.path(field).isNumber() || !now.path(field).isNumber()) {
      return;
    }
    double b = before.path(field).asDouble();
    double n = now.path(field).asDouble();
    check(metrics, alerts, metric.metricName(), n - b, b, n, thresholds.of(metric), true);
  }

  private static void check(
      ObjectNode metrics,
      ArrayNode alerts,
      DriftMetric metric,
      double value,
      Double before,
      Double now,
      Thresholds thresholds,
      boolean bothWays) {
    check(
        metrics, alerts, metric.metricName(), value, before, now, thresholds.of(metric), bothWays);
  }

  /**
   * Records {@code value} as {@code metric}; past a non-negative {@code threshold} (in absolute
   * value when {@code bothWays}) it is also an alert.
   */
  private static void check(
      ObjectNode metrics,
      ArrayNode alerts,
      String metric,
      double value,
      Double before,
      Double now,
      double threshold,
      boolean bothWays) {
    ObjectNode m = metrics.putObject(metric);
    if (before != null) {
      m.put("previous", round(before));
      m.put("current", round(now));
    }
    if (Double.isNaN(value)) {
      m.putNull("value");
      m.put("alert", false);
      return;
    }
    m.put("value", round(value));
    boolean alert = threshold >= 0 && (bothWays ? Math.abs(value) : value) > threshold;
    if (threshold >= 0) {
      m.put("threshold", round(threshold));
    } else {
      m.putNull("threshold");
    }
    m.put("alert", alert);
    if (alert) {
      ObjectNode a = alerts.addObject();
      a.put("metric", metric);
      a.put("value", round(value));
      a.put("threshold", round(threshold));
      a.put(
          "message",
          String.format(
                  Locale.ROOT,
                  "%s is %s, past the threshold %s%s",
                  metric,
                  format(value),
                  (bothWays ? "±" : ""),
                  format(threshold))
              + (before == null
                  ? ""
                  : String.format(
                      Locale.ROOT, " (previous %s, now %s)", format(before), format(now))));
    }
  }

  private static double failureRate(JsonNode summary) {
    long read = summary.path("records_read").asLong(0);
    return read == 0 ? 0 : summary.path("failures").asLong(0) / (double) read;
  }

  private static long[] toArray(JsonNode array) {
    long[] out = new long[array.size()];
    for (int i = 0; i < out.length; i++) {
      out[i] = array.get(i).asLong();
    }
    return out;
  }

  private static double[] doubles(JsonNode array) {
    double[] out = new double[array.isArray() ? array.size() : 0];
    for (int i = 0; i < out.length; i++) {
      out[i] = array.get(i).asDouble();
    }
    return out;
  }

  private static String quote(String s) {
    return "'" + s + "'";
  }

  private static String abbreviate(String sha) {
    return sha.length() > 12 ? sha.substring(0, 12) : sha;
  }

  /** {@code v} to 4 significant digits, without trailing zeros: 0.2, 2.341, -0.0046. */
  static String format(double v) {
    if (!Double.isFinite(v)) {
      return Double.toString(v);
    }
    return new java.math.BigDecimal(v)
        .round(new java.math.MathContext(4))
        .stripTrailingZeros()
        .toPlainString();
  }

  private static double round(double v) {
    return Math.round(v * 10000.0) / 10000.0;
  }
}
