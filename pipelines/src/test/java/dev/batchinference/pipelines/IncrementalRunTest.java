package dev.batchinference.pipelines;

import static org.hamcrest.MatcherAssert.assertThat;
import static org.hamcrest.Matchers.containsInAnyOrder;
import static org.hamcrest.Matchers.containsString;
import static org.hamcrest.Matchers.equalTo;
import static org.hamcrest.Matchers.is;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.batchinference.transforms.testing.Fortunes;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.apache.beam.sdk.Pipeline;
import org.apache.beam.sdk.testing.TestPipeline;
import org.junit.ClassRule;
import org.junit.Test;
import org.junit.rules.TemporaryFolder;
import org.junit.runner.RunWith;
import org.junit.runners.JUnit4;

/**
 * Incremental runs: a second run over changed input, pointed at the first run's predictions, scores
 * only the new, changed and previously failed records, and accounts for the skipped ones.
 */
@RunWith(JUnit4.class)
public class IncrementalRunTest {

  @ClassRule public static final TemporaryFolder TMP = new TemporaryFolder();
  private static final ObjectMapper JSON = new ObjectMapper();

  private static void write(Path file, List<String[]> records) throws Exception {
    StringBuilder text = new StringBuilder();
    for (String[] r : records) {
      text.append(JSON.createObjectNode().put("id", r[0]).put("text", r[1])).append('\n');
    }
    Files.writeString(file, text.toString());
  }

  private static JobOutputs run(Path input, Path out, String previous, boolean parquet)
      throws Exception {
    TestPipeline pipeline = TestPipeline.create().enableAbandonedNodeEnforcement(false);
    BatchInferenceOptions options = pipeline.getOptions().as(BatchInferenceOptions.class);
    options.setInput(input.toString());
    options.setOutput(out.toString());
    if (parquet) {
      options.setOutputFormat(BatchInferenceOptions.OutputFormat.PARQUET);
    }
    if (previous != null) {
      options.setPreviousPredictions(previous);
    }
    BatchInference.build(pipeline, options);
    pipeline.run().waitUntilFinish();
    return JobOutputs.read(out);
  }

  @Test
  public void aSecondRunScoresOnlyNewChangedAndFailedRecords() throws Exception {
    List<Fortunes.Fortune> fortunes = Fortunes.load(1);
    List<String[]> day1 = new ArrayList<>();
    for (Fortunes.Fortune f : fortunes) {
      day1.add(new String[] {f.id(), f.text()});
    }
    day1.add(new String[] {"broken", "   "}); // fails on day 1
    Path input1 = TMP.getRoot().toPath().resolve("day1.jsonl");
    write(input1, day1);
    Path out1 = TMP.newFolder("day1").toPath();
    // Day 1 writes Parquet: day 2 reads its predictions back from Parquet.
    JobOutputs first = run(input1, out1, null, true);
    assertThat(first.summary.get("predictions").asLong(), equalTo((long) fortunes.size()));
    assertThat(first.summary.get("failures").asLong(), equalTo(1L));

    List<String[]> day2 = new ArrayList<>();
    for (int i = 0; i < fortunes.size(); i++) {
      Fortunes.Fortune f = fortunes.get(i);
      day2.add(new String[] {f.id(), i < 3 ? f.text() + " (edited)" : f.text()});
    }
    day2.add(new String[] {"broken", "Fixed overnight."});
    for (int i = 0; i < 4; i++) {
      day2.add(new String[] {"new-" + i, "A record that arrived on day two, number " + i + "."});
    }
    Path input2 = TMP.getRoot().toPath().resolve("day2.jsonl");
    write(input2, day2);
    Path out2 = TMP.newFolder("day2").toPath();
    JobOutputs second = run(input2, out2, out1.resolve("predictions*.parquet").toString(), false);

    List<String> scored = new ArrayList<>();
    for (JsonNode p : second.predictions) {
      scored.add(p.get("id").asText());
      assertThat(p.get("input_sha256").asText().length(), equalTo(64));
    }
    List<String> expected = new ArrayList<>();
    for (int i = 0; i < 3; i++) {
      expected.add(fortunes.get(i).id());
    }
    expected.add("broken");
    for (int i = 0; i < 4; i++) {
      expected.add("new-" + i);
    }
    assertThat(scored, containsInAnyOrder(expected.toArray()));
    long unchanged = fortunes.size() - 3;
    assertThat(second.summary.get("skipped_unchanged").asLong(), equalTo(unchanged));
    assertThat(second.summary.get("records_read").asLong(), equalTo((long) day2.size()));
    assertThat(second.summary.get("nothing_lost").asBoolean(), is(true));
    assertThat(
        second.summary.get("nothing_lost_check").asText(),
        containsString("+ " + unchanged + " skipped unchanged"));
  }

  @Test
  public void aPreviousPatternThatMatchesNothingIsRefused() throws Exception {
    Path input = TMP.getRoot().toPath().resolve("one.jsonl");
    write(input, List.of(new String[][] {{"a", "text"}}));
    BatchInferenceOptions options =
        org.apache.beam.sdk.options.PipelineOptionsFactory.as(BatchInferenceOptions.class);
    options.setInput(input.toString());
    options.setOutput(TMP.newFolder("never").toString());
    options.setPreviousPredictions(TMP.getRoot() + "/nothing-here/predictions*.jsonl");
    try {
      BatchInference.build(Pipeline.create(options), options);
      throw new AssertionError("expected a refusal");
    } catch (JobPlan.InvalidJobException e) {
      assertThat(e.getMessage(), containsString("--previousPredictions="));
      assertThat(e.getMessage(), containsString("leave --previousPredictions unset"));
    }
  }
}
