package dev.batchinference.transforms;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.io.Serializable;
import org.apache.beam.sdk.coders.AtomicCoder;
import org.apache.beam.sdk.coders.StringUtf8Coder;
import org.apache.beam.sdk.coders.VarLongCoder;
import org.checkerframework.checker.nullness.qual.Nullable;

/**
 * One model run: how many records, their total weight, how long the run took, and which worker ran
 * it. Or, from {@link #memoryBackoff}, the event of a worker lowering its batch size after running
 * out of memory.
 */
public final class BatchStats implements Serializable {

  private final long size;
  private final long weight;
  private final long latencyMicros;
  private final long backoffLimit;
  private final String worker;

  private BatchStats(long size, long weight, long latencyMicros, long backoffLimit, String worker) {
    this.size = size;
    this.weight = weight;
    this.latencyMicros = latencyMicros;
    this.backoffLimit = backoffLimit;
    this.worker = worker;
  }

  /** A model run of {@code size} records by {@code worker} (see {@link Worker#current()}). */
  public static BatchStats of(long size, long weight, long latencyMicros, String worker) {
    return new BatchStats(size, weight, latencyMicros, 0, worker);
  }

  /** A worker ran out of memory and now runs at most {@code newLimit} records per batch. */
  public static BatchStats memoryBackoff(long newLimit, String worker) {
    return new BatchStats(0, 0, 0, newLimit, worker);
  }

  /** The worker thread that ran the batch: its JVM and its thread, or its Flink subtask. */
  public String worker() {
    return worker;
  }

  /** Whether this is a memory back-off event rather than a model run. */
  public boolean isMemoryBackoff() {
    return backoffLimit > 0;
  }

  /** The batch size limit a memory back-off lowered to, or 0 for a model run. */
  public long backoffLimit() {
    return backoffLimit;
  }

  public long size() {
    return size;
  }

  public long weight() {
    return weight;
  }

  public long latencyMicros() {
    return latencyMicros;
  }

  @Override
  public boolean equals(@Nullable Object o) {
    return o instanceof BatchStats
        && size == ((BatchStats) o).size
        && weight == ((BatchStats) o).weight
        && latencyMicros == ((BatchStats) o).latencyMicros
        && backoffLimit == ((BatchStats) o).backoffLimit
        && worker.equals(((BatchStats) o).worker);
  }

  @Override
  public int hashCode() {
    return Long.hashCode(size * 31 + weight);
  }

  @Override
  public String toString() {
    return "BatchStats{size="
        + size
        + ", weight="
        + weight
        + ", latencyMicros="
        + latencyMicros
        + (backoffLimit > 0 ? ", memoryBackoffTo=" + backoffLimit : "")
        + ", worker="
        + worker
        + "}";
  }

  /** Coder for {@link BatchStats}. */
  public static final class Coder extends AtomicCoder<BatchStats> {
    private static final Coder INSTANCE = new Coder();

    public static Coder of() {
      return INSTANCE;
    }

    private Coder() {}

    @Override
    public void encode(BatchStats value, OutputStream out) throws IOException {
      VarLongCoder.of().encode(value.size, out);
      VarLongCoder.of().encode(value.weight, out);
      VarLongCoder.of().encode(value.latencyMicros, out);
      VarLongCoder.of().encode(value.backoffLimit, out);
      StringUtf8Coder.of().encode(value.worker, out);
    }

    @Override
    public BatchStats decode(InputStream in) throws IOException {
      return new BatchStats(
          VarLongCoder.of().decode(in),
          VarLongCoder.of().decode(in),
          VarLongCoder.of().decode(in),
          VarLongCoder.of().decode(in),
          StringUtf8Coder.of().decode(in));
    }

    @Override
    public void verifyDeterministic() {}
  }
}
