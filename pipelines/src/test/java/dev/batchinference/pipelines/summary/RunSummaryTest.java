package dev.batchinference.pipelines.summary;

import static org.hamcrest.MatcherAssert.assertThat;
import static org.hamcrest.Matchers.closeTo;
import static org.hamcrest.Matchers.empty;
import static org.hamcrest.Matchers.equalTo;
import static org.hamcrest.Matchers.is;
import static org.hamcrest.Matchers.nullValue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import org.junit.Test;
import org.junit.runner.RunWith;
import org.junit.runners.JUnit4;

/**
 * The summary as a type: summaries written by real runs (the resources beside this class, written
 * by the job before the summary became a record: a classification with failures, one compared with
 * it, an embedding run compared with another) read into {@link RunSummary} and write back field for
 * field, in the same order; older summaries with fields missing and newer ones with unknown fields
 * still load.
 */
@RunWith(JUnit4.class)
public class RunSummaryTest {

  private static final ObjectMapper JSON = new ObjectMapper();
  private static final String[] REAL_SUMMARIES = {
    "classify-failures-summary.json",
    "classify-compared-summary.json",
    "embed-compared-summary.json"
  };

  private static String resource(String name) throws IOException {
    try (InputStream in = RunSummaryTest.class.getResourceAsStream(name)) {
      return new String(in.readAllBytes(), StandardCharsets.UTF_8);
    }
  }

  @Test
  public void aRealSummaryRoundTripsWithoutLosingAField() throws Exception {
    for (String name : REAL_SUMMARIES) {
      String written = resource(name);
      String again = RunSummary.parse(written).toPrettyJson();
      assertThat(name, JSON.readTree(again), equalTo(JSON.readTree(written)));
      assertThat(
          name + ": same field order",
          paths(JSON.readTree(again)),
          equalTo(paths(JSON.readTree(written))));
    }
  }

  @Test
  public void aRealSummaryReadsAsTypedFields() throws Exception {
    RunSummary s = RunSummary.parse(resource("classify-failures-summary.json"));
    assertThat(s.recordsRead(), equalTo(302L));
    assertThat(s.failuresByStage().get("parse"), equalTo(1L));
    assertThat(s.model().pinnedSha256().containsKey("class_labels_sha256"), is(true));
    assertThat(s.failureGate().maxFailureRate(), closeTo(0.5, 0));
    assertThat(s.predictionDistribution().score().histogram().counts().length, equalTo(20));
    assertThat(s.comparison(), nullValue());
    RunSummary e = RunSummary.parse(resource("embed-compared-summary.json"));
    assertThat(e.predictionDistribution().embeddingCentroid().mean().length, equalTo(384));
    assertThat(
        e.comparison().metrics().get("embedding_centroid_cosine_distance").threshold(),
        closeTo(0.05, 0));
    assertThat(RunStatus.of(e).exitStatus(), equalTo(ExitStatus.OK));
  }

  @Test
  public void anOlderSummaryWithAMissingFieldAndAnUnknownOneLoads() throws Exception {
    ObjectNode old = (ObjectNode) JSON.readTree(resource("classify-failures-summary.json"));
    old.remove(List.of("failure_gate", "failure_rate", "unreadable_files", "alerts"));
    ((ObjectNode) old.at("/prediction_distribution/score")).remove(List.of("p05", "histogram"));
    old.put("written_by", "a later version");
    ((ObjectNode) old.get("model")).put("future_field", 3);
    RunSummary s = RunSummary.of(old);
    assertThat(s.failureGate(), nullValue());
    assertThat(s.failureGateExceeded(), is(false));
    assertThat(s.unreadableFiles(), empty());
    assertThat(s.alerts(), empty());
    assertThat(s.predictionDistribution().score().p05(), nullValue());
    assertThat(s.predictionDistribution().score().histogram(), nullValue());
    assertThat(s.model().name(), equalTo("fashion-mnist-logreg-3000"));
    assertThat(RunStatus.of(s).exitStatus(), equalTo(ExitStatus.OK));
    // And it still compares: the figures it lacks are left out, not made up.
    List<RunSummary.Alert> alerts = new ArrayList<>();
    RunSummary.Comparison c =
        RunComparison.compare(
            s,
            RunSummary.parse(resource("classify-compared-summary.json")),
            "old/summary.json",
            RunComparison.Thresholds.defaults(),
            alerts);
    assertThat(c.metrics().containsKey("top_score_p05"), is(false));
    assertThat(c.metrics().containsKey("class_psi"), is(true));
  }

  /** Every field's path, in document order. */
  private static List<String> paths(JsonNode node) {
    List<String> out = new ArrayList<>();
    collect("", node, out);
    return out;
  }

  private static void collect(String at, JsonNode node, List<String> out) {
    for (Iterator<String> it = node.fieldNames(); it.hasNext(); ) {
      String field = it.next();
      out.add(at + "/" + field);
      collect(at + "/" + field, node.get(field), out);
    }
  }
}
