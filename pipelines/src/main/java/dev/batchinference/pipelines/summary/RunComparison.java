package dev.batchinference.pipelines.summary;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.batchinference.pipelines.options.InvalidJobException;
import dev.batchinference.transforms.stats.EmbeddingCentroid;
import dev.batchinference.transforms.stats.PopulationStability;
import java.io.IOException;
import java.io.InputStream;
import java.io.Serializable;
import java.nio.channels.Channels;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.TreeSet;
import org.apache.beam.sdk.io.FileSystems;
import org.checkerframework.checker.nullness.qual.Nullable;

/**
 * Compares a run's summary with the previous run's: the population stability index (PSI) of the
 * class distribution and of the top-score histogram, shifts of the top score's mean and quantiles,
 * the cosine distance between the two runs' mean embeddings, and the changes in failure rate and
 * throughput. Figures past their {@link Thresholds} become alerts. Summaries of a different task or
 * model are not compared; the comparison says why.
 */
public final class RunComparison {

  private static final ObjectMapper JSON = new ObjectMapper();

  private RunComparison() {}

  /** Alert thresholds; a negative one turns its check off. */
  public static final class Thresholds implements Serializable {
    final double maxPsi;
    final double maxScoreShift;
    final double maxCentroidShift;
    final double maxFailureRateIncrease;
    final double maxThroughputDrop;

    public Thresholds(
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
    try {
      // Read as the summary step will, now rather than after the whole job ran.
      RunSummary.of(summary);
    } catch (RuntimeException e) {
      throw new InvalidJobException(
          "--previousSummary "
              + path
              + " is not a run summary this version can read ("
              + e.getMessage()
              + "). Point it at the summary.json of the previous run.",
          e);
    }
    return summary.toString();
  }

  /**
   * The JSON of {@code --previousSummary}, read through Beam's file systems; the run comparison and
   * {@code --minNewRecords} ({@code NewRecords}) both read it through here, each then checking the
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
   * Compares {@code current} with {@code previous}; returns the {@code comparison}. Alerts are
   * appended to {@code alerts}.
   */
  static RunSummary.Comparison compare(
      RunSummary previous,
      RunSummary current,
      String previousPath,
      Thresholds thresholds,
      List<RunSummary.Alert> alerts) {
    String why = notComparable(previous, current);
    if (why != null) {
      return new RunSummary.Comparison(
          previousPath, previous.startedAt(), false, why, null, null, null);
    }
    List<String> notes = new ArrayList<>();
    Map<String, RunSummary.Metric> metrics = new LinkedHashMap<>();
    Map<String, RunSummary.ClassShare> classDistribution = null;
    String previousSha = sha256(previous);
    if (!previousSha.equals(sha256(current))) {
      notes.add(
          "the model changed (sha256 "
              + abbreviate(previousSha)
              + " before): part of any drift may be the model's");
    }
    RunSummary.Distribution prevDist = previous.predictionDistribution();
    RunSummary.Distribution curDist = current.predictionDistribution();

    Map<String, Long> prevClasses = prevDist.classCounts();
    Map<String, Long> curClasses = curDist.classCounts();
    if (prevClasses != null && curClasses != null) {
      classDistribution = classTable(prevClasses, curClasses);
      long[][] counts = byClass(prevClasses, curClasses);
      checkPsi(metrics, alerts, DriftMetric.CLASS_PSI, counts[0], counts[1], thresholds);
    } else if ((prevClasses == null) != (curClasses == null)) {
      notes.add("only one of the runs has a class distribution");
    }

    RunSummary.Score prevScore = prevDist.score();
    RunSummary.Score curScore = curDist.score();
    if (prevScore != null && curScore != null) {
      long[] prevHist = prevScore.histogram() == null ? null : prevScore.histogram().counts();
      long[] curHist = curScore.histogram() == null ? null : curScore.histogram().counts();
      if (prevHist != null && curHist != null && prevHist.length == curHist.length) {
        checkPsi(metrics, alerts, DriftMetric.TOP_SCORE_PSI, prevHist, curHist, thresholds);
      } else {
        notes.add("the previous summary has no top-score histogram: no score PSI or quantiles");
      }
      shift(
          metrics,
          alerts,
          DriftMetric.TOP_SCORE_MEAN,
          prevScore.mean(),
          curScore.mean(),
          thresholds);
      shift(
          metrics, alerts, DriftMetric.TOP_SCORE_STD, prevScore.std(), curScore.std(), thresholds);
      shift(
          metrics, alerts, DriftMetric.TOP_SCORE_P05, prevScore.p05(), curScore.p05(), thresholds);
      shift(
          metrics, alerts, DriftMetric.TOP_SCORE_P50, prevScore.p50(), curScore.p50(), thresholds);
      shift(
          metrics, alerts, DriftMetric.TOP_SCORE_P95, prevScore.p95(), curScore.p95(), thresholds);
    }

    RunSummary.Centroid prevCentroid = prevDist.embeddingCentroid();
    RunSummary.Centroid curCentroid = curDist.embeddingCentroid();
    if (prevCentroid != null && curCentroid != null) {
      double[] a = prevCentroid.mean();
      double[] b = curCentroid.mean();
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
            thresholds.of(DriftMetric.EMBEDDING_CENTROID_COSINE_DISTANCE),
            false);
        shift(
            metrics,
            alerts,
            DriftMetric.EMBEDDING_CENTROID_NORM,
            prevCentroid.norm(),
            curCentroid.norm(),
            thresholds);
      }
    } else if (curCentroid != null) {
      notes.add("the previous summary has no embedding centroid: no centroid shift");
    }
    RunSummary.Moments prevNorm = prevDist.embeddingNorm();
    RunSummary.Moments curNorm = curDist.embeddingNorm();
    if (prevNorm != null && curNorm != null) {
      shift(
          metrics,
          alerts,
          DriftMetric.EMBEDDING_NORM_MEAN,
          prevNorm.mean(),
          curNorm.mean(),
          thresholds);
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
        thresholds.of(DriftMetric.FAILURE_RATE),
        false);

    double prevThroughput = previous.throughputRecordsPerSecond();
    double curThroughput = current.throughputRecordsPerSecond();
    if (prevThroughput > 0) {
      check(
          metrics,
          alerts,
          DriftMetric.THROUGHPUT_DROP,
          (prevThroughput - curThroughput) / prevThroughput,
          prevThroughput,
          curThroughput,
          thresholds.of(DriftMetric.THROUGHPUT_DROP),
          false);
    }
    return new RunSummary.Comparison(
        previousPath, previous.startedAt(), true, null, notes, metrics, classDistribution);
  }

  /** {@link #compare} on summaries as JSON trees, for tests: the comparison as JSON. */
  static ObjectNode compare(
      JsonNode previous,
      JsonNode current,
      String previousPath,
      Thresholds thresholds,
      ArrayNode alerts) {
    List<RunSummary.Alert> raised = new ArrayList<>();
    RunSummary.Comparison c =
        compare(RunSummary.of(previous), RunSummary.of(current), previousPath, thresholds, raised);
    for (RunSummary.Alert alert : raised) {
      alerts.add(RunSummary.JSON.valueToTree(alert));
    }
    return RunSummary.JSON.valueToTree(c);
  }

  /** Why two summaries cannot be compared, or null when they can. */
  private static String notComparable(RunSummary previous, RunSummary current) {
    String prevTask = orEmpty(previous.task());
    String curTask = orEmpty(current.task());
    if (!prevTask.equals(curTask)) {
      return "the previous run was task " + quote(prevTask) + ", this one is " + quote(curTask);
    }
    String prevModel = previous.model() == null ? "" : orEmpty(previous.model().name());
    String curModel = current.model() == null ? "" : orEmpty(current.model().name());
    if (!prevModel.equals(curModel)) {
      return "the previous run used model "
          + quote(prevModel)
          + ", this one uses "
          + quote(curModel);
    }
    return null;
  }

  private static String sha256(RunSummary summary) {
    return summary.model() == null ? "" : orEmpty(summary.model().sha256());
  }

  private static String orEmpty(@Nullable String s) {
    return s == null ? "" : s;
  }

  /** Class counts of both runs, over both runs' classes in name order. */
  static long[][] byClass(Map<String, Long> before, Map<String, Long> now) {
    TreeSet<String> classes = new TreeSet<>(before.keySet());
    classes.addAll(now.keySet());
    long[][] counts = new long[2][classes.size()];
    int i = 0;
    for (String name : classes) {
      counts[0][i] = before.getOrDefault(name, 0L);
      counts[1][i] = now.getOrDefault(name, 0L);
      i++;
    }
    return counts;
  }

  private static void checkPsi(
      Map<String, RunSummary.Metric> metrics,
      List<RunSummary.Alert> alerts,
      DriftMetric metric,
      long[] before,
      long[] now,
      Thresholds thresholds) {
    double threshold = thresholds.of(metric);
    double allowance = PopulationStability.psiSamplingAllowance(before, now);
    check(
        metrics,
        alerts,
        metric,
        PopulationStability.psi(before, now),
        null,
        null,
        threshold < 0 ? threshold : threshold + allowance,
        false);
    if (threshold >= 0) {
      RunSummary.Metric m = metrics.get(metric.metricName());
      metrics.put(
          metric.metricName(),
          new RunSummary.Metric(
              m.previous(), m.current(), m.value(), m.threshold(), m.alert(), round(allowance)));
    }
  }

  private static Map<String, RunSummary.ClassShare> classTable(
      Map<String, Long> before, Map<String, Long> now) {
    TreeSet<String> classes = new TreeSet<>(before.keySet());
    classes.addAll(now.keySet());
    long totalBefore = 0;
    long totalNow = 0;
    for (String name : classes) {
      totalBefore += before.getOrDefault(name, 0L);
      totalNow += now.getOrDefault(name, 0L);
    }
    Map<String, RunSummary.ClassShare> table = new LinkedHashMap<>();
    for (String name : classes) {
      long b = before.getOrDefault(name, 0L);
      long n = now.getOrDefault(name, 0L);
      table.put(
          name,
          new RunSummary.ClassShare(
              b,
              n,
              round(totalBefore == 0 ? 0 : b / (double) totalBefore),
              round(totalNow == 0 ? 0 : n / (double) totalNow)));
    }
    return table;
  }

  /** A shift of a figure both summaries hold (older ones may not: then nothing). */
  private static void shift(
      Map<String, RunSummary.Metric> metrics,
      List<RunSummary.Alert> alerts,
      DriftMetric metric,
      @Nullable Double before,
      @Nullable Double now,
      Thresholds thresholds) {
    if (before == null || now == null) {
      return;
    }
    check(metrics, alerts, metric, now - before, before, now, thresholds.of(metric), true);
  }

  /**
   * Records {@code value} as {@code metric}; past a non-negative {@code threshold} (in absolute
   * value when {@code bothWays}) it is also an alert.
   */
  private static void check(
      Map<String, RunSummary.Metric> metrics,
      List<RunSummary.Alert> alerts,
      DriftMetric drift,
      double value,
      @Nullable Double before,
      @Nullable Double now,
      double threshold,
      boolean bothWays) {
    String metric = drift.metricName();
    Double previous = before == null ? null : round(before);
    Double current = before == null ? null : round(now);
    if (Double.isNaN(value)) {
      metrics.put(metric, new RunSummary.Metric(previous, current, null, null, false, null));
      return;
    }
    boolean alert = threshold >= 0 && (bothWays ? Math.abs(value) : value) > threshold;
    metrics.put(
        metric,
        new RunSummary.Metric(
            previous,
            current,
            round(value),
            threshold >= 0 ? round(threshold) : null,
            alert,
            null));
    if (alert) {
      alerts.add(
          new RunSummary.Alert(
              metric,
              round(value),
              round(threshold),
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
                          Locale.ROOT, " (previous %s, now %s)", format(before), format(now)))));
    }
  }

  private static double failureRate(RunSummary summary) {
    long read = summary.recordsRead();
    return read == 0 ? 0 : summary.failures() / (double) read;
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
