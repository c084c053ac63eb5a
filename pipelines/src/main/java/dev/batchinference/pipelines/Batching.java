package dev.batchinference.pipelines;

import dev.batchinference.pipelines.options.BatchInferenceOptions;
import dev.batchinference.pipelines.options.BatchingOptions;
import dev.batchinference.pipelines.options.RunnerKind;
import dev.batchinference.transforms.RunInference;
import java.util.List;

/**
 * How a job spreads and batches its records, with every default resolved here and only here.
 *
 * @param batchSize the most records in a batch ({@code --batchSize})
 * @param maxBatchWeight the most weight (tokens for texts) in a batch; 0 for no budget
 * @param weightBuckets upper bounds of the weight buckets that batch records of similar weight
 *     together; empty for none
 * @param inferenceShards the keys records are spread over before {@code GroupIntoBatches}
 * @param redistributeBuckets the keys of the reshuffle after reading; 0 for Beam's random keys
 * @param maxBufferingSeconds the longest a partial batch waits; 0 for no limit
 */
public record Batching(
    int batchSize,
    long maxBatchWeight,
    List<Long> weightBuckets,
    int inferenceShards,
    int redistributeBuckets,
    int maxBufferingSeconds) {

  public Batching {
    weightBuckets = List.copyOf(weightBuckets);
  }

  /** The batching of {@code options}, for its task and runner. */
  public static Batching from(BatchInferenceOptions options) {
    return from(options, TaskSpec.of(options), RunnerKind.of(options));
  }

  static Batching from(BatchingOptions options, TaskSpec task, RunnerKind runner) {
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
        // One key per core on the DirectRunner, which runs a bundle per key.
        options.getInferenceShards() > 0
            ? options.getInferenceShards()
            : cores > 0 ? cores : RunInference.DEFAULT_SHARDS,
        // On the DirectRunner, which makes a bundle of each key and pays a fixed cost per bundle
        // and step (its evaluators re-translate the step), one per core; elsewhere Beam's random
        // keys.
        options.getRedistributeBuckets() > 0 ? options.getRedistributeBuckets() : cores,
        options.getMaxBufferingSeconds());
  }

  /** The cores of this machine on the DirectRunner (whose threads are all here), else 0. */
  private static int coresOnDirectRunner(RunnerKind runner) {
    return runner == RunnerKind.DIRECT
        ? Math.max(2, Runtime.getRuntime().availableProcessors())
        : 0;
  }

  /** This batching with at most {@code size} records per batch (a model that fixes it). */
  public Batching withBatchSize(int size) {
    return new Batching(
        size,
        maxBatchWeight,
        weightBuckets,
        inferenceShards,
        redistributeBuckets,
        maxBufferingSeconds);
  }
}
