package dev.batchinference.transforms.io;

import dev.batchinference.transforms.Failure;
import dev.batchinference.transforms.RecordMeta;
import dev.batchinference.transforms.Stage;
import dev.batchinference.transforms.preprocess.FeatureVector;
import dev.batchinference.transforms.preprocess.Preprocess;
import dev.batchinference.transforms.stats.RunStats;
import dev.batchinference.transforms.tensor.TensorExample;
import java.io.BufferedWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.apache.beam.sdk.testing.PAssert;
import org.apache.beam.sdk.testing.TestPipeline;
import org.apache.beam.sdk.transforms.Combine;
import org.apache.beam.sdk.transforms.MapElements;
import org.apache.beam.sdk.transforms.Sum;
import org.apache.beam.sdk.values.KV;
import org.apache.beam.sdk.values.PCollection;
import org.apache.beam.sdk.values.TypeDescriptors;
import org.junit.Rule;
import org.junit.Test;
import org.junit.rules.TemporaryFolder;
import org.junit.runner.RunWith;
import org.junit.runners.JUnit4;

/**
 * {@link ReadRecords#thenEach}: preprocessing done in the reading step gives what reading and then
 * preprocessing gives, on a file cut into ranges, and keeps the read's failures apart from the
 * step's, so that each record read is counted once.
 */
@RunWith(JUnit4.class)
public class ReadRecordsThenTest {

  @Rule public final transient TestPipeline pipeline = TestPipeline.create();
  @Rule public final TemporaryFolder tmp = new TemporaryFolder();

  private static final int LINES = 3_000;
  private static final int FEATURES = 200;
  private static final long MAX_RECORD_BYTES = 4_000;

  /**
   * About 3 MB of records, cut into ranges: every 97th line not JSON (a PARSE failure of the step),
   * every 101st with too few features (PREPROCESS), every 211th over the record limit (a READ
   * failure, never given to the step).
   */
  private Path input(
      List<String> expectedIds,
      List<String> expectedStepFailures,
      List<String> expectedReadFailures)
      throws Exception {
    Path file = tmp.getRoot().toPath().resolve("records.jsonl");
    try (BufferedWriter out = Files.newBufferedWriter(file, StandardCharsets.UTF_8)) {
      for (int i = 0; i < LINES; i++) {
        StringBuilder line = new StringBuilder("{\"id\":\"r" + i + "\",\"x\":[");
        int n = i % 101 == 0 ? 3 : i % 211 == 0 ? 2_000 : FEATURES;
        for (int f = 0; f < n; f++) {
          line.append(f == 0 ? "" : ",").append((i + f) % 17 * 0.25);
        }
        line.append("]}");
        if (i % 97 == 0) {
          out.write("not json " + i + "\n");
          expectedStepFailures.add(i + ":" + Stage.PARSE);
        } else if (i % 101 == 0) {
          out.write(line + "\n");
          expectedStepFailures.add(i + ":" + Stage.PREPROCESS);
        } else if (i % 211 == 0) {
          out.write(line + "\n");
          expectedReadFailures.add(i + ":" + Stage.READ);
        } else {
          out.write(line + "\n");
          expectedIds.add("r" + i + "@" + i);
        }
      }
    }
    return file;
  }

  @Test
  public void preprocessingWhereReadGivesWhatReadingThenPreprocessingGives() throws Exception {
    List<String> ids = new ArrayList<>();
    List<String> stepFailures = new ArrayList<>();
    List<String> readFailures = new ArrayList<>();
    Path file = input(ids, stepFailures, readFailures);
    ReadRecords read =
        ReadRecords.from(file.toString()).withMaxRecordBytes(MAX_RECORD_BYTES).withMinRanges(3);
    Preprocess<TensorExample> preprocess =
        Preprocess.with(FeatureVector.of("x", FEATURES).withField("x")).withIdField("id");

    ReadRecords.ThenResult<KV<RecordMeta, TensorExample>> fused =
        pipeline.apply("ReadAndPreprocess", read.thenEach(preprocess.asRecordFn()));
    ReadRecords.Result plain = pipeline.apply("Read", read);
    Preprocess.Result<TensorExample> preprocessed = plain.records().apply(preprocess);

    PAssert.that(positions(fused.outputs(), "Fused")).containsInAnyOrder(ids);
    PAssert.that(positions(preprocessed.examples(), "Plain")).containsInAnyOrder(ids);
    PAssert.that(stages(fused.thenFailures(), "FusedStepFailures"))
        .containsInAnyOrder(stepFailures);
    PAssert.that(stages(preprocessed.failures(), "PlainStepFailures"))
        .containsInAnyOrder(stepFailures);
    PAssert.that(stages(fused.failures(), "FusedReadFailures")).containsInAnyOrder(readFailures);
    PAssert.that(stages(plain.failures(), "PlainReadFailures")).containsInAnyOrder(readFailures);
    // Counted where read: every record given to the step, example or failure, once.
    long givenToTheStep = ids.size() + stepFailures.size();
    PAssert.thatSingleton(fused.readCounts().apply("SumFused", Sum.longsGlobally()))
        .isEqualTo(givenToTheStep);
    PAssert.thatSingleton(plain.readCounts().apply("SumPlain", Sum.longsGlobally()))
        .isEqualTo(givenToTheStep);
    PAssert.thatSingleton(
            fused
                .failures()
                .apply("CountReadFailures", Combine.globally(RunStats.<Failure>countingReads()))
                .apply(
                    "ReadOfStats",
                    MapElements.into(TypeDescriptors.longs()).via((RunStats s) -> s.read())))
        .isEqualTo((long) readFailures.size());
    PAssert.that(fused.unreadableFiles()).empty();
    pipeline.run().waitUntilFinish();
  }

  private static PCollection<String> positions(
      PCollection<KV<RecordMeta, TensorExample>> examples, String name) {
    return examples.apply(
        name,
        MapElements.into(TypeDescriptors.strings())
            .via((KV<RecordMeta, TensorExample> e) -> e.getKey().id() + "@" + e.getKey().index()));
  }

  private static PCollection<String> stages(PCollection<Failure> failures, String name) {
    return failures.apply(
        name,
        MapElements.into(TypeDescriptors.strings())
            .via((Failure f) -> f.index() + ":" + f.stage()));
  }
}
