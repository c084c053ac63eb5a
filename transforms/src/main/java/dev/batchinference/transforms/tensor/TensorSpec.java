package dev.batchinference.transforms.tensor;

import java.io.Serializable;
import java.util.Arrays;

/** The declared type and shape of a model input or output; -1 marks a dynamic dimension. */
public final class TensorSpec implements Serializable {

  private final Tensor.DType dtype;
  private final long[] shape;

  private TensorSpec(Tensor.DType dtype, long[] shape) {
    this.dtype = dtype;
    this.shape = shape.clone();
  }

  public static TensorSpec of(Tensor.DType dtype, long... shape) {
    return new TensorSpec(dtype, shape);
  }

  public Tensor.DType dtype() {
    return dtype;
  }

  /** The shape including the batch dimension. */
  public long[] shape() {
    return shape.clone();
  }

  public int rank() {
    return shape.length;
  }

  @Override
  public boolean equals(Object o) {
    return o instanceof TensorSpec
        && dtype == ((TensorSpec) o).dtype
        && Arrays.equals(shape, ((TensorSpec) o).shape);
  }

  @Override
  public int hashCode() {
    return 31 * dtype.hashCode() + Arrays.hashCode(shape);
  }

  @Override
  public String toString() {
    return dtype + Arrays.toString(shape);
  }
}
