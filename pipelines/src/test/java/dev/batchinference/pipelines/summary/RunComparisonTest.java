package dev.batchinference.pipelines.summary;

import static org.hamcrest.MatcherAssert.assertThat;
import static org.hamcrest.Matchers.closeTo;
import static org.hamcrest.Matchers.containsString;
import static org.hamcrest.Matchers.equalTo;
import static org.hamcrest.Matchers.is;
import static org.junit.Assert.assertThrows;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.batchinference.pipelines.options.InvalidJobException;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.ClassRule;
import org.junit.Test;
import org.junit.rules.TemporaryFolder;
import org.junit.runner.RunWith;
import org.junit.runners.JUnit4;

/** Drift figures and alerts between two run summaries. */
@RunWith(JUnit4.class)
public class RunComparisonTest {

  @ClassRule public static final TemporaryFolder TMP = new TemporaryFolder();

  private static final ObjectMapper JSON = new ObjectMapper();

  private static ObjectNode summary(long a, long b, long failures, double throughput) {
    ObjectNode s = JSON.createObjectNode();
    s.put("task", "CLASSIFY");
    s.putObject("model").put("name", "m").put("sha256", "abc");
    s.put("records_read", a + b + failures);
    s.put("failures", failures);
    s.put("throughput_records_per_second", throughput);
    ObjectNode dist = s.putObject("prediction_distribution");
    dist.putObject("class_counts").put("a", a).put("b", b);
    return s;
  }

  private static ObjectNode compare(JsonNode previous, JsonNode current, ArrayNode alerts) {
    return RunComparison.compare(
        previous, current, "prev/summary.json", RunComparison.Thresholds.defaults(), alerts);
  }

  @Test
  public void psiThresholdsAllowForSamplingNoise() {
    // The PSI maths itself is tested in transforms (PopulationStabilityTest).
    ArrayNode alerts = JSON.createArrayNode();
    // PSI 0.0064 between 52/48 and 48/52: above 0.005 alone, below 0.005 + (1/100 + 1/100).
    RunComparison.compare(
        summary(52, 48, 0, 1),
        summary(48, 52, 0, 1),
        "p",
        new RunComparison.Thresholds(0.005, 0.1, 0.05, 0.01, 0.5),
        alerts);
    assertThat(alerts.toString(), alerts.size(), equalTo(0));
  }

  @Test
  public void sameDistributionRaisesNoAlert() {
    ArrayNode alerts = JSON.createArrayNode();
    ObjectNode c = compare(summary(50, 50, 0, 100), summary(500, 500, 0, 90), alerts);
    assertThat(c.get("comparable").asBoolean(), is(true));
    assertThat(c.at("/metrics/class_psi/value").asDouble(), closeTo(0, 1e-9));
    assertThat(alerts.toString(), alerts.size(), equalTo(0));
  }

  @Test
  public void shiftedClassesMoreFailuresAndLowerThroughputAreAlerts() {
    ArrayNode alerts = JSON.createArrayNode();
    ObjectNode c = compare(summary(90, 10, 0, 100), summary(10, 90, 10, 20), alerts);
    assertThat(c.at("/metrics/class_psi/alert").asBoolean(), is(true));
    assertThat(c.at("/metrics/failure_rate/current").asDouble(), closeTo(10 / 110.0, 1e-4));
    assertThat(c.at("/metrics/throughput_drop/value").asDouble(), closeTo(0.8, 1e-9));
    assertThat(c.at("/class_distribution/b/current_share").asDouble(), closeTo(0.9, 1e-9));
    assertThat(alerts.size(), equalTo(3));
    assertThat(alerts.get(0).get("metric").asText(), equalTo("class_psi"));
    assertThat(
        alerts.get(0).get("message").asText(),
        containsString("class_psi is 3.516, past the threshold 0.22"));
  }

  @Test
  public void aNegativeThresholdTurnsItsCheckOff() {
    ArrayNode alerts = JSON.createArrayNode();
    RunComparison.compare(
        summary(90, 10, 0, 100),
        summary(10, 90, 0, 100),
        "p",
        new RunComparison.Thresholds(-1, 0.1, 0.05, 0.01, 0.5),
        alerts);
    assertThat(alerts.size(), equalTo(0));
  }

  @Test
  public void anotherTaskOrModelIsNotComparedAndSaysWhy() {
    ObjectNode other = summary(90, 10, 0, 100);
    other.put("task", "EMBED");
    ArrayNode alerts = JSON.createArrayNode();
    ObjectNode c = compare(other, summary(10, 90, 0, 100), alerts);
    assertThat(c.get("comparable").asBoolean(), is(false));
    assertThat(c.get("reason").asText(), containsString("task 'EMBED'"));
    assertThat(alerts.size(), equalTo(0));

    ObjectNode otherModel = summary(90, 10, 0, 100);
    otherModel.putObject("model").put("name", "other");
    assertThat(
        compare(otherModel, summary(10, 90, 0, 100), alerts).get("reason").asText(),
        containsString("model 'other'"));
  }

  @Test
  public void centroidShiftOfEmbeddings() {
    ObjectNode before = summary(1, 1, 0, 1);
    ObjectNode after = summary(1, 1, 0, 1);
    ((ObjectNode) before.get("prediction_distribution"))
        .putObject("embedding_centroid")
        .put("norm", 1.0)
        .putArray("mean")
        .add(1.0)
        .add(0.0);
    ((ObjectNode) after.get("prediction_distribution"))
        .putObject("embedding_centroid")
        .put("norm", 0.7)
        .putArray("mean")
        .add(0.5)
        .add(0.5);
    ArrayNode alerts = JSON.createArrayNode();
    ObjectNode c = compare(before, after, alerts);
    assertThat(
        c.at("/metrics/embedding_centroid_cosine_distance/value").asDouble(),
        closeTo(1 - Math.sqrt(0.5), 1e-4));
    assertThat(alerts.get(0).get("metric").asText(), equalTo("embedding_centroid_cosine_distance"));
  }

  @Test
  public void aMissingOrForeignPreviousSummaryIsRefusedBeforeTheJobRuns() throws Exception {
    InvalidJobException missing =
        assertThrows(
            InvalidJobException.class,
            () -> RunComparison.readPrevious(TMP.getRoot() + "/nope/summary.json"));
    assertThat(missing.getMessage(), containsString("--previousSummary"));
    assertThat(missing.getMessage(), containsString("cannot be read"));
    Path notSummary = TMP.newFile("other.json").toPath();
    Files.writeString(notSummary, "[1,2]");
    assertThat(
        assertThrows(
                InvalidJobException.class, () -> RunComparison.readPrevious(notSummary.toString()))
            .getMessage(),
        containsString("is not a run summary"));
  }

  /** The figures compared, their meanings in the report and their options come from one list. */
  @Test
  public void everyFigureComparedIsADriftMetricWithAMeaningAndItsOption() {
    ObjectNode c =
        compare(summary(90, 10, 0, 100), summary(10, 90, 10, 20), JSON.createArrayNode());
    c.get("metrics")
        .fieldNames()
        .forEachRemaining(
            name ->
                assertThat(
                    name,
                    DriftMetric.named(name).map(DriftMetric::meaning).orElse(""),
                    containsString(" ")));
    assertThat(DriftMetric.CLASS_PSI.thresholdOption(), equalTo(java.util.Optional.of("--maxPsi")));
    assertThat(DriftMetric.TOP_SCORE_STD.thresholdOption().isPresent(), is(false));
    assertThat(
        RunComparison.Thresholds.defaults().of(DriftMetric.THROUGHPUT_DROP), closeTo(0.5, 0));
  }

  /**
   * A previous summary the summary step could not read is refused before the job reads data, not
   * after it ran.
   */
  @Test
  public void aPreviousSummaryWithAFieldOfTheWrongShapeIsRefusedBeforeTheJobRuns()
      throws Exception {
    Path odd = TMP.newFile("odd-summary.json").toPath();
    Files.writeString(odd, "{\"records_read\":3,\"failures_by_stage\":[1,2]}");
    assertThat(
        assertThrows(InvalidJobException.class, () -> RunComparison.readPrevious(odd.toString()))
            .getMessage(),
        containsString("is not a run summary this version can read"));
  }
}
