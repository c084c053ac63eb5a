package dev.batchinference.benchmarks;

import dev.batchinference.pipelines.Batching;
import dev.batchinference.pipelines.options.BatchInferenceOptions;
import dev.batchinference.transforms.KeyPlacement;
import dev.batchinference.transforms.RecordMeta;
import dev.batchinference.transforms.RunInference;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.OptionalInt;
import java.util.SplittableRandom;
import java.util.TreeMap;
import java.util.stream.IntStream;
import org.apache.beam.sdk.options.PipelineOptionsFactory;

/**
 * What the job's batching keys do on a large cluster, computed with the job's own code instead of
 * guessed: the keys per weight bucket and their placement come from {@link Batching#from} (which
 * asks the runner module, {@code FlinkParallelism} or {@code DataflowParallelism}) and {@link
 * KeyPlacement#choose}; each record goes to its key by {@link RunInference#identityHash}; each
 * key's batches are cut as {@code GroupIntoBatches} cuts them (full by count, or early when the
 * next record would pass the weight budget; one partial batch per key at the end). From that:
 * records and keys per worker, batches, partial batches and the padded rows they cost. {@code
 * docs/scaling.md} rests on its output; {@code ScalingSimulationTest} checks it against a real run.
 *
 * <pre>{@code
 * java -cp ... dev.batchinference.benchmarks.ScalingSimulation [RECORDS]
 * }</pre>
 */
public final class ScalingSimulation {

  private ScalingSimulation() {}

  /** The job's keys on one cluster: what {@code RunInference} would key its batches by. */
  public record Keys(
      Batching batching, int[] keys, int buckets, KeyPlacement placementOrNull, int workers) {

    /** Keys per weight bucket. */
    public int shards() {
      return batching.inferenceShards();
    }

    /** The worker of slot {@code slot} where keys are placed (Flink); -1 where they are not. */
    public int workerOfSlot(int slot) {
      return placementOrNull == null ? -1 : placementOrNull.workerOf(keys[slot], workers);
    }
  }

  /** The keys the job chooses for {@code args} (job options as on its command line). */
  public static Keys keys(String... args) {
    PipelineOptionsFactory.register(BatchInferenceOptions.class);
    BatchInferenceOptions options =
        PipelineOptionsFactory.fromArgs(args).as(BatchInferenceOptions.class);
    Batching batching = Batching.from(options);
    int buckets = batching.weightBuckets().size() + 1;
    int slots = buckets * batching.inferenceShards();
    KeyPlacement placement = batching.keyPlacement().orElse(null);
    int[] keys =
        placement == null
            ? IntStream.range(0, slots).toArray()
            // As RunInference.keys(): slot i on worker i % workers.
            : KeyPlacement.choose(placement, slots, batching.inferenceWorkers());
    return new Keys(batching, keys, buckets, placement, batching.inferenceWorkers());
  }

  /**
   * The slot ({@code bucket * shards + shard}) a record goes to when it reaches the keys on its
   * own, as {@code RunInference.PackFn} keys a record left over at the end of a bundle (before
   * packing, every record went this way).
   */
  public static int slotOf(Keys keys, RecordMeta meta, long weight) {
    OptionalInt hash = RunInference.identityHash(meta);
    if (hash.isEmpty()) {
      throw new IllegalArgumentException("a record with neither position nor id: " + meta);
    }
    int shard = Math.floorMod(hash.getAsInt(), keys.shards());
    int bucket = 0;
    List<Long> bounds = keys.batching().weightBuckets();
    while (bucket < bounds.size() && weight > bounds.get(bucket)) {
      bucket++;
    }
    return bucket * keys.shards() + shard;
  }

  /**
   * One key's batches, cut as {@code GroupIntoBatches.ofSize(batchSize).withByteSize(budget)} cuts
   * them in Beam 2.62: a batch is emitted early when the next record would take it past the weight
   * budget, and when it reaches the size or the budget; what is left at the end of the input is the
   * key's one partial batch.
   */
  static final class KeyBatcher {
    final int batchSize;
    final long budget;
    int count;
    long weight;
    long records;

    /** The size of the partial batch {@link #finish} emitted; 0 for none. */
    int lastPartial;

    /** Batches emitted, by size. */
    final TreeMap<Integer, Long> sizes = new TreeMap<>();

    KeyBatcher(int batchSize, long budget) {
      this.batchSize = batchSize;
      this.budget = budget;
    }

    void add(long recordWeight) {
      records++;
      if (budget > 0 && count > 0 && weight + recordWeight > budget) {
        emit();
      }
      count++;
      weight += recordWeight;
      if (count >= batchSize || (budget > 0 && weight >= budget)) {
        emit();
      }
    }

    /** The end of the input: the partial batch, if any. */
    int finish() {
      lastPartial = count;
      if (count > 0) {
        emit();
      }
      return lastPartial;
    }

    private void emit() {
      sizes.merge(count, 1L, Long::sum);
      count = 0;
      weight = 0;
    }
  }

  /** What the simulation found for one input on one cluster. */
  public record Result(
      long records,
      long[] recordsPerSlot,
      TreeMap<Integer, Long> batchSizes,
      long batches,
      long partialBatches,
      long partialRecords,
      long paddedRows,
      long[] recordsPerWorker) {

    /** Share of the model calls that are partial batches. */
    public double partialShare() {
      return batches == 0 ? 0 : partialBatches / (double) batches;
    }

    /** Rows a full-size batch would have run beyond the real ones, over the real rows. */
    public double paddedShare() {
      return records == 0 ? 0 : paddedRows / (double) records;
    }
  }

  /**
   * Runs {@code records} records of one input file ({@code source}, indexes 0..records-1) with
   * weights {@code weights[i % weights.length]} through the keys and batches of {@code keys}.
   * Padded rows: for each partial batch, the rows up to the bucket's full batch (a GPU runs a fixed
   * shape, so a partial batch costs about a full one).
   */
  public static Result simulate(Keys keys, String source, long records, long[] weights) {
    // The default id of a record with a position is source:index; the hash uses the position.
    return simulate(
        keys,
        records,
        i -> RecordMeta.of(source + ":" + i, source, i, null),
        i -> weights.length == 0 ? 0 : weights[(int) (i % weights.length)]);
  }

  /** Runs records {@code 0..records-1}, each {@code meta(i)} of weight {@code weight(i)}. */
  public static Result simulate(
      Keys keys,
      long records,
      java.util.function.LongFunction<RecordMeta> meta,
      java.util.function.LongUnaryOperator weight) {
    Batching b = keys.batching();
    KeyBatcher[] batchers = new KeyBatcher[keys.keys().length];
    for (int i = 0; i < batchers.length; i++) {
      batchers[i] = new KeyBatcher(b.batchSize(), b.maxBatchWeight());
    }
    for (long i = 0; i < records; i++) {
      long w = weight.applyAsLong(i);
      batchers[slotOf(keys, meta.apply(i), w)].add(w);
    }
    long[] perSlot = new long[batchers.length];
    TreeMap<Integer, Long> sizes = new TreeMap<>();
    long partials = 0;
    long padded = 0;
    List<Integer> partialSlots = new ArrayList<>();
    for (int slot = 0; slot < batchers.length; slot++) {
      int partial = batchers[slot].finish();
      perSlot[slot] = batchers[slot].records;
      batchers[slot].sizes.forEach((size, n) -> sizes.merge(size, n, Long::sum));
      if (partial > 0) {
        partials++;
        partialSlots.add(slot);
      }
    }
    long partialRecords = 0;
    for (int slot : partialSlots) {
      partialRecords += batchers[slot].lastPartial;
      padded += Math.max(0, fullBatch(b, slot / keys.shards()) - batchers[slot].lastPartial);
    }
    long batches = sizes.values().stream().mapToLong(Long::longValue).sum();
    long[] perWorker = new long[Math.max(1, keys.workers())];
    if (keys.placementOrNull() != null) {
      for (int slot = 0; slot < perSlot.length; slot++) {
        perWorker[keys.workerOfSlot(slot)] += perSlot[slot];
      }
    }
    return new Result(
        records, perSlot, sizes, batches, partials, partialRecords, padded, perWorker);
  }

  /** The largest batch of a bucket: the batch size, or fewer where the token budget binds. */
  static int fullBatch(Batching b, int bucket) {
    List<Long> bounds = b.weightBuckets();
    if (b.maxBatchWeight() <= 0 || bounds.isEmpty()) {
      return b.batchSize();
    }
    long heaviest = bucket < bounds.size() ? bounds.get(bucket) : b.maxBatchWeight();
    return (int) Math.max(1, Math.min(b.batchSize(), b.maxBatchWeight() / Math.max(1, heaviest)));
  }

  /**
   * Records per worker where the runner moves keys rather than placing them (Dataflow): each key on
   * a worker drawn at random, as a hash of the key range would; the fewest and most records of a
   * worker over {@code seeds} draws, as a share of the mean.
   */
  public static double[] unplacedShares(long[] recordsPerSlot, int workers, int seeds) {
    double min = Double.MAX_VALUE;
    double max = 0;
    long total = Arrays.stream(recordsPerSlot).sum();
    double mean = total / (double) workers;
    for (int seed = 1; seed <= seeds; seed++) {
      SplittableRandom random = new SplittableRandom(seed);
      long[] perWorker = new long[workers];
      for (long records : recordsPerSlot) {
        perWorker[random.nextInt(workers)] += records;
      }
      for (long r : perWorker) {
        min = Math.min(min, r / mean);
        max = Math.max(max, r / mean);
      }
    }
    return new double[] {min, max};
  }

  /** Keys per worker: the fewest and the most, where keys are placed by {@code placement}. */
  public static int[] keysPerWorker(int[] keys, KeyPlacement placement, int workers) {
    int[] per = new int[workers];
    for (int key : keys) {
      per[placement.workerOf(key, workers)]++;
    }
    return new int[] {Arrays.stream(per).min().orElse(0), Arrays.stream(per).max().orElse(0)};
  }

  /** Bytes per record into the Reshuffle and into GroupIntoBatches (breakdown.md, measured). */
  static final long TEXT_RESHUFFLE_BYTES = 247;

  static final long TEXT_BATCHING_BYTES = 1_088;
  static final long IMAGE_RESHUFFLE_BYTES = 4_972;
  static final long IMAGE_BATCHING_BYTES = 3_297;

  /** A cluster to simulate: its name, the job's runner options, and its machines. */
  record Cluster(String name, int machines, String... args) {}

  /**
   * Prints the tables of {@code docs/scaling.md}: for a 20-TaskManager Flink cluster and a
   * 100-worker Dataflow job, text (MiniLM, weights = token counts of the fortunes) and images.
   * Arguments: the simulated records (default 1,000,000; the 1-billion figures extrapolate full
   * batches linearly and keep the partial batches, one per key at most, as simulated).
   */
  public static void main(String[] args) throws Exception {
    long records = args.length > 0 ? Long.parseLong(args[0]) : 1_000_000L;
    long[] tokens = fortuneTokens();
    System.out.printf(
        Locale.ROOT,
        "fortunes: %,d texts, mean %.1f tokens (MiniLM tokenizer, <= 256)%n",
        tokens.length,
        Arrays.stream(tokens).average().orElse(0));
    List<Cluster> clusters =
        List.of(
            new Cluster(
                "Flink, 20 TaskManagers x 4 slots", 20, "--runner=FlinkRunner", "--parallelism=80"),
            new Cluster(
                "Dataflow, 100 x g2-standard-4 (1 L4)",
                100,
                "--runner=DataflowRunner",
                "--maxNumWorkers=100",
                "--workerMachineType=g2-standard-4"),
            // The machine templates/launch.sh asks for by default with a GPU.
            new Cluster(
                "Dataflow, 100 x g2-standard-8 (1 L4)",
                100,
                "--runner=DataflowRunner",
                "--maxNumWorkers=100",
                "--workerMachineType=g2-standard-8"));
    System.out.println();
    System.out.println(
        "|cluster|task|workers|keys per bucket|keys|keys per worker|records|batches|partial"
            + " batches|share of model calls|padded rows / records|records per worker (min..max"
            + " of mean)|");
    System.out.println("|---|---|---:|---:|---:|---|---:|---:|---:|---:|---:|---|");
    for (Cluster cluster : clusters) {
      for (String task : List.of("EMBED", "CLASSIFY")) {
        List<String> jobArgs = new ArrayList<>(Arrays.asList(cluster.args()));
        jobArgs.add("--task=" + task);
        if (task.equals("CLASSIFY")) {
          jobArgs.add("--batchSize=64");
        }
        Keys keys = keys(jobArgs.toArray(new String[0]));
        long[] weights = task.equals("EMBED") ? tokens : new long[] {0};
        Result r = simulate(keys, "gs://bucket/input/part-00000.jsonl", records, weights);
        String keysPerWorker;
        String share;
        String shareAtBillion = "as above";
        if (keys.placementOrNull() != null) {
          int[] kpw = keysPerWorker(keys.keys(), keys.placementOrNull(), keys.workers());
          // What Flink's hash alone would do with the keys 0..n-1 (the job before placement).
          int[] unplaced =
              keysPerWorker(
                  IntStream.range(0, keys.keys().length).toArray(),
                  keys.placementOrNull(),
                  keys.workers());
          keysPerWorker =
              kpw[0] + ".." + kpw[1] + " (keys 0..n-1: " + unplaced[0] + ".." + unplaced[1] + ")";
          double mean = records / (double) keys.workers();
          double low = Arrays.stream(r.recordsPerWorker()).min().orElse(0) / mean;
          double high = Arrays.stream(r.recordsPerWorker()).max().orElse(0) / mean;
          share = String.format(Locale.ROOT, "%.3f..%.3f (placed)", low, high);
          // With the keys fixed, what is left is the hash's sampling noise, which shrinks as
          // 1/sqrt(records per key).
          double shrink = Math.sqrt(1_000_000_000.0 / records);
          shareAtBillion =
              String.format(
                  Locale.ROOT,
                  "~%.4f..%.4f (noise / %.0f)",
                  1 - (1 - low) / shrink,
                  1 + (high - 1) / shrink,
                  shrink);
        } else {
          // Dataflow balances key ranges over its VMs: share per machine, 10 random placements.
          double[] m = unplacedShares(r.recordsPerSlot(), cluster.machines(), 10);
          keysPerWorker = "~" + keys.keys().length / cluster.machines() + " per VM";
          share = String.format(Locale.ROOT, "%.3f..%.3f per VM (keys at random)", m[0], m[1]);
        }
        for (long n : new long[] {records, 1_000_000_000L}) {
          // At n records, the keys end with the same partial batches; the rest are full batches
          // of the same mean size as here.
          long full = r.batches() - r.partialBatches();
          double meanFull = (records - r.partialRecords()) / (double) full;
          long batches =
              n == records
                  ? r.batches()
                  : Math.round((n - r.partialRecords()) / meanFull) + r.partialBatches();
          System.out.printf(
              Locale.ROOT,
              "|%s|%s|%d|%d|%,d|%s|%,d|%,d|%,d|%s|%s|%s|%n",
              cluster.name(),
              task,
              keys.workers(),
              keys.shards(),
              keys.keys().length,
              keysPerWorker,
              n,
              batches,
              r.partialBatches(),
              pct(r.partialBatches() / (double) batches),
              pct(r.paddedRows() / (double) n),
              n == records ? share : shareAtBillion);
        }
      }
    }
    System.out.println();
    System.out.println(
        "Shuffle bytes (measured per record, breakdown.md) for 1,000,000,000 records:");
    printShuffle("text (MiniLM, 37.4 tokens/record)", TEXT_RESHUFFLE_BYTES, TEXT_BATCHING_BYTES);
    printShuffle("image (784 floats)", IMAGE_RESHUFFLE_BYTES, IMAGE_BATCHING_BYTES);
    long model = modelBytes("all-minilm-l6-v2-q.onnx");
    System.out.println();
    for (Cluster cluster : clusters) {
      System.out.printf(
          Locale.ROOT,
          "model download, %s: %d machines x %,d bytes = %,.1f MB (once per machine: the cache)%n",
          cluster.name(),
          cluster.machines(),
          model,
          cluster.machines() * model / 1e6);
    }
  }

  private static void printShuffle(String what, long reshuffle, long batching) {
    double total = 1e9 * (reshuffle + batching);
    System.out.printf(
        Locale.ROOT,
        "- %s: %d + %d = %d B/record; %.2f TB in all; %.1f GB per worker of 100, %.1f GB per"
            + " TaskManager of 20%n",
        what,
        reshuffle,
        batching,
        reshuffle + batching,
        total / 1e12,
        total / 100 / 1e9,
        total / 20 / 1e9);
  }

  /** Token counts of every fortune, as the job's tokenizer counts them (at most 256). */
  static long[] fortuneTokens() throws Exception {
    List<dev.batchinference.transforms.testing.Fortunes.Fortune> fortunes =
        dev.batchinference.transforms.testing.Fortunes.load(Integer.MAX_VALUE);
    try (ai.djl.huggingface.tokenizers.HuggingFaceTokenizer tokenizer =
        ai.djl.huggingface.tokenizers.HuggingFaceTokenizer.builder()
            .optTokenizerPath(
                dev.batchinference.transforms.model.ModelFiles.localCopy(TextWorkload.TOKENIZER))
            .optPadding(false)
            .optTruncation(true)
            .optMaxLength(256)
            .build()) {
      return fortunes.stream().mapToLong(f -> tokenizer.encode(f.text()).getIds().length).toArray();
    }
  }

  /** The size of a model file on the classpath. */
  static long modelBytes(String resource) throws java.io.IOException {
    try (java.io.InputStream in =
        ScalingSimulation.class.getClassLoader().getResourceAsStream(resource)) {
      return in == null ? -1 : in.transferTo(java.io.OutputStream.nullOutputStream());
    }
  }

  static String pct(double x) {
    return String.format(Locale.ROOT, "%.2f%%", 100 * x);
  }
}
