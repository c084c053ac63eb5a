package dev.batchinference.transforms.model;

import dev.batchinference.transforms.tensor.TensorSpec;
import java.io.Serializable;
import java.util.Collection;
import java.util.Objects;

/**
 * How a model takes its records, read from its signature before any data: on a dynamic first
 * (batch) dimension, on a first dimension fixed at N, or one record per model call.
 *
 * <ul>
 *   <li>{@code dynamic}: every input and every output has a dynamic first dimension. A record holds
 *       one row of each input (the input's shape without its first dimension), and a batch stacks
 *       rows.
 *   <li>{@code fixed N}: every input and output has the same first dimension N (or, outputs only, a
 *       dynamic one). A record holds one row; runs take exactly N rows, the last partial one padded
 *       with zero rows whose outputs are dropped.
 *   <li>{@code one record per run}: anything else (an input without a first dimension, a scalar,
 *       first dimensions that differ, an output that does not follow the batch). A record holds
 *       each input whole, and runs alone.
 * </ul>
 *
 * <p>Under {@code fixed N}, a record may also hold its inputs whole (with the first dimension of
 * N): such a record runs alone, as under {@code one record per run}.
 */
public final class BatchMode implements Serializable {

  /** The three ways a model takes records. */
  public enum Kind {
    DYNAMIC,
    FIXED,
    ONE_RECORD
  }

  private final Kind kind;
  private final int fixedSize;

  private BatchMode(Kind kind, int fixedSize) {
    this.kind = kind;
    this.fixedSize = fixedSize;
  }

  public static BatchMode dynamic() {
    return new BatchMode(Kind.DYNAMIC, 0);
  }

  public static BatchMode fixed(int n) {
    if (n < 1) {
      throw new IllegalArgumentException("a fixed batch dimension is at least 1, got " + n);
    }
    return new BatchMode(Kind.FIXED, n);
  }

  public static BatchMode oneRecord() {
    return new BatchMode(Kind.ONE_RECORD, 0);
  }

  /** How the model of {@code signature} takes records (see the class description). */
  public static BatchMode of(ModelSignature signature) {
    Collection<TensorSpec> inputs = signature.inputs().values();
    Collection<TensorSpec> outputs = signature.outputs().values();
    if (inputs.isEmpty()) {
      return oneRecord();
    }
    long first = firstDim(inputs.iterator().next());
    for (TensorSpec input : inputs) {
      if (firstDim(input) != first) {
        return oneRecord();
      }
    }
    // 0: no first dimension (a scalar), or a first dimension of 0 that cannot hold rows.
    if (first == 0) {
      return oneRecord();
    }
    for (TensorSpec output : outputs) {
      long out = firstDim(output);
      if (out != -1 && out != first) {
        return oneRecord();
      }
    }
    if (first < 0) {
      return dynamic();
    }
    if (first > Integer.MAX_VALUE) {
      return oneRecord();
    }
    return fixed((int) first);
  }

  /** The first dimension of {@code spec}: -1 when dynamic, 0 when it has none. */
  private static long firstDim(TensorSpec spec) {
    if (spec.rank() == 0) {
      return 0;
    }
    long d = spec.shape()[0];
    return d < 0 ? -1 : d;
  }

  public Kind kind() {
    return kind;
  }

  /** N of {@code fixed N}; 0 otherwise. */
  public int fixedSize() {
    return fixedSize;
  }

  /**
   * The most records a run can take: N for {@code fixed N}, 1 for {@code one record per run}, 0 (no
   * bound of the model's own) for {@code dynamic}.
   */
  public int requiredBatchSize() {
    switch (kind) {
      case FIXED:
        return fixedSize;
      case ONE_RECORD:
        return 1;
      default:
        return 0;
    }
  }

  /** As the run summary says it: {@code dynamic}, {@code fixed N} or {@code one record per run}. */
  @Override
  public String toString() {
    switch (kind) {
      case FIXED:
        return "fixed " + fixedSize;
      case ONE_RECORD:
        return "one record per run";
      default:
        return "dynamic";
    }
  }

  @Override
  public boolean equals(Object o) {
    return o instanceof BatchMode
        && ((BatchMode) o).kind == kind
        && ((BatchMode) o).fixedSize == fixedSize;
  }

  @Override
  public int hashCode() {
    return Objects.hash(kind, fixedSize);
  }
}
