package dev.batchinference.transforms.onnx;

import ai.onnxruntime.OnnxJavaType;
import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OnnxValue;
import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtException;
import ai.onnxruntime.OrtSession;
import ai.onnxruntime.TensorInfo;
import dev.batchinference.transforms.tensor.Tensor;
import dev.batchinference.transforms.tensor.TensorExample;
import dev.batchinference.transforms.tensor.TensorSpec;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.DoubleBuffer;
import java.nio.FloatBuffer;
import java.nio.IntBuffer;
import java.nio.LongBuffer;
import java.nio.ShortBuffer;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Turns a batch of {@link TensorExample}s into the input tensors of one model run, and the run's
 * outputs back into one {@link TensorExample} per example.
 *
 * <p>Stacking puts every example's tensor of an input along a new first dimension; dimensions that
 * differ between examples (sequence length) are padded with zeros to the batch's largest, but only
 * where the model declares them dynamic. The input tensors are views of this thread's reusable
 * {@link InputBuffers}, so they are valid until the same thread stacks the next batch.
 */
final class BatchStacker {

  private final OrtEnvironment env;
  private final InputBuffers buffers = new InputBuffers();

  BatchStacker(OrtEnvironment env) {
    this.env = env;
  }

  /** Stacks one input of every example into a batch tensor, zero-padding ragged dimensions. */
  OnnxTensor stack(String name, TensorSpec spec, List<TensorExample> batch) throws OrtException {
    return stack(name, spec, batch, batch.size());
  }

  /**
   * Stacks one input of every example into a batch tensor of {@code rows} rows: rows past the
   * batch's examples are zeros (the padding of a model whose batch dimension is fixed).
   */
  OnnxTensor stack(String name, TensorSpec spec, List<TensorExample> batch, int rows)
      throws OrtException {
    Tensor first = batch.get(0).get(name);
    long[] padded = first.shape();
    boolean ragged = rows > batch.size();
    for (TensorExample example : batch) {
      Tensor t = example.get(name);
      ragged |= !Arrays.equals(t.shape(), padded);
      if (t.dtype() != spec.dtype()) {
        throw new IllegalArgumentException(
            "Model input '" + name + "' takes " + spec.dtype() + ", the example has " + t.dtype());
      }
      if (t.rank() + 1 != spec.rank()) {
        throw new IllegalArgumentException(
            "Model input '"
                + name
                + "' has shape "
                + Arrays.toString(spec.shape())
                + " (with the batch dimension); the example's shape is "
                + Arrays.toString(t.shape()));
      }
      long[] declared = spec.shape();
      for (int d = 0; d < padded.length; d++) {
        // Only dynamic dimensions are padded; zero-padding a fixed one would run a wrong input.
        if (declared[d + 1] > 0 && t.dim(d) != declared[d + 1]) {
          throw new IllegalArgumentException(
              "Model input '"
                  + name
                  + "' has shape "
                  + Arrays.toString(declared)
                  + " (with the batch dimension); the example's shape is "
                  + Arrays.toString(t.shape()));
        }
        padded[d] = Math.max(padded[d], t.dim(d));
      }
    }
    long[] batchShape = new long[padded.length + 1];
    batchShape[0] = rows;
    System.arraycopy(padded, 0, batchShape, 1, padded.length);
    int perExample = Math.toIntExact(Tensor.elementCount(padded));
    int total = Math.multiplyExact(perExample, rows);
    Tensor.DType dtype = spec.dtype();
    if (dtype == Tensor.DType.STRING) {
      String[] out = (String[]) dtype.newArray(total);
      for (int i = 0; i < batch.size(); i++) {
        Tensor t = batch.get(i).get(name);
        String[] src = (String[]) t.data();
        copyRows(
            t.shape(),
            padded,
            i * perExample,
            (from, to, len) -> System.arraycopy(src, from, out, to, len));
      }
      return OnnxTensor.createTensor(env, out, batchShape);
    }
    ByteBuffer buffer = buffers.get(name, Math.multiplyExact(total, dtype.width()), ragged);
    for (int i = 0; i < batch.size(); i++) {
      Tensor t = batch.get(i).get(name);
      copyRows(t.shape(), padded, i * perExample, copier(buffer, t));
    }
    return create(buffer, dtype, batchShape);
  }

  /**
   * One example's input as a whole tensor, its shape as it is (a model input without a batch
   * dimension: the record holds it whole).
   */
  OnnxTensor whole(String name, TensorSpec spec, TensorExample example) throws OrtException {
    Tensor t = example.get(name);
    if (t.dtype() != spec.dtype()) {
      throw new IllegalArgumentException(
          "Model input '" + name + "' takes " + spec.dtype() + ", the example has " + t.dtype());
    }
    long[] declared = spec.shape();
    boolean fits = t.rank() == declared.length;
    for (int d = 0; fits && d < declared.length; d++) {
      fits = declared[d] < 0 || declared[d] == t.dim(d);
    }
    if (!fits) {
      throw new IllegalArgumentException(
          "Model input '"
              + name
              + "' has shape "
              + Arrays.toString(declared)
              + "; the example's shape is "
              + Arrays.toString(t.shape()));
    }
    if (t.dtype() == Tensor.DType.STRING) {
      return OnnxTensor.createTensor(env, (String[]) t.data(), t.shape());
    }
    ByteBuffer buffer = buffers.get(name, Math.multiplyExact(t.size(), t.dtype().width()), false);
    copier(buffer, t).copy(0, 0, t.size());
    return create(buffer, t.dtype(), t.shape());
  }

  /** Copies runs of {@code t}'s values into {@code buffer}, indexed in elements. */
  private static RowCopy copier(ByteBuffer buffer, Tensor t) {
    switch (t.dtype()) {
      case FLOAT:
        {
          FloatBuffer out = buffer.asFloatBuffer();
          float[] src = (float[]) t.data();
          return (from, to, len) -> out.put(to, src, from, len);
        }
      case DOUBLE:
        {
          DoubleBuffer out = buffer.asDoubleBuffer();
          double[] src = (double[]) t.data();
          return (from, to, len) -> out.put(to, src, from, len);
        }
      case INT32:
        {
          IntBuffer out = buffer.asIntBuffer();
          int[] src = (int[]) t.data();
          return (from, to, len) -> out.put(to, src, from, len);
        }
      case INT64:
        {
          LongBuffer out = buffer.asLongBuffer();
          long[] src = (long[]) t.data();
          return (from, to, len) -> out.put(to, src, from, len);
        }
      case INT16:
      case FLOAT16:
      case BFLOAT16:
        {
          ShortBuffer out = buffer.asShortBuffer();
          short[] src = (short[]) t.data();
          return (from, to, len) -> out.put(to, src, from, len);
        }
      case INT8:
      case UINT8:
      case BOOL:
        {
          byte[] src = (byte[]) t.data();
          return (from, to, len) -> buffer.put(to, src, from, len);
        }
      default:
        throw new IllegalArgumentException("no dense buffer for " + t.dtype());
    }
  }

  /** A tensor over {@code buffer} (a direct buffer, read in place) of the given type and shape. */
  private OnnxTensor create(ByteBuffer buffer, Tensor.DType dtype, long[] shape)
      throws OrtException {
    switch (dtype) {
      case FLOAT:
        return OnnxTensor.createTensor(env, buffer.asFloatBuffer(), shape);
      case DOUBLE:
        return OnnxTensor.createTensor(env, buffer.asDoubleBuffer(), shape);
      case INT32:
        return OnnxTensor.createTensor(env, buffer.asIntBuffer(), shape);
      case INT64:
        return OnnxTensor.createTensor(env, buffer.asLongBuffer(), shape);
      case INT16:
        return OnnxTensor.createTensor(env, buffer.asShortBuffer(), shape, OnnxJavaType.INT16);
      case FLOAT16:
        return OnnxTensor.createTensor(env, buffer.asShortBuffer(), shape, OnnxJavaType.FLOAT16);
      case BFLOAT16:
        return OnnxTensor.createTensor(env, buffer.asShortBuffer(), shape, OnnxJavaType.BFLOAT16);
      case INT8:
        return OnnxTensor.createTensor(env, buffer, shape, OnnxJavaType.INT8);
      case UINT8:
        return OnnxTensor.createTensor(env, buffer, shape, OnnxJavaType.UINT8);
      case BOOL:
        return OnnxTensor.createTensor(env, buffer, shape, OnnxJavaType.BOOL);
      default:
        throw new IllegalArgumentException("no dense buffer for " + dtype);
    }
  }

  @FunctionalInterface
  interface RowCopy {
    void copy(int fromIndex, int toIndex, int length);
  }

  /**
   * Copies a row-major tensor of {@code shape} into a slot of {@code padded} shape starting at
   * {@code base}, one innermost row at a time; the padding keeps the buffer's zeros.
   */
  static void copyRows(long[] shape, long[] padded, int base, RowCopy copy) {
    int rank = shape.length;
    if (rank == 0 || Arrays.equals(shape, padded)) {
      copy.copy(0, base, (int) Tensor.elementCount(shape));
      return;
    }
    int rowLength = (int) shape[rank - 1];
    long rows = Tensor.elementCount(Arrays.copyOf(shape, rank - 1));
    long[] paddedStrides = new long[rank];
    paddedStrides[rank - 1] = 1;
    for (int d = rank - 2; d >= 0; d--) {
      paddedStrides[d] = paddedStrides[d + 1] * padded[d + 1];
    }
    int[] index = new int[rank - 1];
    for (long row = 0; row < rows; row++) {
      long target = base;
      for (int d = 0; d < rank - 1; d++) {
        target += index[d] * paddedStrides[d];
      }
      copy.copy((int) (row * rowLength), (int) target, rowLength);
      for (int d = rank - 2; d >= 0; d--) {
        if (++index[d] < shape[d]) {
          break;
        }
        index[d] = 0;
      }
    }
  }

  /**
   * Splits each of {@code outputs} of a run over {@code batchSize} examples along its first
   * dimension: example {@code i} gets slice {@code i} of every output.
   */
  static List<TensorExample> split(OrtSession.Result result, Set<String> outputs, int batchSize)
      throws OrtException {
    return split(result, outputs, batchSize, batchSize);
  }

  /**
   * As {@link #split(OrtSession.Result, Set, int)} for a run of {@code rows} rows of which the
   * first {@code batchSize} are examples: the outputs of the padding rows are dropped.
   */
  static List<TensorExample> split(
      OrtSession.Result result, Set<String> outputs, int batchSize, int rows) throws OrtException {
    List<Map<String, Tensor>> perExample = new ArrayList<>(batchSize);
    for (int i = 0; i < batchSize; i++) {
      perExample.add(new LinkedHashMap<>());
    }
    for (String name : outputs) {
      OnnxTensor tensor = output(result, name);
      long[] shape = tensor.getInfo().getShape();
      if (shape.length == 0 || shape[0] != rows) {
        throw new IllegalStateException(
            "Output '"
                + name
                + "' has shape "
                + Arrays.toString(shape)
                + " for a batch of "
                + rows
                + "; outputs must have the batch as their first dimension");
      }
      Tensor.DType dtype = OnnxModel.dtype(tensor.getInfo());
      long[] exampleShape = Arrays.copyOfRange(shape, 1, shape.length);
      int n = Math.toIntExact(Tensor.elementCount(exampleShape));
      if (dtype == Tensor.DType.STRING) {
        String[] all = (String[]) read(tensor).data();
        for (int i = 0; i < batchSize; i++) {
          perExample
              .get(i)
              .put(name, Tensor.ofStrings(Arrays.copyOfRange(all, i * n, i * n + n), exampleShape));
        }
        continue;
      }
      // One copy out of native memory, then each example's slice straight into its own array.
      ByteBuffer bytes = tensor.getByteBuffer().order(ByteOrder.nativeOrder());
      for (int i = 0; i < batchSize; i++) {
        bytes.position(i * n * dtype.width());
        perExample.get(i).put(name, Tensor.of(dtype, values(bytes, dtype, n), exampleShape));
      }
    }
    List<TensorExample> examples = new ArrayList<>(batchSize);
    for (Map<String, Tensor> m : perExample) {
      examples.add(TensorExample.of(m));
    }
    return examples;
  }

  /** Every one of {@code outputs} of a run of one whole-tensor record, whole. */
  static TensorExample whole(OrtSession.Result result, Set<String> outputs) throws OrtException {
    Map<String, Tensor> tensors = new LinkedHashMap<>();
    for (String name : outputs) {
      tensors.put(name, read(output(result, name)));
    }
    return TensorExample.of(tensors);
  }

  private static OnnxTensor output(OrtSession.Result result, String name) {
    OnnxValue value =
        result.get(name).orElseThrow(() -> new IllegalStateException("no output " + name));
    if (!(value instanceof OnnxTensor)) {
      throw new IllegalStateException("Output '" + name + "' is not a tensor: " + value.getInfo());
    }
    return (OnnxTensor) value;
  }

  /** Copies an output out of native memory, exactly (float16 as its bits, int64 as longs). */
  static Tensor read(OnnxTensor tensor) throws OrtException {
    TensorInfo info = tensor.getInfo();
    long[] shape = info.getShape();
    Tensor.DType dtype = OnnxModel.dtype(info);
    int n = Math.toIntExact(Tensor.elementCount(shape));
    if (dtype == Tensor.DType.STRING) {
      String[] strings = new String[n];
      flattenStrings(tensor.getValue(), strings, new int[] {0});
      return Tensor.ofStrings(strings, shape);
    }
    ByteBuffer bytes = tensor.getByteBuffer().order(ByteOrder.nativeOrder());
    return Tensor.of(dtype, values(bytes, dtype, n), shape);
  }

  /** The next {@code n} values of {@code dtype} in {@code bytes} (native order), as its carrier. */
  private static Object values(ByteBuffer bytes, Tensor.DType dtype, int n) {
    Object values = dtype.newArray(n);
    ByteBuffer from = bytes.slice().order(ByteOrder.nativeOrder());
    switch (dtype) {
      case FLOAT:
        from.asFloatBuffer().get((float[]) values);
        break;
      case DOUBLE:
        from.asDoubleBuffer().get((double[]) values);
        break;
      case INT32:
        from.asIntBuffer().get((int[]) values);
        break;
      case INT64:
        from.asLongBuffer().get((long[]) values);
        break;
      case INT16:
      case FLOAT16:
      case BFLOAT16:
        from.asShortBuffer().get((short[]) values);
        break;
      default:
        from.get((byte[]) values);
        break;
    }
    return values;
  }

  /** ONNX Runtime gives string tensors as nested {@code String} arrays (a scalar as a String). */
  private static void flattenStrings(Object value, String[] out, int[] next) {
    if (value instanceof String) {
      out[next[0]++] = (String) value;
      return;
    }
    for (Object child : (Object[]) value) {
      flattenStrings(child, out, next);
    }
  }
}
