package dev.batchinference.transforms.stats;

import static org.hamcrest.MatcherAssert.assertThat;
import static org.hamcrest.Matchers.closeTo;
import static org.hamcrest.Matchers.containsString;
import static org.hamcrest.Matchers.is;
import static org.junit.Assert.assertThrows;

import org.junit.Test;
import org.junit.runner.RunWith;
import org.junit.runners.JUnit4;

/** Tests of {@link PopulationStability}: values worked out by hand. */
@RunWith(JUnit4.class)
public class PopulationStabilityTest {

  @Test
  public void psiIsZeroForTheSameSharesWhateverTheCounts() {
    assertThat(
        PopulationStability.psi(new long[] {10, 30}, new long[] {100, 300}), closeTo(0, 1e-12));
  }

  @Test
  public void psiOfKnownShifts() {
    // (0.5 - 0.1) ln 5 + (0.5 - 0.9) ln(5/9) = 0.87889
    assertThat(
        PopulationStability.psi(new long[] {1, 9}, new long[] {5, 5}), closeTo(0.87889, 1e-5));
    // (0.5 - 0.25) ln 2 + 0 + (0.25 - 0.5) ln(1/2) = ln 2 / 2
    assertThat(
        PopulationStability.psi(new long[] {25, 25, 50}, new long[] {50, 25, 25}),
        closeTo(Math.log(2) / 2, 1e-12));
    assertThat(
        "symmetric in the two runs",
        PopulationStability.psi(new long[] {50, 25, 25}, new long[] {25, 25, 50}),
        closeTo(Math.log(2) / 2, 1e-12));
    // 52/48 against 48/52: 2 (0.04 ln(52/48)) = 0.0064
    assertThat(
        PopulationStability.psi(new long[] {52, 48}, new long[] {48, 52}), closeTo(0.006403, 1e-6));
  }

  @Test
  public void anEmptyCategoryCountsAsEpsilonSoThePsiStaysFinite() {
    // p = (1e-4, 1), q = (0.5, 0.5): (0.5 - 1e-4) ln(0.5 / 1e-4) + (0.5 - 1) ln 0.5 = 4.60432
    double psi = PopulationStability.psi(new long[] {0, 10}, new long[] {5, 5});
    assertThat(
        (0.5 - PopulationStability.PSI_EPSILON) * Math.log(0.5 / PopulationStability.PSI_EPSILON)
            + 0.5 * Math.log(2),
        closeTo(4.60432, 1e-5));
    assertThat(psi, closeTo(4.60432, 1e-5));
    assertThat(
        "a category neither run has adds nothing",
        PopulationStability.psi(new long[] {0, 1, 9}, new long[] {0, 5, 5}),
        closeTo(0.87889, 1e-5));
  }

  @Test
  public void psiOfARunWithoutCountsIsNaN() {
    assertThat(
        Double.isNaN(PopulationStability.psi(new long[] {0, 0}, new long[] {5, 5})), is(true));
    assertThat(
        Double.isNaN(PopulationStability.psi(new long[] {5, 5}, new long[] {0, 0})), is(true));
  }

  @Test
  public void samplingAllowanceCountsTheCategoriesEitherRunHas() {
    // k = 2 (the third category is empty in both), n1 = n2 = 200: 1 (1/200 + 1/200) = 0.01
    assertThat(
        PopulationStability.psiSamplingAllowance(new long[] {100, 100, 0}, new long[] {150, 50, 0}),
        closeTo(1 * (1 / 200.0 + 1 / 200.0), 1e-12));
    // 20 bins, 250 records a run: 19 (2 / 250) = 0.152
    long[] bins = new long[20];
    java.util.Arrays.fill(bins, 0, 10, 25);
    long[] other = new long[20];
    java.util.Arrays.fill(other, 10, 20, 25);
    assertThat(PopulationStability.psiSamplingAllowance(bins, other), closeTo(0.152, 1e-12));
    assertThat(
        PopulationStability.psiSamplingAllowance(new long[] {0, 0}, new long[] {3, 4}),
        closeTo(0, 0));
  }

  @Test
  public void theAllowanceCoversTheNoiseOfASmallRun() {
    // 52/48 then 48/52 is what two samples of 100 from one population look like: its PSI is above
    // a threshold of 0.005 alone, below it with the allowance.
    long[] before = {52, 48};
    long[] now = {48, 52};
    double psi = PopulationStability.psi(before, now);
    assertThat(psi > 0.005, is(true));
    assertThat(psi < 0.005 + PopulationStability.psiSamplingAllowance(before, now), is(true));
  }

  @Test
  public void runsMustCountTheSameCategories() {
    IllegalArgumentException e =
        assertThrows(
            IllegalArgumentException.class,
            () -> PopulationStability.psi(new long[] {1, 2}, new long[] {1, 2, 3}));
    assertThat(e.getMessage(), containsString("got 2 and 3 counts"));
  }
}
