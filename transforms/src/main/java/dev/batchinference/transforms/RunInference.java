package dev.batchinference.transforms;

import static org.apache.beam.vendor.guava.v32_1_2_jre.com.google.common.base.Preconditions.checkArgument;

import dev.batchinference.transforms.model.LoadedModel;
import dev.batchinference.transforms.model.MemoryBackoff;
import dev.batchinference.transforms.model.ModelHandler;
import dev.batchinference.transforms.model.SharedResources;
import dev.batchinference.transforms.postprocess.Postprocessor;
import java.io.Serializable;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import java.util.function.Consumer;
import org.apache.beam.sdk.coders.Coder;
import org.apache.beam.sdk.coders.KvCoder;
import org.apache.beam.sdk.coders.VarIntCoder;
import org.apache.beam.sdk.metrics.Counter;
import org.apache.beam.sdk.metrics.Distribution;
import org.apache.beam.sdk.metrics.Metrics;
import org.apache.beam.sdk.transforms.DoFn;
import org.apache.beam.sdk.transforms.Flatten;
import org.apache.beam.sdk.transforms.GroupIntoBatches;
import org.apache.beam.sdk.transforms.PTransform;
import org.apache.beam.sdk.transforms.ParDo;
import org.apache.beam.sdk.transforms.display.DisplayData;
import org.apache.beam.sdk.values.KV;
import org.apache.beam.sdk.values.PCollection;
import org.apache.beam.sdk.values.PCollectionList;
import org.apache.beam.sdk.values.PCollectionTuple;
import org.apache.beam.sdk.values.TupleTag;
import org.apache.beam.sdk.values.TupleTagList;
import org.checkerframework.checker.nullness.qual.Nullable;
import org.joda.time.Duration;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Runs a model over keyed examples in batches and returns predictions, failures and per-batch
 * statistics.
 *
 * <p>Examples are spread over {@link #withShards shard keys}, grouped with {@link GroupIntoBatches}
 * (bounded by {@link #withBatchSize count}, {@link #withMaxBatchWeight weight} and {@link
 * #withMaxBufferingDuration buffering time}), and run through the model that each worker JVM loads
 * once (see {@link SharedResources}). A batch that fails is split in halves until the records that
 * make it fail are isolated: they become {@link Stage#INFER} failures and every other record of the
 * batch still gets its prediction.
 *
 * <pre>{@code
 * RunInference.Result result =
 *     examples.apply("RunInference",
 *         RunInference.of(OnnxModelHandler.of(modelUri), new ClassScores(...))
 *             .withBatchSize(64));
 * result.predictions();  // PCollection<Prediction>
 * result.failures();     // PCollection<Failure>
 * }</pre>
 *
 * <p>Metrics, named like Beam Python's RunInference: {@code num_inferences}, {@code
 * inference_batch_latency_micro_secs}, {@code load_model_latency_milli_secs}, {@code
 * failed_batches_counter}, {@code model_byte_size}; plus {@code batch_splits} and {@code
 * isolated_failures}.
 */
public final class RunInference<ExampleT, OutputT>
    extends PTransform<PCollection<KV<RecordMeta, ExampleT>>, RunInference.Result> {

  public static final int DEFAULT_BATCH_SIZE = 32;
  public static final int DEFAULT_SHARDS = 8;

  private static final Logger LOG = LoggerFactory.getLogger(RunInference.class);
  private static final TupleTag<Prediction> PREDICTIONS = new TupleTag<Prediction>() {};
  private static final TupleTag<Failure> FAILURES = new TupleTag<Failure>() {};
  private static final TupleTag<BatchStats> BATCHES = new TupleTag<BatchStats>() {};

  private final ModelHandler<ExampleT, OutputT> handler;
  private final Postprocessor<ExampleT, OutputT> postprocessor;
  private final Batching batching;

  private RunInference(
      ModelHandler<ExampleT, OutputT> handler,
      Postprocessor<ExampleT, OutputT> postprocessor,
      Batching batching) {
    this.handler = handler;
    this.postprocessor = postprocessor;
    this.batching = batching;
  }

  /** How records are batched. The {@code withX()} methods change a copy, never the original. */
  private static final class Batching implements Serializable {
    int batchSize = DEFAULT_BATCH_SIZE;
    long maxBatchWeight;
    @Nullable Duration maxBufferingDuration;
    int shards = DEFAULT_SHARDS;
    long @Nullable [] weightBuckets;
    @Nullable KeyPlacement placement;
    int workers;

    Batching copy() {
      Batching copy = new Batching();
      copy.batchSize = batchSize;
      copy.maxBatchWeight = maxBatchWeight;
      copy.maxBufferingDuration = maxBufferingDuration;
      copy.shards = shards;
      copy.weightBuckets = weightBuckets;
      copy.placement = placement;
      copy.workers = workers;
      return copy;
    }
  }

  private RunInference<ExampleT, OutputT> with(Consumer<Batching> change) {
    Batching next = batching.copy();
    change.accept(next);
    return new RunInference<>(handler, postprocessor, next);
  }

  /**
   * Runs {@code handler}'s model and turns each output into a prediction with {@code
   * postprocessor}.
   */
  public static <ExampleT, OutputT> RunInference<ExampleT, OutputT> of(
      ModelHandler<ExampleT, OutputT> handler, Postprocessor<ExampleT, OutputT> postprocessor) {
    return new RunInference<>(
        Objects.requireNonNull(handler, "handler"),
        Objects.requireNonNull(postprocessor, "postprocessor"),
        new Batching());
  }

  /** At most this many records per model run. Default {@value #DEFAULT_BATCH_SIZE}. */
  public RunInference<ExampleT, OutputT> withBatchSize(int batchSize) {
    checkArgument(batchSize > 0, "batchSize must be > 0, got %s", batchSize);
    return with(b -> b.batchSize = batchSize);
  }

  /**
   * At most this much total weight per model run (tokens for text, see {@link
   * ModelHandler#weight}); 0, the default, means no bound beyond the batch size.
   */
  public RunInference<ExampleT, OutputT> withMaxBatchWeight(long maxBatchWeight) {
    checkArgument(maxBatchWeight >= 0, "maxBatchWeight must be >= 0, got %s", maxBatchWeight);
    return with(b -> b.maxBatchWeight = maxBatchWeight);
  }

  /** Emits a partial batch once its first record has waited this long. Default: no limit. */
  public RunInference<ExampleT, OutputT> withMaxBufferingDuration(Duration duration) {
    checkArgument(
        duration != null && duration.isLongerThan(Duration.ZERO),
        "maxBufferingDuration must be positive, got %s",
        duration);
    return with(b -> b.maxBufferingDuration = duration);
  }

  /**
   * Number of keys that batching spreads records over: the parallelism of the inference step. Each
   * key ends the input with at most one partial batch. Default {@value #DEFAULT_SHARDS}.
   */
  public RunInference<ExampleT, OutputT> withShards(int shards) {
    checkArgument(shards > 0, "shards must be > 0, got %s", shards);
    return with(b -> b.shards = shards);
  }

  /**
   * Chooses the key values so that each of the runner's {@code workers} gets the same number of
   * them, where {@code placement} says which worker the runner's shuffle sends a key to (see {@link
   * KeyPlacement}). Without it keys are 0, 1, 2, ... and the runner's hashing decides.
   */
  public RunInference<ExampleT, OutputT> withKeyPlacement(int workers, KeyPlacement placement) {
    checkArgument(workers > 0, "workers must be > 0, got %s", workers);
    Objects.requireNonNull(placement, "placement");
    return with(
        b -> {
          b.workers = workers;
          b.placement = placement;
        });
  }

  /**
   * Batches records of similar weight together: a record goes to the first bucket whose upper bound
   * is at least its weight (tokens, for text), or to a last bucket above all bounds, and batches
   * are made within a bucket. Short texts then no longer pay for the padding of long ones. Each
   * bucket has its own {@link #withShards shards}, so each can end with a partial batch. Default:
   * no buckets.
   */
  public RunInference<ExampleT, OutputT> withWeightBuckets(long... upperBounds) {
    checkArgument(upperBounds.length > 0, "weight buckets must not be empty");
    for (int i = 0; i < upperBounds.length; i++) {
      checkArgument(
          upperBounds[i] > 0 && (i == 0 || upperBounds[i] > upperBounds[i - 1]),
          "weight bucket bounds must be positive and increasing, got %s",
          java.util.Arrays.toString(upperBounds));
    }
    long[] bounds = upperBounds.clone();
    return with(b -> b.weightBuckets = bounds);
  }

  @Override
  public void populateDisplayData(DisplayData.Builder builder) {
    super.populateDisplayData(builder);
    builder
        .add(DisplayData.item("batchSize", batching.batchSize).withLabel("Batch size (records)"))
        .addIfNotDefault(
            DisplayData.item("maxBatchWeight", batching.maxBatchWeight)
                .withLabel("Max batch weight (tokens or tensor elements)"),
            0L)
        .addIfNotNull(
            DisplayData.item(
                    "weightBuckets",
                    batching.weightBuckets == null
                        ? null
                        : java.util.Arrays.toString(batching.weightBuckets))
                .withLabel("Weight bucket upper bounds"))
        .add(DisplayData.item("shards", batching.shards).withLabel("Shard keys per bucket"))
        .addIfNotDefault(
            DisplayData.item("placedOnWorkers", batching.workers)
                .withLabel("Keys placed evenly on this many workers"),
            0)
        .addIfNotNull(
            DisplayData.item("maxBufferingDuration", batching.maxBufferingDuration)
                .withLabel("Max buffering duration"))
        .add(DisplayData.item("modelHandler", handler.getClass()).withLabel("Model handler"))
        .add(DisplayData.item("postprocessor", postprocessor.getClass()).withLabel("Postprocessor"))
        .include("model", handler);
  }

  @Override
  public Result expand(PCollection<KV<RecordMeta, ExampleT>> input) {
    Coder<KV<RecordMeta, ExampleT>> recordCoder = input.getCoder();
    GroupIntoBatches<Integer, KV<RecordMeta, ExampleT>> grouping =
        GroupIntoBatches.ofSize(batching.batchSize);
    if (batching.maxBatchWeight > 0) {
      ModelHandler<ExampleT, OutputT> weigher = handler;
      grouping =
          grouping.withByteSize(batching.maxBatchWeight, kv -> weigher.weight(kv.getValue()));
    }
    if (batching.maxBufferingDuration != null) {
      grouping = grouping.withMaxBufferingDuration(batching.maxBufferingDuration);
    }
    TupleTag<KV<Integer, KV<RecordMeta, ExampleT>>> sharded =
        new TupleTag<KV<Integer, KV<RecordMeta, ExampleT>>>() {};
    PCollectionTuple assigned =
        input.apply(
            "AssignShards",
            ParDo.of(
                    new AssignShardFn<>(
                        handler,
                        batching.shards,
                        batching.weightBuckets,
                        batching.maxBatchWeight,
                        keys(),
                        sharded))
                .withOutputTags(sharded, TupleTagList.of(FAILURES)));
    assigned.get(FAILURES).setCoder(Failure.Coder.of());
    PCollectionTuple outputs =
        assigned
            .get(sharded)
            .setCoder(KvCoder.of(VarIntCoder.of(), recordCoder))
            .apply("GroupIntoBatches", grouping)
            .apply(
                "Infer",
                ParDo.of(new InferFn<>(handler, postprocessor))
                    .withOutputTags(PREDICTIONS, TupleTagList.of(FAILURES).and(BATCHES)));
    outputs.get(PREDICTIONS).setCoder(Prediction.Coder.of());
    outputs.get(FAILURES).setCoder(Failure.Coder.of());
    outputs.get(BATCHES).setCoder(BatchStats.Coder.of());
    PCollection<Failure> failures =
        PCollectionList.of(assigned.get(FAILURES))
            .and(outputs.get(FAILURES))
            .apply("CollectFailures", Flatten.pCollections());
    return new Result(
        PCollectionTuple.of(PREDICTIONS, outputs.get(PREDICTIONS))
            .and(FAILURES, failures)
            .and(BATCHES, outputs.get(BATCHES)));
  }

  /**
   * The key of each (bucket, shard) slot, slot {@code bucket * shards + shard}: placed evenly on
   * the workers when the runner says where keys go, so each bucket's keys cover every worker; else
   * the slot numbers themselves.
   */
  int[] keys() {
    int slots =
        (batching.weightBuckets == null ? 1 : batching.weightBuckets.length + 1) * batching.shards;
    if (batching.placement == null) {
      return java.util.stream.IntStream.range(0, slots).toArray();
    }
    // Slot i lands on worker i % workers: each bucket's shards cover the workers in turn, and
    // when shards is not a multiple of workers the next bucket goes on where the last stopped.
    return KeyPlacement.choose(batching.placement, slots, batching.workers);
  }

  /**
   * The hash that spreads a record over the shard keys: of its position, or of its id where it has
   * no position; empty for a record with neither, which goes round the keys instead. A record goes
   * to shard {@code floorMod(hash, shards)}. Public so that the scaling simulation ({@code
   * benchmarks}) spreads records with this very hash.
   */
  public static java.util.OptionalInt identityHash(RecordMeta meta) {
    long h;
    if (meta.index() >= 0) {
      h = 31L * meta.source().hashCode() + meta.index();
    } else if (!meta.id().equals(meta.source() + ":" + meta.index())) {
      h = 31L * meta.source().hashCode() + meta.id().hashCode();
    } else {
      return java.util.OptionalInt.empty();
    }
    // MurmurHash3's 64-bit finalizer: consecutive indexes must not land on consecutive shards in
    // step with the buckets.
    h ^= h >>> 33;
    h *= 0xff51afd7ed558ccdL;
    h ^= h >>> 33;
    h *= 0xc4ceb93e7f4a6f1bL;
    h ^= h >>> 33;
    return java.util.OptionalInt.of((int) h);
  }

  /**
   * Spreads records over shard keys by a hash of their identity, so that runs are repeatable; with
   * weight buckets, each bucket has its own keys. Records without a position or an id of their own
   * (rows of a BigQuery table without {@code --idField}) go round the keys instead.
   */
  static final class AssignShardFn<ExampleT, OutputT>
      extends DoFn<KV<RecordMeta, ExampleT>, KV<Integer, KV<RecordMeta, ExampleT>>> {
    private final ModelHandler<ExampleT, OutputT> handler;
    private final int shards;
    private final long @Nullable [] weightBuckets;
    private final long maxBatchWeight;
    private final int[] keys;

    private final TupleTag<KV<Integer, KV<RecordMeta, ExampleT>>> sharded;

    /** For records with neither position nor id: the next shard, from a random start. */
    private transient int roundRobin = java.util.concurrent.ThreadLocalRandom.current().nextInt();

    AssignShardFn(
        ModelHandler<ExampleT, OutputT> handler,
        int shards,
        long @Nullable [] weightBuckets,
        long maxBatchWeight,
        int[] keys,
        TupleTag<KV<Integer, KV<RecordMeta, ExampleT>>> sharded) {
      this.keys = keys;
      this.sharded = sharded;
      this.handler = handler;
      this.shards = shards;
      this.weightBuckets = weightBuckets;
      this.maxBatchWeight = maxBatchWeight;
    }

    @ProcessElement
    public void processElement(
        @Element KV<RecordMeta, ExampleT> record, MultiOutputReceiver outputs) {
      RecordMeta meta = record.getKey();
      long weight = handler.weight(record.getValue());
      if (maxBatchWeight > 0 && weight > maxBatchWeight) {
        // A record heavier than a whole batch may be could never run within the limit.
        outputs
            .get(FAILURES)
            .output(
                Failure.of(
                    meta.id(),
                    meta.source(),
                    meta.index(),
                    Stage.INFER,
                    RecordOverLimitException.class.getName(),
                    "the record weighs "
                        + weight
                        + " (tokens or tensor elements), over the batch weight limit of "
                        + maxBatchWeight
                        + " (maxBatchWeight)",
                    meta.carriedJson()));
        return;
      }
      int shard = Math.floorMod(shardHash(meta), shards);
      int bucket = weightBuckets == null ? 0 : bucketOf(weight);
      outputs.get(sharded).output(KV.of(keys[bucket * shards + shard], record));
    }

    /**
     * A well-mixed hash of the record's position, or of its id where it has no position; a new
     * number for each record that has neither (its id is then the default {@code source:-1}).
     */
    private int shardHash(RecordMeta meta) {
      java.util.OptionalInt hash = identityHash(meta);
      return hash.isPresent() ? hash.getAsInt() : roundRobin++;
    }

    private int bucketOf(long weight) {
      int bucket = 0;
      while (bucket < weightBuckets.length && weight > weightBuckets[bucket]) {
        bucket++;
      }
      return bucket;
    }
  }

  /** Runs batches through the shared model, isolating records that make a batch fail. */
  static final class InferFn<ExampleT, OutputT>
      extends DoFn<KV<Integer, Iterable<KV<RecordMeta, ExampleT>>>, Prediction> {

    private final ModelHandler<ExampleT, OutputT> handler;
    private final Postprocessor<ExampleT, OutputT> postprocessor;

    private final Counter inferences = Metrics.counter(RunInference.class, "num_inferences");
    private final Distribution batchLatency =
        Metrics.distribution(RunInference.class, "inference_batch_latency_micro_secs");
    private final Distribution loadLatency =
        Metrics.distribution(RunInference.class, "load_model_latency_milli_secs");
    private final Counter failedBatches =
        Metrics.counter(RunInference.class, "failed_batches_counter");
    private final Distribution modelByteSize =
        Metrics.distribution(RunInference.class, "model_byte_size");
    private final Counter splits = Metrics.counter(RunInference.class, "batch_splits");
    private final Counter isolated = Metrics.counter(RunInference.class, "isolated_failures");
    private final Counter memoryBackoffs = Metrics.counter(RunInference.class, "memory_backoffs");

    private transient SharedResources.@Nullable Lease<LoadedModel<ExampleT, OutputT>> lease;

    /** Milliseconds @Setup waited for the model; reported with the first bundle, -1 after. */
    private transient long loadMillis = -1;

    InferFn(
        ModelHandler<ExampleT, OutputT> handler, Postprocessor<ExampleT, OutputT> postprocessor) {
      this.handler = handler;
      this.postprocessor = postprocessor;
    }

    @Setup
    public void setup() throws Exception {
      long start = System.currentTimeMillis();
      lease = SharedResources.acquire(handler.cacheKey(), handler::load);
      loadMillis = System.currentTimeMillis() - start;
    }

    /**
     * Reports the model's loading time and size. Not in @Setup: runners such as Flink only take
     * metrics from threads that process a bundle.
     */
    @StartBundle
    public void startBundle() {
      if (loadMillis >= 0) {
        loadLatency.update(loadMillis);
        modelByteSize.update(lease.get().byteSize());
        loadMillis = -1;
      }
    }

    @ProcessElement
    public void processElement(
        @Element KV<Integer, Iterable<KV<RecordMeta, ExampleT>>> batch, MultiOutputReceiver out) {
      List<KV<RecordMeta, ExampleT>> records = new ArrayList<>();
      batch.getValue().forEach(records::add);
      runWithinMemoryLimit(records, out);
    }

    /** Runs {@code records} in pieces no larger than what this worker's memory allows. */
    private void runWithinMemoryLimit(
        List<KV<RecordMeta, ExampleT>> records, MultiOutputReceiver out) {
      int limit = MemoryBackoff.limit(handler.cacheKey());
      if (records.size() <= limit) {
        runIsolating(records, out);
        return;
      }
      for (int from = 0; from < records.size(); from += limit) {
        runIsolating(records.subList(from, Math.min(records.size(), from + limit)), out);
      }
    }

    private void runIsolating(List<KV<RecordMeta, ExampleT>> records, MultiOutputReceiver out) {
      LoadedModel<ExampleT, OutputT> model = lease.get();
      List<ExampleT> examples = new ArrayList<>(records.size());
      long weight = 0;
      for (KV<RecordMeta, ExampleT> record : records) {
        examples.add(record.getValue());
        weight += handler.weight(record.getValue());
      }
      long start = System.nanoTime();
      List<OutputT> outputs;
      try {
        outputs = model.run(examples);
        if (outputs.size() != examples.size()) {
          throw new IllegalStateException(
              "The model returned "
                  + outputs.size()
                  + " outputs for "
                  + examples.size()
                  + " examples");
        }
      } catch (Exception | OutOfMemoryError e) {
        failedBatches.inc();
        if (records.size() > 1 && MemoryBackoff.isOutOfMemory(e)) {
          int lowered = MemoryBackoff.lower(handler.cacheKey(), records.size());
          if (lowered > 0) {
            memoryBackoffs.inc();
            out.get(BATCHES).output(BatchStats.memoryBackoff(lowered, Worker.current()));
            LOG.warn(
                "Out of memory running a batch of {} records ({}); this worker now runs at most {}"
                    + " records per batch of {}.",
                records.size(),
                Failure.describe(e),
                lowered,
                handler.cacheKey());
          }
          runWithinMemoryLimit(records, out);
          return;
        }
        if (records.size() == 1) {
          isolated.inc();
          out.get(FAILURES).output(Failure.of(records.get(0).getKey(), Stage.INFER, e));
        } else {
          splits.inc();
          int mid = records.size() / 2;
          runIsolating(records.subList(0, mid), out);
          runIsolating(records.subList(mid, records.size()), out);
        }
        return;
      }
      long micros = (System.nanoTime() - start) / 1000;
      batchLatency.update(micros);
      inferences.inc(records.size());
      out.get(BATCHES).output(BatchStats.of(records.size(), weight, micros, Worker.current()));
      for (int i = 0; i < records.size(); i++) {
        RecordMeta meta = records.get(i).getKey();
        try {
          Prediction.Builder prediction = Prediction.builder(meta, model.identity());
          postprocessor.fill(examples.get(i), outputs.get(i), prediction);
          out.get(PREDICTIONS).output(prediction.build());
        } catch (Exception e) {
          out.get(FAILURES).output(Failure.of(meta, Stage.POSTPROCESS, e));
        }
      }
    }

    @Teardown
    public void teardown() {
      if (lease != null) {
        lease.close();
        lease = null;
      }
    }
  }

  /** The outputs of {@link RunInference}: predictions, failures and one record per model run. */
  public static final class Result extends TupleOutput {

    private Result(PCollectionTuple tuple) {
      super(tuple);
    }

    public PCollection<Prediction> predictions() {
      return tuple.get(PREDICTIONS);
    }

    public PCollection<Failure> failures() {
      return tuple.get(FAILURES);
    }

    public PCollection<BatchStats> batches() {
      return tuple.get(BATCHES);
    }
  }
}
