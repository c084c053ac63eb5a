package dev.batchinference.transforms.tensor;

import static org.apache.beam.vendor.guava.v32_1_2_jre.com.google.common.base.Preconditions.checkArgument;

import java.io.Serializable;
import java.util.Arrays;

/**
 * One example's dense tensor: an element type, a shape (without the batch dimension) and its values
 * in row-major order, held in a primitive array of the element type.
 */
public final class Tensor implements Serializable {

  /** Element types that examples and outputs can carry. */
  public enum DType {
    FLOAT,
    DOUBLE,
    INT32,
    INT64
  }

  private final DType dtype;
  private final long[] shape;
  private final Object data;

  private Tensor(DType dtype, long[] shape, Object data) {
    long expected = elementCount(shape);
    checkArgument(
        expected == java.lang.reflect.Array.getLength(data),
        "Tensor of shape %s needs %s values, got %s",
        Arrays.toString(shape),
        expected,
        java.lang.reflect.Array.getLength(data));
    this.dtype = dtype;
    this.shape = shape;
    this.data = data;
  }

  public static Tensor ofFloats(float[] values, long... shape) {
    return new Tensor(DType.FLOAT, shape, values);
  }

  public static Tensor ofDoubles(double[] values, long... shape) {
    return new Tensor(DType.DOUBLE, shape, values);
  }

  public static Tensor ofInts(int[] values, long... shape) {
    return new Tensor(DType.INT32, shape, values);
  }

  public static Tensor ofLongs(long[] values, long... shape) {
    return new Tensor(DType.INT64, shape, values);
  }

  /** A rank-1 tensor over {@code values}. */
  public static Tensor vector(float[] values) {
    return ofFloats(values, values.length);
  }

  /** A rank-1 tensor over {@code values}. */
  public static Tensor vector(long[] values) {
    return ofLongs(values, values.length);
  }

  /** Wraps a primitive array of one of the supported types. */
  public static Tensor of(DType dtype, Object values, long... shape) {
    return new Tensor(dtype, shape, values);
  }

  public DType dtype() {
    return dtype;
  }

  public long[] shape() {
    return shape.clone();
  }

  public int rank() {
    return shape.length;
  }

  public long dim(int i) {
    return shape[i];
  }

  public int size() {
    return java.lang.reflect.Array.getLength(data);
  }

  /**
   * The backing primitive array ({@code float[]}, {@code double[]}, {@code int[]} or {@code
   * long[]}); not copied.
   */
  public Object data() {
    return data;
  }

  public float[] floats() {
    checkArgument(dtype == DType.FLOAT, "tensor is %s, not FLOAT", dtype);
    return (float[]) data;
  }

  public long[] longs() {
    checkArgument(dtype == DType.INT64, "tensor is %s, not INT64", dtype);
    return (long[]) data;
  }

  /** Values as doubles, whatever the element type. */
  public double getAsDouble(int flatIndex) {
    switch (dtype) {
      case FLOAT:
        return ((float[]) data)[flatIndex];
      case DOUBLE:
        return ((double[]) data)[flatIndex];
      case INT32:
        return ((int[]) data)[flatIndex];
      case INT64:
        return ((long[]) data)[flatIndex];
      default:
        throw new IllegalStateException("unknown dtype " + dtype);
    }
  }

  public static long elementCount(long[] shape) {
    long n = 1;
    for (long d : shape) {
      checkArgument(d >= 0, "negative dimension in shape %s", Arrays.toString(shape));
      n = Math.multiplyExact(n, d);
    }
    return n;
  }

  @Override
  public boolean equals(Object o) {
    if (!(o instanceof Tensor)) {
      return false;
    }
    Tensor t = (Tensor) o;
    if (dtype != t.dtype || !Arrays.equals(shape, t.shape)) {
      return false;
    }
    switch (dtype) {
      case FLOAT:
        return Arrays.equals((float[]) data, (float[]) t.data);
      case DOUBLE:
        return Arrays.equals((double[]) data, (double[]) t.data);
      case INT32:
        return Arrays.equals((int[]) data, (int[]) t.data);
      default:
        return Arrays.equals((long[]) data, (long[]) t.data);
    }
  }

  @Override
  public int hashCode() {
    return 31 * dtype.hashCode() + Arrays.hashCode(shape);
  }

  @Override
  public String toString() {
    return "Tensor{" + dtype + " " + Arrays.toString(shape) + "}";
  }
}
