package dev.batchinference.transforms;

import static dev.batchinference.transforms.testing.DisplayItems.hasDisplayItem;
import static org.hamcrest.MatcherAssert.assertThat;
import static org.hamcrest.Matchers.containsString;
import static org.hamcrest.Matchers.equalTo;
import static org.hamcrest.Matchers.everyItem;
import static org.hamcrest.Matchers.greaterThanOrEqualTo;
import static org.hamcrest.Matchers.lessThanOrEqualTo;
import static org.hamcrest.Matchers.not;
import static org.junit.Assert.assertThrows;

import dev.batchinference.transforms.model.LoadedModel;
import dev.batchinference.transforms.model.ModelFiles;
import dev.batchinference.transforms.model.SharedResources;
import dev.batchinference.transforms.onnx.OnnxModelHandler;
import dev.batchinference.transforms.postprocess.ClassScores;
import dev.batchinference.transforms.postprocess.Postprocessor;
import dev.batchinference.transforms.tensor.Tensor;
import dev.batchinference.transforms.tensor.TensorExample;
import dev.batchinference.transforms.tensor.TensorExampleCoder;
import dev.batchinference.transforms.testing.FashionMnist;
import dev.batchinference.transforms.testing.TestModels;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.stream.Collectors;
import java.util.stream.StreamSupport;
import org.apache.beam.sdk.PipelineResult;
import org.apache.beam.sdk.coders.KvCoder;
import org.apache.beam.sdk.metrics.MetricNameFilter;
import org.apache.beam.sdk.metrics.MetricResult;
import org.apache.beam.sdk.metrics.MetricsFilter;
import org.apache.beam.sdk.testing.PAssert;
import org.apache.beam.sdk.testing.TestPipeline;
import org.apache.beam.sdk.transforms.Create;
import org.apache.beam.sdk.transforms.MapElements;
import org.apache.beam.sdk.transforms.display.DisplayData;
import org.apache.beam.sdk.values.KV;
import org.apache.beam.sdk.values.PCollection;
import org.apache.beam.sdk.values.TypeDescriptors;
import org.joda.time.Duration;
import org.junit.BeforeClass;
import org.junit.ClassRule;
import org.junit.Rule;
import org.junit.Test;
import org.junit.rules.TemporaryFolder;
import org.junit.runner.RunWith;
import org.junit.runners.JUnit4;

/** Tests of {@link RunInference} on the Fashion-MNIST classifier. */
@RunWith(JUnit4.class)
public class RunInferenceTest {

  @ClassRule public static final TemporaryFolder TMP = new TemporaryFolder();

  @Rule public final transient TestPipeline pipeline = TestPipeline.create();

  private static final int RECORDS = 50;
  private static final long WEIGHT = 784;

  private static String modelUri;
  private static String modelSha256;
  private static FashionMnist.Dataset data;

  /** {@code img-<i>} and the label that the classifier, run directly, gives image {@code i}. */
  private static List<KV<String, String>> expectedLabels;

  @BeforeClass
  public static void runTheClassifierDirectly() throws Exception {
    Path model = TestModels.classifier();
    modelUri = model.toString();
    modelSha256 = ModelFiles.sha256(Files.readAllBytes(model));
    data = FashionMnist.load(false, RECORDS);
    expectedLabels = new ArrayList<>();
    try (LoadedModel<TensorExample, TensorExample> classifier =
        OnnxModelHandler.of(modelUri).load()) {
      for (int i = 0; i < RECORDS; i++) {
        float[] scores =
            classifier
                .run(List.of(TestModels.image(data.images()[i])))
                .get(0)
                .get("output")
                .floats();
        int best = 0;
        for (int c = 1; c < scores.length; c++) {
          best = scores[c] > scores[best] ? c : best;
        }
        expectedLabels.add(KV.of("img-" + i, FashionMnist.LABELS.get(best)));
      }
    }
  }

  private PCollection<KV<RecordMeta, TensorExample>> images(
      String name, List<KV<RecordMeta, TensorExample>> records) {
    return pipeline.apply(
        name,
        Create.of(records).withCoder(KvCoder.of(RecordMeta.Coder.of(), TensorExampleCoder.of())));
  }

  private PCollection<KV<RecordMeta, TensorExample>> images(String name) {
    return images(name, TestModels.keyedImages(data, RECORDS));
  }

  private static RunInference<TensorExample, TensorExample> classify() {
    return RunInference.of(
        OnnxModelHandler.of(modelUri), ClassScores.of().withLabels(FashionMnist.LABELS));
  }

  private static PCollection<KV<String, String>> labels(PCollection<Prediction> predictions) {
    return predictions.apply(
        "IdAndLabel",
        MapElements.into(TypeDescriptors.kvs(TypeDescriptors.strings(), TypeDescriptors.strings()))
            .via((Prediction p) -> KV.of(p.meta().id(), p.label())));
  }

  private static PCollection<Long> sizes(String name, PCollection<BatchStats> batches) {
    return batches.apply(name, MapElements.into(TypeDescriptors.longs()).via(BatchStats::size));
  }

  private static Long[] repeat(long value, int times) {
    return Collections.nCopies(times, value).toArray(new Long[0]);
  }

  private static long counter(PipelineResult result, String name) {
    Iterable<MetricResult<Long>> counters =
        result
            .metrics()
            .queryMetrics(
                MetricsFilter.builder()
                    .addNameFilter(MetricNameFilter.named(RunInference.class, name))
                    .build())
            .getCounters();
    return StreamSupport.stream(counters.spliterator(), false)
        .mapToLong(MetricResult::getAttempted)
        .sum();
  }

  @Test
  public void predictsEveryRecordLikeTheModelRunDirectly() {
    RunInference.Result result =
        images("Images")
            .apply(
                RunInference.of(
                    OnnxModelHandler.of(modelUri).withName("fashion"),
                    ClassScores.of().withLabels(FashionMnist.LABELS)));
    PAssert.that(labels(result.predictions())).containsInAnyOrder(expectedLabels);
    PAssert.that(result.failures()).empty();
    PAssert.that(result.predictions())
        .satisfies(
            predictions -> {
              for (Prediction p : predictions) {
                assertThat("model name", p.model().name(), equalTo("fashion"));
                assertThat("model hash", p.model().sha256(), equalTo(modelSha256));
                assertThat("top 3 by default", p.topLabels().length, equalTo(3));
                assertThat("the label leads the top 3", p.topLabels()[0], equalTo(p.label()));
                assertThat("position", p.meta().id(), equalTo("img-" + p.meta().index()));
              }
              return null;
            });
    PAssert.that(sizes("Sizes", result.batches()))
        .satisfies(
            sizes -> {
              long total = 0;
              for (long s : sizes) {
                assertThat(
                    "batch size", s, lessThanOrEqualTo((long) RunInference.DEFAULT_BATCH_SIZE));
                total += s;
              }
              assertThat("every record is in one model run", total, equalTo((long) RECORDS));
              return null;
            });
    pipeline.run().waitUntilFinish();
  }

  @Test
  public void withBatchSizeBoundsTheModelRuns() {
    RunInference.Result small =
        images("Images").apply("BatchesOf8", classify().withShards(1).withBatchSize(8));
    RunInference.Result byDefault =
        images("SameImages").apply("DefaultBatches", classify().withShards(1));
    PAssert.that(sizes("SmallSizes", small.batches()))
        .containsInAnyOrder(8L, 8L, 8L, 8L, 8L, 8L, 2L);
    PAssert.that(sizes("DefaultSizes", byDefault.batches())).containsInAnyOrder(32L, 18L);
    PAssert.that(labels(small.predictions())).containsInAnyOrder(expectedLabels);
    PAssert.that(small.batches())
        .satisfies(
            batches -> {
              for (BatchStats b : batches) {
                assertThat(
                    "weight is the pixels of the batch", b.weight(), equalTo(b.size() * WEIGHT));
                assertThat("latency", b.latencyMicros(), greaterThanOrEqualTo(0L));
              }
              return null;
            });
    pipeline.run().waitUntilFinish();
  }

  @Test
  public void withMaxBatchWeightBoundsTheWeightOfModelRuns() {
    long bound = 3 * WEIGHT;
    RunInference.Result result =
        images("Images")
            .apply(classify().withShards(1).withBatchSize(10).withMaxBatchWeight(bound));
    PAssert.that(result.batches())
        .satisfies(
            batches -> {
              long total = 0;
              int count = 0;
              for (BatchStats b : batches) {
                assertThat("batch weight", b.weight(), lessThanOrEqualTo(bound));
                assertThat("batch size", b.size(), lessThanOrEqualTo(3L));
                total += b.size();
                count++;
              }
              assertThat("records", total, equalTo((long) RECORDS));
              assertThat("model runs", count, greaterThanOrEqualTo(RECORDS / 3));
              return null;
            });
    PAssert.that(labels(result.predictions())).containsInAnyOrder(expectedLabels);
    pipeline.run().waitUntilFinish();
  }

  @Test
  public void withShardsSetsTheNumberOfPartialBatches() {
    RunInference.Result one =
        images("Images").apply("OneShard", classify().withBatchSize(100).withShards(1));
    RunInference.Result four =
        images("SameImages").apply("FourShards", classify().withBatchSize(100).withShards(4));
    PAssert.that(sizes("OneShardSizes", one.batches())).containsInAnyOrder((long) RECORDS);
    PAssert.that(sizes("FourShardSizes", four.batches()))
        .satisfies(
            sizes -> {
              List<Long> list = new ArrayList<>();
              sizes.forEach(list::add);
              assertThat("one batch per shard", list.size(), equalTo(4));
              assertThat(
                  "records",
                  list.stream().mapToLong(Long::longValue).sum(),
                  equalTo((long) RECORDS));
              return null;
            });
    PAssert.that(labels(four.predictions())).containsInAnyOrder(expectedLabels);
    pipeline.run().waitUntilFinish();
  }

  /**
   * Rows of a BigQuery table have no record index (-1) and, without {@code --idField}, the default
   * id {@code source:-1}: they all used to hash to one key, so inference ran on one worker.
   */
  @Test
  public void recordsWithoutAPositionSpreadOverEveryShard() {
    List<KV<RecordMeta, TensorExample>> noPosition = new ArrayList<>();
    List<KV<RecordMeta, TensorExample>> idsOnly = new ArrayList<>();
    for (KV<RecordMeta, TensorExample> image : TestModels.keyedImages(data, RECORDS)) {
      noPosition.add(KV.of(RecordMeta.of("proj:ds.t:-1", "proj:ds.t", -1, null), image.getValue()));
      idsOnly.add(
          KV.of(RecordMeta.of(image.getKey().id(), "proj:ds.t", -1, null), image.getValue()));
    }
    for (List<KV<RecordMeta, TensorExample>> rows : List.of(noPosition, idsOnly)) {
      String name = rows == noPosition ? "NoPosition" : "IdsOnly";
      RunInference.Result result =
          images(name, rows).apply(name + "Inference", classify().withBatchSize(100).withShards(4));
      PAssert.that(sizes(name + "Sizes", result.batches()))
          .satisfies(
              sizes -> {
                List<Long> list = new ArrayList<>();
                sizes.forEach(list::add);
                assertThat(name + ": a batch per shard " + list, list.size(), equalTo(4));
                assertThat(
                    name + ": records",
                    list.stream().mapToLong(Long::longValue).sum(),
                    equalTo((long) RECORDS));
                return null;
              });
    }
    pipeline.run().waitUntilFinish();
  }

  @Test
  public void withKeyPlacementChoosesKeysThatFallOnEveryWorker() {
    // A runner that sends keys 0-2 to worker 0, 3-5 to worker 1, ...: keys 0..7 would use 3 of 4.
    KeyPlacement byThrees = (key, workers) -> (key / 3) % workers;
    RunInference<TensorExample, TensorExample> placed =
        classify().withShards(4).withWeightBuckets(10, 100).withKeyPlacement(4, byThrees);
    int[] keys = placed.keys();
    assertThat("3 buckets of 4 shards", keys.length, equalTo(12));
    for (int slot = 0; slot < keys.length; slot++) {
      assertThat("slot " + slot, byThrees.workerOf(keys[slot], 4), equalTo(slot % 4));
    }
    assertThat(
        "distinct", (int) java.util.Arrays.stream(keys).distinct().count(), equalTo(keys.length));
    assertThat(
        "without placement, the slots",
        classify().withShards(4).keys(),
        equalTo(new int[] {0, 1, 2, 3}));
  }

  @Test
  public void withMaxBufferingDurationStillDeliversEveryRecord() {
    RunInference.Result result =
        images("Images")
            .apply(classify().withBatchSize(8).withMaxBufferingDuration(Duration.millis(1)));
    PAssert.that(labels(result.predictions())).containsInAnyOrder(expectedLabels);
    PAssert.that(result.failures()).empty();
    PAssert.that(sizes("Sizes", result.batches()))
        .satisfies(
            sizes -> {
              assertThat("batch sizes", sizes, everyItem(lessThanOrEqualTo(8L)));
              return null;
            });
    pipeline.run().waitUntilFinish();
  }

  @Test
  public void recordsThatBreakTheirBatchAreIsolatedAsInferFailures() {
    List<KV<RecordMeta, TensorExample>> records = new ArrayList<>(TestModels.keyedImages(data, 40));
    records.add(poison("short-0", 0, Tensor.vector(new float[10])));
    records.add(poison("short-1", 1, Tensor.vector(new float[10])));
    records.add(poison("short-2", 2, Tensor.vector(new float[10])));
    records.add(poison("double", 3, Tensor.ofDoubles(new double[784], 784)));
    records.add(poison("matrix", 4, Tensor.ofFloats(new float[784], 28, 28)));
    Collections.shuffle(records, new java.util.Random(3));

    RunInference.Result result =
        images("Images", records).apply(classify().withShards(1).withBatchSize(16));

    String shape =
        "Model input 'input' has shape [-1, 784] (with the batch dimension); the example's shape is ";
    String error = IllegalArgumentException.class.getName();
    PAssert.that(result.failures())
        .containsInAnyOrder(
            Failure.of("short-0", "poison", 0, Stage.INFER, error, shape + "[10]", null),
            Failure.of("short-1", "poison", 1, Stage.INFER, error, shape + "[10]", null),
            Failure.of("short-2", "poison", 2, Stage.INFER, error, shape + "[10]", null),
            Failure.of(
                "double",
                "poison",
                3,
                Stage.INFER,
                error,
                "Model input 'input' takes FLOAT, the example has DOUBLE",
                null),
            Failure.of("matrix", "poison", 4, Stage.INFER, error, shape + "[28, 28]", null));
    PAssert.that(labels(result.predictions())).containsInAnyOrder(expectedLabels.subList(0, 40));
    PAssert.that(sizes("Sizes", result.batches()))
        .satisfies(
            sizes -> {
              long total = 0;
              for (long s : sizes) {
                total += s;
              }
              assertThat("only good records are in successful runs", total, equalTo(40L));
              return null;
            });
    PipelineResult run = pipeline.run();
    run.waitUntilFinish();
    assertThat("isolated_failures", counter(run, "isolated_failures"), equalTo(5L));
    assertThat("num_inferences", counter(run, "num_inferences"), equalTo(40L));
  }

  private static KV<RecordMeta, TensorExample> poison(String id, long index, Tensor tensor) {
    return KV.of(RecordMeta.of(id, "poison", index, null), TensorExample.of("input", tensor));
  }

  /** Delegates to {@link ClassScores} but fails for one record. */
  private static final class FailingFor implements Postprocessor<TensorExample, TensorExample> {
    private final String id;
    private final ClassScores scores = ClassScores.of().withLabels(FashionMnist.LABELS);

    FailingFor(String id) {
      this.id = id;
    }

    @Override
    public void fill(TensorExample example, TensorExample output, Prediction.Builder prediction) {
      if (prediction.build().meta().id().equals(id)) {
        throw new IllegalStateException("no score for " + id);
      }
      scores.fill(example, output, prediction);
    }
  }

  @Test
  public void aPostprocessorErrorFailsOnlyItsRecord() {
    RunInference.Result result =
        images("Images")
            .apply(
                RunInference.of(OnnxModelHandler.of(modelUri), new FailingFor("img-7"))
                    .withBatchSize(8));
    PAssert.that(result.failures())
        .containsInAnyOrder(
            Failure.of(
                "img-7",
                "images",
                7,
                Stage.POSTPROCESS,
                IllegalStateException.class.getName(),
                "no score for img-7",
                null));
    List<KV<String, String>> others =
        expectedLabels.stream()
            .filter(kv -> !kv.getKey().equals("img-7"))
            .collect(Collectors.toList());
    PAssert.that(labels(result.predictions())).containsInAnyOrder(others);
    PAssert.that(sizes("Sizes", result.batches()))
        .satisfies(
            sizes -> {
              long total = 0;
              for (long s : sizes) {
                total += s;
              }
              assertThat("the batch itself ran", total, equalTo((long) RECORDS));
              return null;
            });
    pipeline.run().waitUntilFinish();
  }

  @Test
  public void loadsTheModelOncePerJvm() throws Exception {
    // A copy under a new name: a cache key that no other test of this JVM has loaded.
    OnnxModelHandler handler =
        OnnxModelHandler.of(TestModels.classifierCopy(TMP.getRoot().toPath()).toString());
    RunInference.Result result =
        images("Images")
            .apply(
                RunInference.of(handler, ClassScores.of().withLabels(FashionMnist.LABELS))
                    .withShards(4)
                    .withBatchSize(4));
    PAssert.that(labels(result.predictions())).containsInAnyOrder(expectedLabels);
    PipelineResult run = pipeline.run();
    run.waitUntilFinish();
    assertThat("loads in this JVM", SharedResources.loadCount(handler.cacheKey()), equalTo(1));
    // The DirectRunner tears its DoFns down just after it reports the pipeline done.
    long deadline = System.nanoTime() + 10_000_000_000L;
    while (SharedResources.references(handler.cacheKey()) > 0 && System.nanoTime() < deadline) {
      Thread.sleep(20);
    }
    assertThat("leases left open", SharedResources.references(handler.cacheKey()), equalTo(0));
  }

  @Test
  public void withXRejectsBadArguments() {
    RunInference<TensorExample, TensorExample> ri = classify();
    assertThat(
        assertThrows(IllegalArgumentException.class, () -> ri.withBatchSize(0)).getMessage(),
        equalTo("batchSize must be > 0, got 0"));
    assertThat(
        assertThrows(IllegalArgumentException.class, () -> ri.withMaxBatchWeight(-1)).getMessage(),
        equalTo("maxBatchWeight must be >= 0, got -1"));
    assertThat(
        assertThrows(IllegalArgumentException.class, () -> ri.withShards(0)).getMessage(),
        equalTo("shards must be > 0, got 0"));
    assertThat(
        assertThrows(
                IllegalArgumentException.class, () -> ri.withMaxBufferingDuration(Duration.ZERO))
            .getMessage(),
        containsString("maxBufferingDuration must be positive"));
  }

  @Test
  public void displayDataShowsBatchingAndModel() {
    String sha256 = "ab".repeat(32);
    RunInference<TensorExample, TensorExample> configured =
        RunInference.of(
                OnnxModelHandler.of(modelUri).withName("fashion").withExpectedSha256(sha256),
                ClassScores.of().withLabels(FashionMnist.LABELS))
            .withBatchSize(16)
            .withMaxBatchWeight(4096)
            .withWeightBuckets(32, 128)
            .withShards(3)
            .withMaxBufferingDuration(Duration.standardSeconds(5));
    DisplayData data = DisplayData.from(configured);
    assertThat(data, hasDisplayItem("batchSize", 16));
    assertThat(data, hasDisplayItem("maxBatchWeight", 4096));
    assertThat(data, hasDisplayItem("weightBuckets", "[32, 128]"));
    assertThat(data, hasDisplayItem("shards", 3));
    assertThat(data, hasDisplayItem("maxBufferingDuration", Duration.standardSeconds(5)));
    assertThat(data, hasDisplayItem("modelHandler", OnnxModelHandler.class));
    assertThat(data, hasDisplayItem("postprocessor", ClassScores.class));
    assertThat(data, hasDisplayItem("modelUri", modelUri));
    assertThat(data, hasDisplayItem("modelName", "fashion"));
    assertThat(data, hasDisplayItem("modelSha256", sha256));

    DisplayData defaults = DisplayData.from(classify());
    assertThat(defaults, hasDisplayItem("batchSize", RunInference.DEFAULT_BATCH_SIZE));
    assertThat(defaults, hasDisplayItem("shards", RunInference.DEFAULT_SHARDS));
    assertThat("no weight bound by default", defaults, not(hasDisplayItem("maxBatchWeight")));
    assertThat(defaults, not(hasDisplayItem("weightBuckets")));
    assertThat(defaults, not(hasDisplayItem("maxBufferingDuration")));
    assertThat("no hash asked for", defaults, not(hasDisplayItem("modelSha256")));
  }
}
