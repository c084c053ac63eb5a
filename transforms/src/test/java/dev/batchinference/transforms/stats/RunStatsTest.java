package dev.batchinference.transforms.stats;

import static org.hamcrest.MatcherAssert.assertThat;
import static org.hamcrest.Matchers.closeTo;
import static org.hamcrest.Matchers.equalTo;

import dev.batchinference.transforms.BatchStats;
import dev.batchinference.transforms.Failure;
import dev.batchinference.transforms.Prediction;
import dev.batchinference.transforms.RecordMeta;
import dev.batchinference.transforms.Stage;
import dev.batchinference.transforms.model.ModelIdentity;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import org.apache.beam.sdk.testing.PAssert;
import org.apache.beam.sdk.testing.TestPipeline;
import org.apache.beam.sdk.transforms.Combine;
import org.apache.beam.sdk.transforms.Create;
import org.apache.beam.sdk.transforms.Flatten;
import org.apache.beam.sdk.values.PCollection;
import org.apache.beam.sdk.values.PCollectionList;
import org.junit.Rule;
import org.junit.Test;
import org.junit.runner.RunWith;
import org.junit.runners.JUnit4;

/** Tests of {@link RunStats} and {@link Moments}. */
@RunWith(JUnit4.class)
public class RunStatsTest {

  @Rule public final transient TestPipeline pipeline = TestPipeline.create();

  private static final ModelIdentity MODEL = ModelIdentity.of("m", "0");

  private static <InputT> RunStats fold(
      Combine.CombineFn<InputT, RunStats, RunStats> fn, List<InputT> inputs) {
    RunStats acc = fn.createAccumulator();
    for (InputT input : inputs) {
      acc = fn.addInput(acc, input);
    }
    return fn.extractOutput(acc);
  }

  private static List<BatchStats> batches(int from, int to) {
    List<BatchStats> batches = new ArrayList<>();
    for (int i = from; i <= to; i++) {
      batches.add(BatchStats.of(i % 2 == 0 ? 32 : 7, 100, i, "w" + (i % 3)));
    }
    return batches;
  }

  @Test
  public void batchesGiveSizesWeightsAndLatencyQuantiles() {
    RunStats stats = fold(RunStats.ofBatches(), batches(1, 100));
    assertThat("batches", stats.batches(), equalTo(100L));
    assertThat("weight", stats.batchWeight(), equalTo(10_000L));
    assertThat("sizes", stats.batchSizes(), equalTo(new TreeMap<>(Map.of(7L, 50L, 32L, 50L))));
    assertThat("total latency", stats.totalLatencyMicros(), equalTo(5050L));
    assertThat("p0", stats.latencyQuantileMicros(0), equalTo(1L));
    assertThat("p50", stats.latencyQuantileMicros(0.5), equalTo(50L));
    assertThat("p90", stats.latencyQuantileMicros(0.9), equalTo(90L));
    assertThat("p99", stats.latencyQuantileMicros(0.99), equalTo(99L));
    assertThat("p100", stats.latencyQuantileMicros(1), equalTo(100L));
    assertThat(
        "nearest rank of few",
        fold(RunStats.ofBatches(), batches(1, 3)).latencyQuantileMicros(0.5),
        equalTo(2L));
    assertThat("no batches", new RunStats().latencyQuantileMicros(0.5), equalTo(-1L));
  }

  @Test
  public void batchesAreCountedPerWorker() {
    RunStats stats = fold(RunStats.ofBatches(), batches(1, 100));
    // Batch i ran on worker w(i % 3) with 32 records when i is even, else 7.
    Map<String, List<Long>> expected = new TreeMap<>();
    for (int w = 0; w < 3; w++) {
      long records = 0;
      long count = 0;
      for (int i = 1; i <= 100; i++) {
        if (i % 3 == w) {
          records += i % 2 == 0 ? 32 : 7;
          count++;
        }
      }
      expected.put("w" + w, List.of(records, count));
    }
    assertThat(stats.workerCounts(), equalTo(expected));
    // w1 ran batches 1, 4, ..., 100: 17 of 32 records and 17 of 7.
    assertThat(expected.get("w1"), equalTo(List.of(663L, 34L)));
    RunStats merged = fold(RunStats.ofBatches(), batches(1, 40));
    merged.merge(fold(RunStats.ofBatches(), batches(41, 100)));
    assertThat("merged", merged.workerCounts(), equalTo(expected));
  }

  @Test
  public void partialStatsMergeIntoTheWhole() {
    Combine.CombineFn<BatchStats, RunStats, RunStats> fn = RunStats.ofBatches();
    RunStats first = fn.createAccumulator();
    RunStats second = fn.createAccumulator();
    for (BatchStats b : batches(1, 40)) {
      fn.addInput(first, b);
    }
    for (BatchStats b : batches(41, 100)) {
      fn.addInput(second, b);
    }
    RunStats merged = fn.mergeAccumulators(List.of(first, second));
    assertThat(merged, equalTo(fold(fn, batches(1, 100))));
    assertThat("p50 after merging", merged.latencyQuantileMicros(0.5), equalTo(50L));
  }

  @Test
  public void predictionsGiveClassCountsScoresAndEmbeddingNorms() {
    RecordMeta meta = RecordMeta.of("r", "s", 0, null);
    List<Prediction> predictions =
        List.of(
            Prediction.builder(meta, MODEL).label("Bag", 8, 0.5f).build(),
            Prediction.builder(meta, MODEL).label("Bag", 8, 1f).build(),
            Prediction.builder(meta, MODEL).label("Coat", 4, 0.75f).build(),
            Prediction.builder(meta, MODEL).embedding(new float[] {3, 4}).build(),
            Prediction.builder(meta, MODEL).embedding(new float[] {0.6f, 0.8f}).build());
    RunStats stats = fold(RunStats.ofPredictions(), predictions);
    assertThat("predicted", stats.predicted(), equalTo(5L));
    assertThat(
        "classes", stats.classCounts(), equalTo(new TreeMap<>(Map.of("Bag", 2L, "Coat", 1L))));
    assertThat("scores", stats.scores().count(), equalTo(3L));
    assertThat("mean score", stats.scores().mean(), closeTo(0.75, 1e-9));
    assertThat("norms", stats.embeddingNorms().count(), equalTo(2L));
    assertThat("max norm", stats.embeddingNorms().max(), closeTo(5, 1e-6));
    assertThat("min norm", stats.embeddingNorms().min(), closeTo(1, 1e-6));
  }

  @Test
  public void failuresAreCountedByStageAndError() {
    List<Failure> failures =
        List.of(
            Failure.of("a", "s", 0, Stage.INFER, "java.lang.IllegalArgumentException", "m", null),
            Failure.of("b", "s", 1, Stage.INFER, "java.lang.IllegalArgumentException", "m", null),
            Failure.of(
                null, "s", 2, Stage.READ, "java.nio.charset.MalformedInputException", "m", null));
    RunStats stats = fold(RunStats.ofFailures(), failures);
    assertThat("failed", stats.failed(), equalTo(3L));
    assertThat(
        "by stage", stats.failedByStage(), equalTo(new TreeMap<>(Map.of("infer", 2L, "read", 1L))));
    assertThat(
        "by error",
        stats.failedByError(),
        equalTo(
            new TreeMap<>(
                Map.of(
                    "infer: java.lang.IllegalArgumentException", 2L,
                    "read: java.nio.charset.MalformedInputException", 1L))));
  }

  @Test
  public void topScoreHistogramGivesQuantilesToWithinABin() {
    RecordMeta meta = RecordMeta.of("r", "s", 0, null);
    List<Prediction> predictions = new ArrayList<>();
    for (int i = 0; i < 1000; i++) {
      predictions.add(Prediction.builder(meta, MODEL).label("c", 0, i / 1000f).build());
    }
    RunStats whole = fold(RunStats.ofPredictions(), predictions);
    RunStats merged =
        fold(RunStats.ofPredictions(), predictions.subList(0, 300))
            .merge(fold(RunStats.ofPredictions(), predictions.subList(300, 1000)));
    assertThat("merged halves", merged.topScores(), equalTo(whole.topScores()));
    long[] counts = whole.topScores().counts();
    assertThat("bins", counts.length, equalTo(ScoreHistogram.BINS));
    assertThat("values 0.000..0.049 in the first bin", counts[0], equalTo(50L));
    assertThat("p05", whole.topScores().quantile(0.05), closeTo(0.05, 0.05));
    assertThat("p50", whole.topScores().quantile(0.50), closeTo(0.50, 0.05));
    assertThat("p95", whole.topScores().quantile(0.95), closeTo(0.95, 0.05));
  }

  @Test
  public void embeddingCentroidIsTheMeanAndMerges() {
    RecordMeta meta = RecordMeta.of("r", "s", 0, null);
    RunStats a =
        fold(
            RunStats.ofPredictions(),
            List.of(Prediction.builder(meta, MODEL).embedding(new float[] {1, 0}).build()));
    RunStats b =
        fold(
            RunStats.ofPredictions(),
            List.of(
                Prediction.builder(meta, MODEL).embedding(new float[] {0, 1}).build(),
                Prediction.builder(meta, MODEL).embedding(new float[] {0, 1, 0}).build()));
    EmbeddingCentroid centroid = a.merge(b).embeddingCentroid();
    assertThat("count", centroid.count(), equalTo(2L));
    assertThat("other dimensions left out", centroid.mismatched(), equalTo(1L));
    assertThat("mean[0]", centroid.mean()[0], closeTo(0.5, 1e-9));
    assertThat("mean[1]", centroid.mean()[1], closeTo(0.5, 1e-9));
    assertThat(
        "orthogonal vectors are 1 apart",
        EmbeddingCentroid.cosineDistance(new double[] {1, 0}, new double[] {0, 2}),
        closeTo(1, 1e-9));
  }

  @Test
  public void failureExamplesAreTheFirstThreeBySourceAndIndexWhateverTheOrder() {
    List<Failure> failures = new ArrayList<>();
    for (int i = 9; i >= 0; i--) {
      failures.add(
          Failure.of(
              "id" + i, "s", i, Stage.PARSE, "E", "bad " + i, i == 0 ? "x".repeat(5000) : "in"));
    }
    RunStats one = fold(RunStats.ofFailures(), failures);
    RunStats split =
        fold(RunStats.ofFailures(), failures.subList(5, 10))
            .merge(fold(RunStats.ofFailures(), failures.subList(0, 5)));
    assertThat("order does not matter", split.failureExamples(), equalTo(one.failureExamples()));
    List<FailureExamples.Example> examples = one.failureExamples().byError().get("parse: E");
    assertThat("kept", examples.size(), equalTo(FailureExamples.PER_ERROR));
    assertThat("first", examples.get(0).index(), equalTo(0L));
    assertThat("third", examples.get(2).index(), equalTo(2L));
    assertThat(
        "input capped", examples.get(0).input().length(), equalTo(FailureExamples.MAX_CHARS + 1));
  }

  @Test
  public void momentsAddAndMerge() {
    Moments all = new Moments();
    Moments low = new Moments();
    Moments high = new Moments();
    double[] values = {2, 4, 4, 4, 5, 5, 7, 9};
    for (int i = 0; i < values.length; i++) {
      all.add(values[i]);
      (i < 3 ? low : high).add(values[i]);
    }
    assertThat("count", all.count(), equalTo(8L));
    assertThat("mean", all.mean(), closeTo(5, 1e-12));
    assertThat("population std", all.std(), closeTo(2, 1e-12));
    assertThat("min", all.min(), equalTo(2.0));
    assertThat("max", all.max(), equalTo(9.0));
    low.merge(high);
    assertThat("merged", low, equalTo(all));
    low.merge(new Moments());
    assertThat("merging nothing changes nothing", low, equalTo(all));
    Moments empty = new Moments();
    assertThat("empty mean", empty.mean(), equalTo(Double.NaN));
    assertThat("empty std", empty.std(), equalTo(Double.NaN));
    assertThat("empty min", empty.min(), equalTo(Double.NaN));
    assertThat("empty max", empty.max(), equalTo(Double.NaN));
  }

  @Test
  public void combinesInAPipeline() {
    PCollection<RunStats> fromBatches =
        pipeline
            .apply("Batches", Create.of(batches(1, 100)).withCoder(BatchStats.Coder.of()))
            .apply("FoldBatches", Combine.globally(RunStats.ofBatches()).withoutDefaults());
    PCollection<RunStats> fromReads =
        pipeline
            .apply("Records", Create.of(List.of("a", "b", "c")))
            .apply(
                "CountReads", Combine.globally(RunStats.<String>countingReads()).withoutDefaults());
    PCollection<RunStats> merged =
        PCollectionList.of(fromBatches)
            .and(fromReads)
            .apply(Flatten.pCollections())
            .apply("Merge", Combine.globally(RunStats.merging()).withoutDefaults());
    PAssert.thatSingleton(merged)
        .satisfies(
            stats -> {
              assertThat("read", stats.read(), equalTo(3L));
              assertThat("batches", stats.batches(), equalTo(100L));
              assertThat("p50", stats.latencyQuantileMicros(0.5), equalTo(50L));
              return null;
            });
    pipeline.run().waitUntilFinish();
  }

  @Test
  public void foldsEachBundleAndCountsAnEmptyCollection() {
    // Spread over many bundles (a Reshuffle), so that the partials are many and must add up.
    List<Long> counts = new ArrayList<>();
    for (long i = 1; i <= 500; i++) {
      counts.add(i);
    }
    PCollection<Long> readCounts =
        pipeline
            .apply("Counts", Create.of(counts))
            .apply(org.apache.beam.sdk.transforms.Reshuffle.viaRandomKey());
    PCollection<Long> nothingWritten =
        pipeline.apply(
            "NothingWritten", Create.empty(org.apache.beam.sdk.coders.VarLongCoder.of()));
    PCollection<RunStats> merged =
        new RunStatsFolds()
            .fold("CountRead", readCounts, RunStats.summingReads())
            .fold(
                "FoldBatches",
                pipeline.apply(
                    "Batches", Create.of(batches(1, 100)).withCoder(BatchStats.Coder.of())),
                RunStats.ofBatches())
            .fold("CountWritten", nothingWritten, RunStats.countingWritten())
            .partials(pipeline, "StatsOfNothing")
            .apply(Flatten.pCollections())
            .apply("Merge", Combine.globally(RunStats.merging()).withoutDefaults());
    PAssert.thatSingleton(merged)
        .satisfies(
            stats -> {
              assertThat("read", stats.read(), equalTo(500L * 501 / 2));
              assertThat("batches", stats.batches(), equalTo(100L));
              assertThat("p50", stats.latencyQuantileMicros(0.5), equalTo(50L));
              // countingWritten() starts from "counted": an empty sink wrote nothing, known.
              assertThat("written counted", stats.writtenCounted(), equalTo(true));
              assertThat("written", stats.written(), equalTo(0L));
              return null;
            });
    pipeline.run().waitUntilFinish();
  }
}
