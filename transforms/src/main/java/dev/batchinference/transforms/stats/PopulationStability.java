package dev.batchinference.transforms.stats;

import static org.apache.beam.vendor.guava.v32_1_2_jre.com.google.common.base.Preconditions.checkArgument;

/**
 * The population stability index (PSI): how far a distribution over fixed categories (predicted
 * classes, score histogram bins) moved between two runs.
 *
 * <p>With p the share of a category before and q its share now, PSI is the sum over categories of
 * (q - p) ln(q / p): 0 for identical shares, growing with every share that moved, symmetric in the
 * two runs. It is usually read as stable below 0.1, a moderate shift between 0.1 and 0.2, and a
 * real shift above 0.2. Two finite samples of the same population still differ by chance, which
 * {@link #psiSamplingAllowance} estimates so that a threshold can allow for it.
 *
 * <pre>{@code
 * double drift = PopulationStability.psi(before, now);
 * boolean alert = drift > 0.2 + PopulationStability.psiSamplingAllowance(before, now);
 * }</pre>
 */
public final class PopulationStability {

  /** Share given to a category that one run has none of, so that the PSI stays finite. */
  public static final double PSI_EPSILON = 1e-4;

  private PopulationStability() {}

  /**
   * The population stability index of two count distributions over the same categories (index
   * {@code i} of both arrays is the same category): the sum of (q - p) ln(q / p) over the shares p
   * (before) and q (now), an empty share counting as {@link #PSI_EPSILON}. NaN when either run has
   * no counts at all.
   */
  public static double psi(long[] before, long[] now) {
    checkSameCategories(before, now);
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
   * run, next to nothing for large runs. Add it to a PSI threshold so that small runs do not raise
   * false alarms. 0 when either run has no counts.
   */
  public static double psiSamplingAllowance(long[] before, long[] now) {
    checkSameCategories(before, now);
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

  private static void checkSameCategories(long[] before, long[] now) {
    checkArgument(
        before.length == now.length,
        "both runs must count the same categories, got %s and %s counts",
        before.length,
        now.length);
  }
}
