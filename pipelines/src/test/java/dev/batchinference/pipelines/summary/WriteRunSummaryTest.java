package dev.batchinference.pipelines.summary;

import static org.hamcrest.MatcherAssert.assertThat;
import static org.hamcrest.Matchers.containsString;
import static org.hamcrest.Matchers.equalTo;
import static org.hamcrest.Matchers.is;
import static org.junit.Assert.assertThrows;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.batchinference.transforms.Failure;
import dev.batchinference.transforms.Prediction;
import dev.batchinference.transforms.RecordMeta;
import dev.batchinference.transforms.Stage;
import dev.batchinference.transforms.io.RawRecord;
import dev.batchinference.transforms.model.ModelIdentity;
import dev.batchinference.transforms.stats.RunStats;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.util.List;
import org.apache.beam.sdk.Pipeline;
import org.apache.beam.sdk.testing.TestPipeline;
import org.apache.beam.sdk.transforms.Combine;
import org.apache.beam.sdk.transforms.Create;
import org.apache.beam.sdk.transforms.DoFn;
import org.apache.beam.sdk.transforms.ParDo;
import org.apache.beam.sdk.values.PCollection;
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

  private static Prediction prediction(long index) {
    return Prediction.builder(
            RecordMeta.of("r" + index, "f", index, null), ModelIdentity.of("m", "0".repeat(64)))
        .embedding(new float[] {1f, 0f})
        .build();
  }

  @Test
  public void predictionsAreCountedAsTheSinkHoldsThem() throws Exception {
    // The model made two predictions, but the sink's finalized files hold one: lost on writing.
    Path summary = tmp.getRoot().toPath().resolve("summary.json");
    PCollectionList.of(
            pipeline
                .apply(
                    "Read",
                    Create.of(RawRecord.of("f", 0, "{}"), RawRecord.of("f", 1, "{}"))
                        .withCoder(RawRecord.Coder.of()))
                .apply("CountRead", Combine.globally(RunStats.<RawRecord>countingReads())))
        .and(
            pipeline
                .apply(
                    "Predictions",
                    Create.of(prediction(0), prediction(1)).withCoder(Prediction.Coder.of()))
                .apply("CountPredictions", Combine.globally(RunStats.ofPredictions())))
        .and(
            pipeline
                .apply("RecordsPerFile", Create.of(1L, 0L))
                .apply("CountWritten", Combine.globally(RunStats.countingWritten())))
        .apply(
            "WriteRunSummary",
            new WriteRunSummary(summary.toString(), JSON.createObjectNode().put("job", "t"), 0));
    Pipeline.PipelineExecutionException e =
        assertThrows(
            Pipeline.PipelineExecutionException.class, () -> pipeline.run().waitUntilFinish());
    assertThat(
        e.getCause().getMessage(),
        containsString("Nothing-lost check failed: read 2 != 1 predictions + 0 failures"));
    JsonNode s = JSON.readTree(summary.toFile());
    assertThat(s.get("predictions_written").asLong(), equalTo(1L));
  }

  /** A sink that takes a while, then notes when it finished. */
  static final class SlowSinkFn extends DoFn<Long, Long> {
    private final String marker;

    SlowSinkFn(String marker) {
      this.marker = marker;
    }

    @ProcessElement
    public void processElement(@Element Long n, OutputReceiver<Long> out) throws Exception {
      Thread.sleep(3000);
      Files.writeString(Path.of(marker), Instant.now().toString());
      out.output(n);
    }
  }

  @Test
  public void theSummaryIsWrittenAfterEverySinkFinished() throws Exception {
    Path summary = tmp.getRoot().toPath().resolve("summary.json");
    Path marker = tmp.getRoot().toPath().resolve("sink-finished");
    PCollection<Long> sink =
        pipeline
            .apply("Rows", Create.of(1L))
            .apply("SlowSink", ParDo.of(new SlowSinkFn(marker.toString())));
    PCollectionList.of(
            pipeline
                .apply(
                    "Read", Create.of(RawRecord.of("f", 0, "{}")).withCoder(RawRecord.Coder.of()))
                .apply("CountRead", Combine.globally(RunStats.<RawRecord>countingReads())))
        .and(
            pipeline
                .apply(
                    "Failures",
                    Create.of(Failure.of("a", "f", 0, Stage.PREPROCESS, "E", "bad", "{}"))
                        .withCoder(Failure.Coder.of()))
                .apply("CountFailures", Combine.globally(RunStats.ofFailures())))
        .apply(
            "WriteRunSummary",
            new WriteRunSummary(summary.toString(), JSON.createObjectNode().put("job", "t"), 0)
                .afterAll(List.of(sink)));
    pipeline.run().waitUntilFinish();
    Instant sinkFinished = Instant.parse(Files.readString(marker));
    Instant summaryFinished =
        Instant.parse(JSON.readTree(summary.toFile()).get("finished_at").asText());
    assertThat(
        "summary written at " + summaryFinished + ", sink finished at " + sinkFinished,
        summaryFinished.isBefore(sinkFinished),
        is(false));
  }

  @Test
  public void itNamesWhereTheSummaryGoesInDisplayData() {
    java.util.List<String> items =
        org.apache.beam.sdk.transforms.display.DisplayData.from(
                new WriteRunSummary("/out/summary.json", new ObjectMapper().createObjectNode(), 0L)
                    .withReport("/out/report.html"))
            .items()
            .stream()
            .map(i -> i.getKey() + "=" + i.getValue())
            .collect(java.util.stream.Collectors.toList());
    assertThat(
        items,
        org.hamcrest.Matchers.hasItems("summary=/out/summary.json", "report=/out/report.html"));
  }
}
