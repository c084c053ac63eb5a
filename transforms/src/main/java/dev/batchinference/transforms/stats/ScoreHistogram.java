package dev.batchinference.transforms.stats;

import java.io.Serializable;
import java.util.Arrays;

/**
 * Counts of values in {@link #BINS} equal-width bins over [0, 1]; values below 0 count in the first
 * bin and values above 1 in the last. Mergeable, and enough for quantiles to within a bin width and
 * for a population stability index between two runs.
 */
public final class ScoreHistogram implements Serializable {

  /** Number of bins: 0.05 wide each. */
  public static final int BINS = 20;

  private final long[] counts = new long[BINS];

  public void add(double value) {
    if (Double.isNaN(value)) {
      return;
    }
    int bin = (int) Math.floor(value * BINS);
    counts[Math.max(0, Math.min(BINS - 1, bin))]++;
  }

  public void merge(ScoreHistogram other) {
    for (int i = 0; i < BINS; i++) {
      counts[i] += other.counts[i];
    }
  }

  public long count() {
    return Arrays.stream(counts).sum();
  }

  /** A copy of the counts, bin {@code i} holding values in [i / BINS, (i + 1) / BINS). */
  public long[] counts() {
    return counts.clone();
  }

  /**
   * The {@code q}-quantile (0..1), linearly interpolated inside its bin; NaN when empty. Exact to
   * within one bin width (0.05).
   */
  public double quantile(double q) {
    return quantile(counts, q);
  }

  /** {@link #quantile(double)} of histogram counts over [0, 1] with any number of bins. */
  public static double quantile(long[] counts, double q) {
    long total = Arrays.stream(counts).sum();
    if (total == 0) {
      return Double.NaN;
    }
    double target = q * total;
    double width = 1.0 / counts.length;
    long below = 0;
    for (int i = 0; i < counts.length; i++) {
      if (counts[i] > 0 && below + counts[i] >= target) {
        double within = Math.max(0, Math.min(1, (target - below) / counts[i]));
        return (i + within) * width;
      }
      below += counts[i];
    }
    return 1.0;
  }

  @Override
  public boolean equals(Object o) {
    return o instanceof ScoreHistogram && Arrays.equals(counts, ((ScoreHistogram) o).counts);
  }

  @Override
  public int hashCode() {
    return Arrays.hashCode(counts);
  }
}
