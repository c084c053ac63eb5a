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
import org.apache.beam.sdk.coders.ListCoder;
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
import org.apache.beam.sdk.transforms.windowing.BoundedWindow;
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
 * <p>Examples are packed into batches (bounded by {@link #withBatchSize count} and {@link
 * #withMaxBatchWeight weight}) where they are, within each bundle, and each full batch travels as
 * one element to the worker of its {@link #withShards shard key}; the few records left over at the
 * end of a bundle are batched across bundles with {@link GroupIntoBatches} (which also bounds the
 * {@link #withMaxBufferingDuration buffering time}). So the runner shuffles, sorts and keeps state
 * per batch, not per record. Batches run through the model that each worker JVM loads once (see
 * {@link SharedResources}). A batch that fails is split in halves until the records that make it
 * fail are isolated: they become {@link Stage#INFER} failures and every other record of the batch
 * still gets its prediction.
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
    Coder<List<KV<RecordMeta, ExampleT>>> groupCoder = ListCoder.of(input.getCoder());
    KvCoder<Integer, List<KV<RecordMeta, ExampleT>>> keyedGroupCoder =
        KvCoder.of(VarIntCoder.of(), groupCoder);
    TupleTag<KV<Integer, List<KV<RecordMeta, ExampleT>>>> full =
        new TupleTag<KV<Integer, List<KV<RecordMeta, ExampleT>>>>() {};
    TupleTag<KV<Integer, List<KV<RecordMeta, ExampleT>>>> rest =
        new TupleTag<KV<Integer, List<KV<RecordMeta, ExampleT>>>>() {};
    PCollectionTuple packed =
        input.apply(
            "PackBatches",
            ParDo.of(
                    new PackFn<>(
                        handler,
                        batching.batchSize,
                        batching.maxBatchWeight,
                        batching.shards,
                        batching.weightBuckets,
                        keys(),
                        full,
                        rest))
                .withOutputTags(full, TupleTagList.of(rest).and(FAILURES)));
    packed.get(FAILURES).setCoder(Failure.Coder.of());

    // Full batches are made where the records are; they only travel to their key's worker.
    PCollection<KV<Integer, Iterable<List<KV<RecordMeta, ExampleT>>>>> fullBatches =
        packed
            .get(full)
            .setCoder(keyedGroupCoder)
            .apply("ShipFullBatches", GroupIntoBatches.ofSize(1));
    // The records left over at the end of each bundle are batched across bundles, one by one.
    GroupIntoBatches<Integer, List<KV<RecordMeta, ExampleT>>> grouping =
        GroupIntoBatches.ofSize(batching.batchSize);
    if (batching.maxBatchWeight > 0) {
      ModelHandler<ExampleT, OutputT> weigher = handler;
      grouping = grouping.withByteSize(batching.maxBatchWeight, group -> weight(weigher, group));
    }
    if (batching.maxBufferingDuration != null) {
      grouping = grouping.withMaxBufferingDuration(batching.maxBufferingDuration);
    }
    PCollection<KV<Integer, Iterable<List<KV<RecordMeta, ExampleT>>>>> restBatches =
        packed.get(rest).setCoder(keyedGroupCoder).apply("GroupIntoBatches", grouping);

    PCollectionTuple outputs =
        PCollectionList.of(fullBatches)
            .and(restBatches)
            .apply("AllBatches", Flatten.pCollections())
            .apply(
                "Infer",
                ParDo.of(new InferFn<>(handler, postprocessor))
                    .withOutputTags(PREDICTIONS, TupleTagList.of(FAILURES).and(BATCHES)));
    outputs.get(PREDICTIONS).setCoder(Prediction.Coder.of());
    outputs.get(FAILURES).setCoder(Failure.Coder.of());
    outputs.get(BATCHES).setCoder(BatchStats.Coder.of());
    PCollection<Failure> failures =
        PCollectionList.of(packed.get(FAILURES))
            .and(outputs.get(FAILURES))
            .apply("CollectFailures", Flatten.pCollections());
    return new Result(
        PCollectionTuple.of(PREDICTIONS, outputs.get(PREDICTIONS))
            .and(FAILURES, failures)
            .and(BATCHES, outputs.get(BATCHES)));
  }

  private static <ExampleT, OutputT> long weight(
      ModelHandler<ExampleT, OutputT> handler, List<KV<RecordMeta, ExampleT>> group) {
    long weight = 0;
    for (KV<RecordMeta, ExampleT> record : group) {
      weight += handler.weight(record.getValue());
    }
    return weight;
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
   * Packs records into batches within a bundle, so that the runner moves, sorts and keeps state per
   * batch instead of per record. A full batch goes out on the {@code full} output, keyed by its
   * bucket's keys in turn (so every worker gets its share of batches). At the end of the bundle,
   * the records that did not fill a batch go out one by one on the {@code rest} output, each keyed
   * by its own hash and weight bucket as before packing, for {@link GroupIntoBatches} to batch
   * across bundles. Records with neither position nor id (rows of a BigQuery table without {@code
   * --idField}) go round the keys instead.
   *
   * <ul>
   *   <li>Without weight buckets (every record of a model with fixed input shapes weighs the same),
   *       records are batched in the order they come: a batch is full at {@code batchSize} records
   *       or when the next record would take it past {@code maxBatchWeight}.
   *   <li>With weight buckets (texts of varying length), records are gathered in a window of {@link
   *       #WINDOW_BATCHES} batches, sorted by weight and cut into batches of neighbours, which
   *       hardly pad at all; the heaviest records that do not fill a last batch wait for the next
   *       window. This is what the buckets approximate across bundles.
   * </ul>
   *
   * <p>A record heavier than a whole batch may be becomes a {@link Stage#INFER} failure here.
   */
  static final class PackFn<ExampleT, OutputT>
      extends DoFn<KV<RecordMeta, ExampleT>, KV<Integer, List<KV<RecordMeta, ExampleT>>>> {

    /** Batches' worth of records gathered before sorting, with weight buckets. */
    static final int WINDOW_BATCHES = 64;

    /** The most records gathered before sorting, whatever the batch size. */
    static final int MAX_WINDOW_RECORDS = 16_384;

    private final ModelHandler<ExampleT, OutputT> handler;
    private final int batchSize;
    private final long maxBatchWeight;
    private final int shards;
    private final long @Nullable [] weightBuckets;
    private final int[] keys;
    private final TupleTag<KV<Integer, List<KV<RecordMeta, ExampleT>>>> full;
    private final TupleTag<KV<Integer, List<KV<RecordMeta, ExampleT>>>> rest;

    /** For records with neither position nor id: the next shard, from a random start. */
    private transient int roundRobin = java.util.concurrent.ThreadLocalRandom.current().nextInt();

    /** The next shard of each bucket's full batches. */
    private transient int @Nullable [] nextShard;

    /** The records gathered in each window of this bundle. */
    private transient java.util.Map<BoundedWindow, Gathered<ExampleT>> gathered;

    PackFn(
        ModelHandler<ExampleT, OutputT> handler,
        int batchSize,
        long maxBatchWeight,
        int shards,
        long @Nullable [] weightBuckets,
        int[] keys,
        TupleTag<KV<Integer, List<KV<RecordMeta, ExampleT>>>> full,
        TupleTag<KV<Integer, List<KV<RecordMeta, ExampleT>>>> rest) {
      this.handler = handler;
      this.batchSize = batchSize;
      this.maxBatchWeight = maxBatchWeight;
      this.shards = shards;
      this.weightBuckets = weightBuckets;
      this.keys = keys;
      this.full = full;
      this.rest = rest;
    }

    /** Records gathered, with their weights, and the latest timestamp among them. */
    private static final class Gathered<ExampleT> {
      List<KV<RecordMeta, ExampleT>> records = new ArrayList<>();
      List<Long> weights = new ArrayList<>();
      long weight;
      org.joda.time.Instant timestamp = BoundedWindow.TIMESTAMP_MIN_VALUE;

      void add(KV<RecordMeta, ExampleT> record, long recordWeight, org.joda.time.Instant time) {
        records.add(record);
        weights.add(recordWeight);
        weight += recordWeight;
        if (time.isAfter(timestamp)) {
          timestamp = time;
        }
      }

      void clear() {
        records = new ArrayList<>();
        weights = new ArrayList<>();
        weight = 0;
      }
    }

    private int windowRecords() {
      return (int) Math.min(MAX_WINDOW_RECORDS, (long) batchSize * WINDOW_BATCHES);
    }

    @StartBundle
    public void startBundle() {
      gathered = new java.util.HashMap<>();
    }

    @ProcessElement
    public void processElement(
        @Element KV<RecordMeta, ExampleT> record,
        @Timestamp org.joda.time.Instant timestamp,
        BoundedWindow window,
        MultiOutputReceiver outputs) {
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
      Gathered<ExampleT> batch = gathered.computeIfAbsent(window, w -> new Gathered<>());
      OutputReceiver<KV<Integer, List<KV<RecordMeta, ExampleT>>>> out = outputs.get(full);
      if (weightBuckets != null) {
        batch.add(record, weight, timestamp);
        if (batch.records.size() >= windowRecords()) {
          cutSorted(batch, out);
        }
        return;
      }
      if (maxBatchWeight > 0
          && !batch.records.isEmpty()
          && batch.weight + weight > maxBatchWeight) {
        out.output(KV.of(nextKey(0), batch.records));
        batch.clear();
      }
      batch.add(record, weight, timestamp);
      if (batch.records.size() >= batchSize
          || (maxBatchWeight > 0 && batch.weight >= maxBatchWeight)) {
        out.output(KV.of(nextKey(0), batch.records));
        batch.clear();
      }
    }

    /**
     * Sorts the gathered records by weight and outputs the full batches they cut into, each within
     * one weight bucket; the records of a bucket that do not fill a batch stay gathered, for the
     * next window or the end of the bundle.
     */
    private void cutSorted(
        Gathered<ExampleT> gathered,
        OutputReceiver<KV<Integer, List<KV<RecordMeta, ExampleT>>>> out) {
      int n = gathered.records.size();
      Integer[] order = new Integer[n];
      for (int i = 0; i < n; i++) {
        order[i] = i;
      }
      // Stable: records of one weight keep their order.
      java.util.Arrays.sort(order, java.util.Comparator.comparingLong(gathered.weights::get));
      Gathered<ExampleT> left = new Gathered<>();
      left.timestamp = gathered.timestamp;
      int from = 0;
      while (from < n) {
        int bucket = bucketOf(gathered.weights.get(order[from]));
        int to = from;
        long weight = 0;
        while (to < n
            && to - from < batchSize
            && (maxBatchWeight == 0 || weight + gathered.weights.get(order[to]) <= maxBatchWeight)
            && bucketOf(gathered.weights.get(order[to])) == bucket) {
          weight += gathered.weights.get(order[to]);
          to++;
        }
        // Full: batchSize records, or the next record of the bucket would pass the weight limit.
        boolean isFull =
            to - from == batchSize
                || (to < n && bucketOf(gathered.weights.get(order[to])) == bucket);
        if (isFull) {
          List<KV<RecordMeta, ExampleT>> records = new ArrayList<>(to - from);
          for (int i = from; i < to; i++) {
            records.add(gathered.records.get(order[i]));
          }
          out.output(KV.of(nextKey(bucket), records));
        } else {
          for (int i = from; i < to; i++) {
            left.add(
                gathered.records.get(order[i]), gathered.weights.get(order[i]), left.timestamp);
          }
        }
        from = to;
      }
      gathered.records = left.records;
      gathered.weights = left.weights;
      gathered.weight = left.weight;
    }

    @FinishBundle
    public void finishBundle(FinishBundleContext context) {
      for (java.util.Map.Entry<BoundedWindow, Gathered<ExampleT>> entry : gathered.entrySet()) {
        Gathered<ExampleT> batch = entry.getValue();
        BoundedWindow window = entry.getKey();
        if (weightBuckets != null) {
          cutSorted(
              batch,
              new OutputReceiver<KV<Integer, List<KV<RecordMeta, ExampleT>>>>() {
                @Override
                public void output(KV<Integer, List<KV<RecordMeta, ExampleT>>> value) {
                  context.output(full, value, batch.timestamp, window);
                }

                @Override
                public void outputWithTimestamp(
                    KV<Integer, List<KV<RecordMeta, ExampleT>>> value,
                    org.joda.time.Instant timestamp) {
                  context.output(full, value, timestamp, window);
                }
              });
        }
        for (int i = 0; i < batch.records.size(); i++) {
          KV<RecordMeta, ExampleT> record = batch.records.get(i);
          int bucket = weightBuckets == null ? 0 : bucketOf(batch.weights.get(i));
          context.output(
              rest,
              KV.of(keyOf(bucket, record.getKey()), List.of(record)),
              batch.timestamp,
              window);
        }
      }
      gathered = null;
    }

    /** The key of a record left over, by its own identity, as before packing. */
    private int keyOf(int bucket, RecordMeta record) {
      java.util.OptionalInt hash = identityHash(record);
      int shard = Math.floorMod(hash.isPresent() ? hash.getAsInt() : roundRobin++, shards);
      return keys[bucket * shards + shard];
    }

    /**
     * The key of a full batch: the bucket's keys in turn, from a random start, so that every worker
     * gets its share of batches (a hash of each batch's first record would leave the counts to
     * chance: with a few dozen batches per worker, a third more on one is common).
     */
    private int nextKey(int bucket) {
      if (nextShard == null) {
        nextShard = new int[keys.length / shards];
        java.util.Arrays.setAll(
            nextShard, b -> java.util.concurrent.ThreadLocalRandom.current().nextInt(shards));
      }
      int shard = nextShard[bucket];
      nextShard[bucket] = (shard + 1) % shards;
      return keys[bucket * shards + shard];
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
      extends DoFn<KV<Integer, Iterable<List<KV<RecordMeta, ExampleT>>>>, Prediction> {

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
        @Element KV<Integer, Iterable<List<KV<RecordMeta, ExampleT>>>> batch,
        MultiOutputReceiver out) {
      List<KV<RecordMeta, ExampleT>> records = new ArrayList<>();
      batch.getValue().forEach(records::addAll);
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
