package dev.batchinference.transforms.stats;

import dev.batchinference.transforms.BatchStats;
import dev.batchinference.transforms.Failure;
import dev.batchinference.transforms.Prediction;
import dev.batchinference.transforms.io.UnreadableFile;
import java.io.Serializable;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.SortedMap;
import java.util.TreeMap;
import org.apache.beam.sdk.coders.Coder;
import org.apache.beam.sdk.coders.CoderRegistry;
import org.apache.beam.sdk.coders.SerializableCoder;
import org.apache.beam.sdk.transforms.Combine;
import org.apache.beam.sdk.transforms.SerializableBiConsumer;

/**
 * What a run did, accumulated from its collections: records read, predictions, failures by stage
 * and error class, model runs (size and latency), and the distribution of the predictions (class
 * counts, score moments and a histogram of top scores, embedding-norm moments and the embeddings'
 * centroid), and a few example failures per error. Mergeable, so each collection is folded by its
 * own {@link Combine} and the partial results are merged into one.
 */
public final class RunStats implements Serializable {

  long read;
  long predicted;
  long skipped;
  long written;
  boolean writtenCounted;
  long collapsed;
  final TreeMap<String, Long> failedByStage = new TreeMap<>();
  final TreeMap<String, Long> failedByError = new TreeMap<>();
  long batches;
  long batchWeight;
  long memoryBackoffs;
  long lowestBackoffLimit;
  final TreeMap<Long, Long> batchSizes = new TreeMap<>();

  /** Per worker thread that ran batches: {records, batches}. */
  final TreeMap<String, long[]> workers = new TreeMap<>();

  final ArrayList<Long> batchLatenciesMicros = new ArrayList<>();
  final TreeMap<String, Long> classCounts = new TreeMap<>();
  final Moments scores = new Moments();
  final Moments embeddingNorms = new Moments();
  final ScoreHistogram topScores = new ScoreHistogram();
  final EmbeddingCentroid embeddingCentroid = new EmbeddingCentroid();
  final FailureExamples failureExamples = new FailureExamples();
  final TreeMap<String, UnreadableFile> unreadableFiles = new TreeMap<>();

  public RunStats merge(RunStats other) {
    unreadableFiles.putAll(other.unreadableFiles);
    read += other.read;
    predicted += other.predicted;
    skipped += other.skipped;
    written += other.written;
    writtenCounted |= other.writtenCounted;
    collapsed += other.collapsed;
    other.failedByStage.forEach((k, v) -> failedByStage.merge(k, v, Long::sum));
    other.failedByError.forEach((k, v) -> failedByError.merge(k, v, Long::sum));
    batches += other.batches;
    batchWeight += other.batchWeight;
    memoryBackoffs += other.memoryBackoffs;
    if (other.lowestBackoffLimit > 0
        && (lowestBackoffLimit == 0 || other.lowestBackoffLimit < lowestBackoffLimit)) {
      lowestBackoffLimit = other.lowestBackoffLimit;
    }
    other.batchSizes.forEach((k, v) -> batchSizes.merge(k, v, Long::sum));
    other.workers.forEach(
        (k, v) -> workers.merge(k, v.clone(), (a, b) -> new long[] {a[0] + b[0], a[1] + b[1]}));
    batchLatenciesMicros.addAll(other.batchLatenciesMicros);
    other.classCounts.forEach((k, v) -> classCounts.merge(k, v, Long::sum));
    scores.merge(other.scores);
    embeddingNorms.merge(other.embeddingNorms);
    topScores.merge(other.topScores);
    embeddingCentroid.merge(other.embeddingCentroid);
    failureExamples.merge(other.failureExamples);
    return this;
  }

  @Override
  public boolean equals(Object o) {
    if (!(o instanceof RunStats)) {
      return false;
    }
    RunStats r = (RunStats) o;
    return read == r.read
        && predicted == r.predicted
        && failedByStage.equals(r.failedByStage)
        && failedByError.equals(r.failedByError)
        && batches == r.batches
        && batchWeight == r.batchWeight
        && batchSizes.equals(r.batchSizes)
        && workerCounts().equals(r.workerCounts())
        && batchLatenciesMicros.equals(r.batchLatenciesMicros)
        && classCounts.equals(r.classCounts)
        && scores.equals(r.scores)
        && embeddingNorms.equals(r.embeddingNorms)
        && topScores.equals(r.topScores)
        && embeddingCentroid.equals(r.embeddingCentroid)
        && failureExamples.equals(r.failureExamples)
        && skipped == r.skipped
        && written == r.written
        && writtenCounted == r.writtenCounted
        && collapsed == r.collapsed
        && memoryBackoffs == r.memoryBackoffs
        && lowestBackoffLimit == r.lowestBackoffLimit
        && unreadableFiles.equals(r.unreadableFiles);
  }

  @Override
  public int hashCode() {
    return java.util.Objects.hash(read, predicted, batches, failedByStage);
  }

  /** Counts the records read: records, and read failures (each was a record that was read). */
  public static <RecordT> Combine.CombineFn<RecordT, RunStats, RunStats> countingReads() {
    return combine((stats, record) -> stats.read++);
  }

  /** Sums counts of records read, as a reader reports them (one count per file or range). */
  public static Combine.CombineFn<Long, RunStats, RunStats> summingReads() {
    return combine((stats, count) -> stats.read += count);
  }

  /** Counts records skipped because a previous run already predicted them unchanged. */
  public static <RecordT> Combine.CombineFn<RecordT, RunStats, RunStats> countingSkipped() {
    return combine((stats, record) -> stats.skipped++);
  }

  /**
   * Sums counts of the predictions the sink accepted (records in its finalized files, rows a table
   * took), carried-forward predictions included. Once these are counted, the summary's predictions
   * are these minus the carried-forward ones, not the predictions the model made.
   */
  public static Combine.CombineFn<Long, RunStats, RunStats> countingWritten() {
    return combine(
        (stats, count) -> {
          stats.written += count;
          stats.writtenCounted = true;
        },
        stats -> stats.writtenCounted = true);
  }

  /** Sums counts of prediction rows a keyed sink merged into another row of the same key. */
  public static Combine.CombineFn<Long, RunStats, RunStats> countingCollapsed() {
    return combine((stats, count) -> stats.collapsed += count);
  }

  /** Counts predictions, their classes, scores and embedding norms. */
  public static Combine.CombineFn<Prediction, RunStats, RunStats> ofPredictions() {
    return combine(RunStats::addPrediction);
  }

  /** Counts failures by stage and by error class. */
  public static Combine.CombineFn<Failure, RunStats, RunStats> ofFailures() {
    return combine(RunStats::addFailure);
  }

  /**
   * Takes back predictions that a sink refused (they are failures of stage {@code write} now, and
   * are counted by {@link #ofFailures()} too), so that records read = predictions + failures still
   * holds.
   */
  public static Combine.CombineFn<Failure, RunStats, RunStats> ofUnwrittenPredictions() {
    return combine((stats, failure) -> stats.predicted--);
  }

  /** Lists the files that could not be read to their end, by file. */
  public static Combine.CombineFn<UnreadableFile, RunStats, RunStats> ofUnreadableFiles() {
    return combine((stats, file) -> stats.unreadableFiles.put(file.file(), file));
  }

  /** Counts model runs, their sizes, weights and latencies. */
  public static Combine.CombineFn<BatchStats, RunStats, RunStats> ofBatches() {
    return combine(RunStats::addBatch);
  }

  private static void addFailure(RunStats stats, Failure failure) {
    String error = failure.stage().label() + ": " + failure.errorClass();
    stats.failedByStage.merge(failure.stage().label(), 1L, Long::sum);
    stats.failedByError.merge(error, 1L, Long::sum);
    stats.failureExamples.add(error, failure);
  }

  private static void addBatch(RunStats stats, BatchStats batch) {
    if (batch.isMemoryBackoff()) {
      stats.memoryBackoffs++;
      if (stats.lowestBackoffLimit == 0 || batch.backoffLimit() < stats.lowestBackoffLimit) {
        stats.lowestBackoffLimit = batch.backoffLimit();
      }
      return;
    }
    stats.batches++;
    stats.batchWeight += batch.weight();
    stats.batchSizes.merge(batch.size(), 1L, Long::sum);
    stats.batchLatenciesMicros.add(batch.latencyMicros());
    long[] worker = stats.workers.computeIfAbsent(batch.worker(), w -> new long[2]);
    worker[0] += batch.size();
    worker[1]++;
  }

  private static void addPrediction(RunStats stats, Prediction prediction) {
    stats.predicted++;
    if (prediction.label() != null) {
      stats.classCounts.merge(prediction.label(), 1L, Long::sum);
      stats.scores.add(prediction.score());
      stats.topScores.add(prediction.score());
    }
    float[] embedding = prediction.embedding();
    if (embedding != null) {
      double norm = 0;
      for (float v : embedding) {
        norm += v * v;
      }
      stats.embeddingNorms.add(Math.sqrt(norm));
      stats.embeddingCentroid.add(embedding);
    }
  }

  public long read() {
    return read;
  }

  /**
   * Records an incremental run skipped: predicted unchanged by the same model, under the same
   * settings, before; their previous predictions are carried forward.
   */
  public long skipped() {
    return skipped;
  }

  /** The same as {@link #skipped()}: each skipped record's previous prediction is written again. */
  public long carriedForward() {
    return skipped;
  }

  /**
   * Predictions of this run: as the sink accepted them (without the carried-forward ones and the
   * rows an upsert collapsed) when {@link #countingWritten} counted them, else as the model made
   * them, less those the sink refused.
   */
  public long predicted() {
    return writtenCounted ? written - skipped : predicted;
  }

  /** Predictions the model made, less those the sink refused; the sink may hold fewer. */
  public long predictedByModel() {
    return predicted;
  }

  /** Whether the sink's own counts were taken ({@link #countingWritten}). */
  public boolean writtenCounted() {
    return writtenCounted;
  }

  /** Records the sink holds: new and carried-forward predictions, as counted from it. */
  public long written() {
    return written;
  }

  /** Prediction rows the PostgreSQL upsert merged with another of the same id. */
  public long collapsed() {
    return collapsed;
  }

  public long failed() {
    return failedByStage.values().stream().mapToLong(Long::longValue).sum();
  }

  public SortedMap<String, Long> failedByStage() {
    return Collections.unmodifiableSortedMap(failedByStage);
  }

  public SortedMap<String, Long> failedByError() {
    return Collections.unmodifiableSortedMap(failedByError);
  }

  public long batches() {
    return batches;
  }

  /**
   * The worker threads that ran batches (see {@link dev.batchinference.transforms.Worker}), each
   * with the records and the batches it ran, as {@code [records, batches]}.
   */
  public SortedMap<String, List<Long>> workerCounts() {
    TreeMap<String, List<Long>> counts = new TreeMap<>();
    workers.forEach((w, c) -> counts.put(w, List.of(c[0], c[1])));
    return counts;
  }

  /** How many times a worker lowered its batch size after running out of memory. */
  public long memoryBackoffs() {
    return memoryBackoffs;
  }

  /** The lowest batch size limit a memory back-off set, or 0 when none happened. */
  public long lowestBackoffLimit() {
    return lowestBackoffLimit;
  }

  public long batchWeight() {
    return batchWeight;
  }

  public SortedMap<Long, Long> batchSizes() {
    return Collections.unmodifiableSortedMap(batchSizes);
  }

  /**
   * The {@code q}-quantile (0..1) of model-run latency in microseconds, nearest rank; -1 if none.
   */
  public long latencyQuantileMicros(double q) {
    if (batchLatenciesMicros.isEmpty()) {
      return -1;
    }
    List<Long> sorted = new ArrayList<>(batchLatenciesMicros);
    Collections.sort(sorted);
    int rank = (int) Math.ceil(q * sorted.size());
    return sorted.get(Math.max(0, Math.min(sorted.size() - 1, rank - 1)));
  }

  public long totalLatencyMicros() {
    return batchLatenciesMicros.stream().mapToLong(Long::longValue).sum();
  }

  public SortedMap<String, Long> classCounts() {
    return Collections.unmodifiableSortedMap(classCounts);
  }

  public Moments scores() {
    return scores;
  }

  public Moments embeddingNorms() {
    return embeddingNorms;
  }

  /** Top scores (the best class's) in fixed bins over [0, 1], for quantiles and drift. */
  public ScoreHistogram topScores() {
    return topScores;
  }

  /** The sum of the embeddings, for their centroid. */
  public EmbeddingCentroid embeddingCentroid() {
    return embeddingCentroid;
  }

  /** The files that could not be read to their end, by file. */
  public SortedMap<String, UnreadableFile> unreadableFiles() {
    return Collections.unmodifiableSortedMap(unreadableFiles);
  }

  /** The first few failures of each error, by source and index. */
  public FailureExamples failureExamples() {
    return failureExamples;
  }

  /**
   * Model-run latencies in {@code bins} bins of equal width from 0 to the slowest run, as counts;
   * {@code [0]} is the bin width in microseconds, {@code [1..bins]} the counts. Empty when none.
   */
  public long[] latencyHistogramMicros(int bins) {
    if (batchLatenciesMicros.isEmpty()) {
      return new long[0];
    }
    long max = Collections.max(batchLatenciesMicros);
    long width = Math.max(1, (max + bins) / bins);
    long[] out = new long[bins + 1];
    out[0] = width;
    for (long latency : batchLatenciesMicros) {
      out[1 + (int) Math.min(bins - 1, latency / width)]++;
    }
    return out;
  }

  /**
   * Folds a collection of {@code InputT} into one {@link RunStats} with {@code add}. Each use site
   * passes its own lambda: javac shares one serialized form between identical method references in
   * a class, which would mix up their element types.
   */
  private static <InputT> Combine.CombineFn<InputT, RunStats, RunStats> combine(
      SerializableBiConsumer<RunStats, InputT> add) {
    return combine(add, stats -> {});
  }

  /**
   * As {@link #combine(SerializableBiConsumer)}, each accumulator set up by {@code init} first (so
   * that an empty input still says what was counted).
   */
  private static <InputT> Combine.CombineFn<InputT, RunStats, RunStats> combine(
      SerializableBiConsumer<RunStats, InputT> add, SerializableConsumer<RunStats> init) {
    return new Combine.CombineFn<InputT, RunStats, RunStats>() {
      @Override
      public RunStats createAccumulator() {
        RunStats stats = new RunStats();
        init.accept(stats);
        return stats;
      }

      @Override
      public RunStats addInput(RunStats accumulator, InputT input) {
        add.accept(accumulator, input);
        return accumulator;
      }

      @Override
      public RunStats mergeAccumulators(Iterable<RunStats> accumulators) {
        RunStats merged = createAccumulator();
        for (RunStats a : accumulators) {
          merged.merge(a);
        }
        return merged;
      }

      @Override
      public RunStats extractOutput(RunStats accumulator) {
        return accumulator;
      }

      @Override
      public Coder<RunStats> getAccumulatorCoder(CoderRegistry registry, Coder<InputT> inputCoder) {
        return SerializableCoder.of(RunStats.class);
      }

      @Override
      public Coder<RunStats> getDefaultOutputCoder(
          CoderRegistry registry, Coder<InputT> inputCoder) {
        return SerializableCoder.of(RunStats.class);
      }
    };
  }

  /** A {@link java.util.function.Consumer} that Beam can serialize with its combine function. */
  private interface SerializableConsumer<T> extends java.util.function.Consumer<T>, Serializable {}

  /** Merges partial {@link RunStats} into one. */
  public static Combine.CombineFn<RunStats, RunStats, RunStats> merging() {
    return combine((acc, partial) -> acc.merge(partial));
  }
}
