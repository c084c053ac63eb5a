package dev.batchinference.pipelines.summary;

import java.util.Optional;
import org.checkerframework.checker.nullness.qual.Nullable;

/**
 * The figures a run comparison ({@link RunComparison}) measures: each with its name in the
 * summary's {@code comparison.metrics}, what it means (the report's drift table shows it) and the
 * option whose threshold turns it into an alert ({@code --maxPsi} ...), or none for figures that
 * are only shown. The one list of drift metrics: the comparison, the report and the options read it
 * from here.
 */
public enum DriftMetric {
  CLASS_PSI(
      "class_psi",
      "Population stability index of the class shares (0 = same; >0.1 moderate, >0.2"
          + " large shift)",
      "--maxPsi"),
  TOP_SCORE_PSI(
      "top_score_psi",
      "Population stability index of the top-score histogram (20 bins over 0..1)",
      "--maxPsi"),
  TOP_SCORE_MEAN(
      "top_score_mean", "Change in the mean score of the predicted class", "--maxScoreShift"),
  TOP_SCORE_STD("top_score_std", "Change in the spread of the top score", null),
  TOP_SCORE_P05("top_score_p05", Meanings.QUANTILE, null),
  TOP_SCORE_P50("top_score_p50", Meanings.QUANTILE, null),
  TOP_SCORE_P95("top_score_p95", Meanings.QUANTILE, null),
  EMBEDDING_CENTROID_COSINE_DISTANCE(
      "embedding_centroid_cosine_distance",
      "Cosine distance between the two runs' mean embeddings (0 = same direction)",
      "--maxCentroidShift"),
  EMBEDDING_CENTROID_NORM(
      "embedding_centroid_norm",
      "Change in the norm of the mean embedding (lower = more varied inputs)",
      null),
  EMBEDDING_NORM_MEAN(
      "embedding_norm_mean",
      "Change in the mean embedding norm (1 for normalized embeddings)",
      null),
  FAILURE_RATE(
      "failure_rate",
      "Change in failures / records read (0.01 = one percentage point)",
      "--maxFailureRateIncrease"),
  THROUGHPUT_DROP(
      "throughput_drop",
      "Fall in records read per second of wall time, as a fraction of the previous",
      "--maxThroughputDrop");

  private final String metricName;
  private final String meaning;
  private final @Nullable String thresholdOption;

  DriftMetric(String metricName, String meaning, @Nullable String thresholdOption) {
    this.metricName = metricName;
    this.meaning = meaning;
    this.thresholdOption = thresholdOption;
  }

  /** The name in the summary ({@code class_psi}) and in alert messages. */
  public String metricName() {
    return metricName;
  }

  /** What the figure means, for a person reading the report. */
  public String meaning() {
    return meaning;
  }

  /** The option that sets its alert threshold ({@code --maxPsi}); empty when it never alerts. */
  public Optional<String> thresholdOption() {
    return Optional.ofNullable(thresholdOption);
  }

  /** The metric named {@code metricName} in a summary, if it is one of these. */
  public static Optional<DriftMetric> named(String metricName) {
    for (DriftMetric m : values()) {
      if (m.metricName.equals(metricName)) {
        return Optional.of(m);
      }
    }
    return Optional.empty();
  }

  /** The quantile metric {@code top_score_<q>} for {@code q} one of p05, p50, p95. */
  static DriftMetric topScoreQuantile(String q) {
    return named("top_score_" + q)
        .orElseThrow(() -> new IllegalArgumentException("no top-score quantile " + q));
  }

  // Enum constants cannot refer to a static field of their own enum in their arguments.
  private static final class Meanings {
    static final String QUANTILE =
        "Change in that quantile of the top score (to within a bin, 0.05)";
  }
}
