package dev.batchinference.pipelines;

import static org.hamcrest.MatcherAssert.assertThat;
import static org.hamcrest.Matchers.containsString;
import static org.hamcrest.Matchers.equalTo;
import static org.hamcrest.Matchers.is;
import static org.junit.Assert.assertThrows;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.batchinference.transforms.Failure;
import dev.batchinference.transforms.Stage;
import dev.batchinference.transforms.io.RawRecord;
import dev.batchinference.transforms.stats.RunStats;
import java.nio.file.Path;
import java.util.List;
import org.apache.beam.sdk.Pipeline;
import org.apache.beam.sdk.testing.TestPipeline;
import org.apache.beam.sdk.transforms.Combine;
import org.apache.beam.sdk.transforms.Create;
import org.apache.beam.sdk.values.PCollectionList;
import org.junit.Rule;
import org.junit.Test;
import org.junit.rules.TemporaryFolder;
import org.junit.runner.RunWith;
import org.junit.runners.JUnit4;

/** The summary says whether anything was lost, and a run that lost records fails. */
@RunWith(JUnit4.class)
public class WriteRunSummaryTest {

  @Rule public final transient TestPipeline pipeline = TestPipeline.create();
  @Rule public final TemporaryFolder tmp = new TemporaryFolder();

  private static final ObjectMapper JSON = new ObjectMapper();

  private void summarize(List<RawRecord> read, List<Failure> failures, Path summary) {
    PCollectionList.of(
            pipeline
                .apply("Read", Create.of(read).withCoder(RawRecord.Coder.of()))
                .apply("CountRead", Combine.globally(RunStats.<RawRecord>countingReads())))
        .and(
            pipeline
                .apply("Failures", Create.of(failures).withCoder(Failure.Coder.of()))
                .apply("CountFailures", Combine.globally(RunStats.ofFailures())))
        .apply(
            "WriteRunSummary",
            new WriteRunSummary(summary.toString(), JSON.createObjectNode().put("job", "t"), 0));
  }

  @Test
  public void theLoggedSummaryLeavesOutTheCentroidVectorAndFailureExamples() throws Exception {
    com.fasterxml.jackson.databind.node.ObjectNode summary =
        (com.fasterxml.jackson.databind.node.ObjectNode)
            new ObjectMapper()
                .readTree(
                    "{\"records_read\":2,\"failure_examples\":{\"E\":[]},"
                        + "\"prediction_distribution\":{\"embedding_centroid\":"
                        + "{\"count\":2,\"norm\":0.5,\"mean\":[0.1,0.2]}}}");
    assertThat(
        WriteRunSummary.forLog(summary).toString(),
        equalTo(
            "{\"records_read\":2,\"prediction_distribution\":{\"embedding_centroid\":"
                + "{\"count\":2,\"norm\":0.5}}}"));
    assertThat("summary.json keeps them", summary.has("failure_examples"), is(true));
  }

  @Test
  public void aRunThatAccountsForEveryRecordPasses() throws Exception {
    Path summary = tmp.getRoot().toPath().resolve("summary.json");
    summarize(
        List.of(RawRecord.of("f", 0, "{}")),
        List.of(Failure.of("a", "f", 0, Stage.PREPROCESS, "E", "bad", "{}")),
        summary);
    pipeline.run().waitUntilFinish();
    JsonNode s = JSON.readTree(summary.toFile());
    assertThat(s.get("nothing_lost").asBoolean(), is(true));
    assertThat(
        s.get("nothing_lost_check").asText(), equalTo("read 1 = 0 predictions + 1 failures"));
    assertThat(s.get("failures_by_stage").get("preprocess").asLong(), equalTo(1L));
  }

  @Test
  public void aRunThatLostRecordsFailsAfterWritingItsSummary() throws Exception {
    Path summary = tmp.getRoot().toPath().resolve("summary.json");
    summarize(
        List.of(RawRecord.of("f", 0, "{}"), RawRecord.of("f", 1, "{}"), RawRecord.of("f", 2, "{}")),
        List.of(Failure.of("a", "f", 0, Stage.INFER, "E", "bad", null)),
        summary);
    Pipeline.PipelineExecutionException e =
        assertThrows(
            Pipeline.PipelineExecutionException.class, () -> pipeline.run().waitUntilFinish());
    assertThat(
        e.getCause().getMessage(),
        containsString("Nothing-lost check failed: read 3 != 0 predictions + 1 failures"));
    JsonNode s = JSON.readTree(summary.toFile());
    assertThat(s.get("nothing_lost").asBoolean(), is(false));
    assertThat(s.get("records_read").asLong(), equalTo(3L));
  }
}
