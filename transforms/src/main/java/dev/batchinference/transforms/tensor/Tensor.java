package dev.batchinference.transforms.tensor;

import static org.apache.beam.vendor.guava.v32_1_2_jre.com.google.common.base.Preconditions.checkArgument;

import ai.onnxruntime.platform.Fp16Conversions;
import java.io.Serializable;
import java.util.Arrays;

/**
 * One example's dense tensor: an element type, a shape (without the batch dimension, or the whole
 * tensor for a model input that has none) and its values in row-major order, held in an array of
 * the element type's Java carrier: {@code float[]}, {@code double[]}, {@code int[]}, {@code
 * long[]}; {@code byte[]} for int8, uint8 (read unsigned) and bool (0 or 1); {@code short[]} for
 * int16 and for the bits of float16 and bfloat16; {@code String[]} for strings.
 */
public final class Tensor implements Serializable {

  /**
   * Element types that examples and outputs can carry: every tensor type ONNX Runtime's Java API
   * takes. New types go at the end, since coders write the ordinal.
   */
  public enum DType {
    FLOAT("float", 4),
    DOUBLE("double", 8),
    INT32("int32", 4),
    INT64("int64", 8),
    INT8("int8", 1),
    INT16("int16", 2),
    UINT8("uint8", 1),
    BOOL("bool", 1),
    FLOAT16("float16", 2),
    BFLOAT16("bfloat16", 2),
    STRING("string", 0);

    private final String onnxName;
    private final int width;

    DType(String onnxName, int width) {
      this.onnxName = onnxName;
      this.width = width;
    }

    /** The type's name in ONNX ({@code float16}, {@code uint8}, ...). */
    public String onnxName() {
      return onnxName;
    }

    /** Bytes per element in a dense buffer; 0 for strings, which have no fixed width. */
    public int width() {
      return width;
    }

    /** The Java array type that holds values of this type. */
    public Class<?> carrier() {
      switch (this) {
        case FLOAT:
          return float[].class;
        case DOUBLE:
          return double[].class;
        case INT32:
          return int[].class;
        case INT64:
          return long[].class;
        case INT8:
        case UINT8:
        case BOOL:
          return byte[].class;
        case INT16:
        case FLOAT16:
        case BFLOAT16:
          return short[].class;
        default:
          return String[].class;
      }
    }

    /** A zeroed array of {@code n} values of this type (empty strings for strings). */
    public Object newArray(int n) {
      if (this == STRING) {
        String[] strings = new String[n];
        Arrays.fill(strings, "");
        return strings;
      }
      return java.lang.reflect.Array.newInstance(carrier().getComponentType(), n);
    }
  }

  private final DType dtype;
  private final long[] shape;
  private final Object data;

  private Tensor(DType dtype, long[] shape, Object data) {
    checkArgument(
        dtype.carrier().isInstance(data),
        "a %s tensor is held in a %s, got %s",
        dtype,
        dtype.carrier().getSimpleName(),
        data.getClass().getSimpleName());
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

  public static Tensor ofStrings(String[] values, long... shape) {
    return new Tensor(DType.STRING, shape, values);
  }

  /** A rank-1 tensor over {@code values}. */
  public static Tensor vector(float[] values) {
    return ofFloats(values, values.length);
  }

  /** A rank-1 tensor over {@code values}. */
  public static Tensor vector(long[] values) {
    return ofLongs(values, values.length);
  }

  /** Wraps an array of {@code dtype}'s carrier ({@link DType#carrier()}); not copied. */
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

  /** The backing array, of the element type's carrier ({@link DType#carrier()}); not copied. */
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

  /**
   * A value as a double, whatever the numeric element type (bool as 0 or 1; int64 beyond 2^53
   * rounded: {@link #getAsLong} is exact). Strings have no numeric value.
   */
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
      case INT8:
      case BOOL:
        return ((byte[]) data)[flatIndex];
      case UINT8:
        return Byte.toUnsignedInt(((byte[]) data)[flatIndex]);
      case INT16:
        return ((short[]) data)[flatIndex];
      case FLOAT16:
        return Fp16Conversions.fp16ToFloat(((short[]) data)[flatIndex]);
      case BFLOAT16:
        return Fp16Conversions.bf16ToFloat(((short[]) data)[flatIndex]);
      default:
        throw new IllegalArgumentException("a " + dtype + " tensor has no numeric values");
    }
  }

  /** An integer value exactly (int64 included); for integer and bool tensors only. */
  public long getAsLong(int flatIndex) {
    switch (dtype) {
      case INT64:
        return ((long[]) data)[flatIndex];
      case INT32:
        return ((int[]) data)[flatIndex];
      case INT8:
      case BOOL:
        return ((byte[]) data)[flatIndex];
      case UINT8:
        return Byte.toUnsignedInt(((byte[]) data)[flatIndex]);
      case INT16:
        return ((short[]) data)[flatIndex];
      default:
        throw new IllegalArgumentException("a " + dtype + " tensor has no integer values");
    }
  }

  /** Whether the element type is an integer type (bool included). */
  public static boolean isIntegral(DType dtype) {
    switch (dtype) {
      case INT8:
      case INT16:
      case INT32:
      case INT64:
      case UINT8:
      case BOOL:
        return true;
      default:
        return false;
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
    return dtype == t.dtype
        && Arrays.equals(shape, t.shape)
        && java.util.Objects.deepEquals(data, t.data);
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
