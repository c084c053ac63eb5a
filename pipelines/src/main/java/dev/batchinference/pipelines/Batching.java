package dev.batchinference.pipelines;

import dev.batchinference.pipelines.options.BatchInferenceOptions;
import dev.batchinference.pipelines.options.BatchingOptions;
import dev.batchinference.pipelines.options.RunnerKind;
import dev.batchinference.pipelines.options.RunnerParallelism;
import dev.batchinference.transforms.KeyPlacement;
import dev.batchinference.transforms.RunInference;
import java.util.List;
import java.util.Optional;

/**
 * How a job spreads and batches its records, with every default resolved here and only here.
 *
 * @param batchSize the most records in a batch ({@code --batchSize})
 * @param maxBatchWeight the most weight (tokens for texts) in a batch; 0 for no budget
 * @param weightBuckets upper bounds of the weight buckets that batch records of similar weight
 *     together; empty for none
 * @param inferenceShards the keys records are spread over before {@code GroupIntoBatches}, per
 *     weight bucket
 * @param inferenceWorkers the parallel workers the runner runs inference on (its parallelism); 0
 *     when the runner is unknown
 * @param keyPlacement where the runner sends each key, when it is fixed (Flink): the keys are then
 *     chosen to fall on every worker equally
 * @param redistribute whether records are reshuffled after reading ({@code --redistribute}); empty
 *     to decide by the source (see {@link Source#readsInParallel})
 * @param redistributeBuckets the keys of the reshuffle after reading; 0 for Beam's random keys
 * @param maxBufferingSeconds the longest a partial batch waits; 0 for no limit
 */
public record Batching(
    int batchSize,
    long maxBatchWeight,
    List<Long> weightBuckets,
    int inferenceShards,
    int inferenceWorkers,
    Optional<KeyPlacement> keyPlacement,
    Optional<Boolean> redistribute,
    int redistributeBuckets,
    int maxBufferingSeconds) {

  /**
   * Keys per worker where the runner moves keys between workers as it goes (Dataflow's shuffle
   * balances key ranges, not single keys): a few per worker, so that no worker is left with none
   * and the largest share stays close to the mean. Where the runner places keys by a fixed hash
   * (Flink), the keys are chosen to fall on each worker once, and one per worker is enough.
   */
  static final int KEYS_PER_WORKER_UNPLACED = 4;

  public Batching {
    weightBuckets = List.copyOf(weightBuckets);
  }

  /** The batching of {@code options}, for its task and runner. */
  public static Batching from(BatchInferenceOptions options) {
    return from(options, TaskSpec.of(options), RunnerKind.of(options));
  }

  /** The batching for {@code task} on {@code runner}, sized by the runner's parallelism. */
  static Batching from(BatchingOptions options, TaskSpec task, RunnerKind runner) {
    Optional<RunnerParallelism> parallelism = RunnerParallelism.of(runner);
    return from(
        options,
        task,
        runner,
        parallelism.map(p -> p.workers(options)).orElse(0),
        parallelism.flatMap(p -> p.placement(options)));
  }

  static Batching from(
      BatchingOptions options,
      TaskSpec task,
      RunnerKind runner,
      int workers,
      Optional<KeyPlacement> placement) {
    int cores = coresOnDirectRunner(runner);
    long maxBatchWeight =
        options.getMaxBatchWeight() != null
            ? options.getMaxBatchWeight()
            : task.defaultMaxBatchWeight(options.getBatchSize());
    List<Long> buckets = options.getLengthBuckets();
    List<Long> weightBuckets =
        buckets == null
            ? task.defaultWeightBuckets()
            : buckets.equals(List.of(0L)) ? List.of() : buckets;
    return new Batching(
        options.getBatchSize(),
        maxBatchWeight,
        weightBuckets,
        options.getInferenceShards() > 0
            ? options.getInferenceShards()
            : defaultShards(runner, workers, placement),
        workers,
        placement,
        Optional.ofNullable(options.getRedistribute()),
        // On the DirectRunner, which makes a bundle of each key and pays a fixed cost per bundle
        // and step (its evaluators re-translate the step), one per core; elsewhere Beam's random
        // keys.
        options.getRedistributeBuckets() > 0 ? options.getRedistributeBuckets() : cores,
        options.getMaxBufferingSeconds());
  }

  /**
   * Keys per weight bucket: one per worker where the runner places keys by a fixed hash and the
   * keys are chosen to fall on each worker once (Flink); one per core on the DirectRunner, whose
   * threads take whichever key has work and which runs a bundle per key; {@link
   * #KEYS_PER_WORKER_UNPLACED} per worker where the runner moves keys as it goes (Dataflow); and
   * {@link RunInference#DEFAULT_SHARDS} where the runner's parallelism is unknown.
   */
  private static int defaultShards(
      RunnerKind runner, int workers, Optional<KeyPlacement> placement) {
    if (workers <= 0) {
      return RunInference.DEFAULT_SHARDS;
    }
    if (placement.isPresent() || runner == RunnerKind.DIRECT) {
      return workers;
    }
    return workers * KEYS_PER_WORKER_UNPLACED;
  }

  /** The cores of this machine on the DirectRunner (whose threads are all here), else 0. */
  private static int coresOnDirectRunner(RunnerKind runner) {
    return runner == RunnerKind.DIRECT
        ? Math.max(2, Runtime.getRuntime().availableProcessors())
        : 0;
  }

  /**
   * Whether records read from {@code source} are reshuffled before preprocessing: as {@code
   * --redistribute} says, else only when the source does not already read in parallel.
   */
  public boolean redistributes(Source source) {
    return redistribute.orElse(!source.readsInParallel());
  }

  /** This batching with at most {@code size} records per batch (a model that fixes it). */
  public Batching withBatchSize(int size) {
    return new Batching(
        size,
        maxBatchWeight,
        weightBuckets,
        inferenceShards,
        inferenceWorkers,
        keyPlacement,
        redistribute,
        redistributeBuckets,
        maxBufferingSeconds);
  }
}
