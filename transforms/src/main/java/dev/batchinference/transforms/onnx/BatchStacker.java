package dev.batchinference.transforms.onnx;

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
import java.nio.DoubleBuffer;
import java.nio.FloatBuffer;
import java.nio.IntBuffer;
import java.nio.LongBuffer;
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
    Tensor first = batch.get(0).get(name);
    long[] padded = first.shape();
    boolean ragged = false;
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
    batchShape[0] = batch.size();
    System.arraycopy(padded, 0, batchShape, 1, padded.length);
    int perExample = Math.toIntExact(Tensor.elementCount(padded));
    int total = Math.multiplyExact(perExample, batch.size());
    int width = spec.dtype() == Tensor.DType.FLOAT || spec.dtype() == Tensor.DType.INT32 ? 4 : 8;
    ByteBuffer buffer = buffers.get(name, Math.multiplyExact(total, width), ragged);
    switch (spec.dtype()) {
      case FLOAT:
        {
          FloatBuffer out = buffer.asFloatBuffer();
          for (int i = 0; i < batch.size(); i++) {
            Tensor t = batch.get(i).get(name);
            float[] src = (float[]) t.data();
            copyRows(
                t.shape(), padded, i * perExample, (from, to, len) -> out.put(to, src, from, len));
          }
          return OnnxTensor.createTensor(env, out, batchShape);
        }
      case DOUBLE:
        {
          DoubleBuffer out = buffer.asDoubleBuffer();
          for (int i = 0; i < batch.size(); i++) {
            Tensor t = batch.get(i).get(name);
            double[] src = (double[]) t.data();
            copyRows(
                t.shape(), padded, i * perExample, (from, to, len) -> out.put(to, src, from, len));
          }
          return OnnxTensor.createTensor(env, out, batchShape);
        }
      case INT32:
        {
          IntBuffer out = buffer.asIntBuffer();
          for (int i = 0; i < batch.size(); i++) {
            Tensor t = batch.get(i).get(name);
            int[] src = (int[]) t.data();
            copyRows(
                t.shape(), padded, i * perExample, (from, to, len) -> out.put(to, src, from, len));
          }
          return OnnxTensor.createTensor(env, out, batchShape);
        }
      default:
        {
          LongBuffer out = buffer.asLongBuffer();
          for (int i = 0; i < batch.size(); i++) {
            Tensor t = batch.get(i).get(name);
            long[] src = (long[]) t.data();
            copyRows(
                t.shape(), padded, i * perExample, (from, to, len) -> out.put(to, src, from, len));
          }
          return OnnxTensor.createTensor(env, out, batchShape);
        }
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
    List<Map<String, Tensor>> perExample = new ArrayList<>(batchSize);
    for (int i = 0; i < batchSize; i++) {
      perExample.add(new LinkedHashMap<>());
    }
    for (String name : outputs) {
      OnnxValue value =
          result.get(name).orElseThrow(() -> new IllegalStateException("no output " + name));
      if (!(value instanceof OnnxTensor)) {
        throw new IllegalStateException(
            "Output '" + name + "' is not a tensor: " + value.getInfo());
      }
      OnnxTensor tensor = (OnnxTensor) value;
      TensorInfo info = tensor.getInfo();
      long[] shape = info.getShape();
      if (shape.length == 0 || shape[0] != batchSize) {
        throw new IllegalStateException(
            "Output '"
                + name
                + "' has shape "
                + Arrays.toString(shape)
                + " for a batch of "
                + batchSize
                + "; outputs must have the batch as their first dimension");
      }
      long[] exampleShape = Arrays.copyOfRange(shape, 1, shape.length);
      int n = Math.toIntExact(Tensor.elementCount(exampleShape));
      switch (info.type) {
        case FLOAT:
          {
            FloatBuffer buffer = tensor.getFloatBuffer();
            for (int i = 0; i < batchSize; i++) {
              float[] values = new float[n];
              buffer.get(values);
              perExample.get(i).put(name, Tensor.ofFloats(values, exampleShape));
            }
            break;
          }
        case DOUBLE:
          {
            DoubleBuffer buffer = tensor.getDoubleBuffer();
            for (int i = 0; i < batchSize; i++) {
              double[] values = new double[n];
              buffer.get(values);
              perExample.get(i).put(name, Tensor.ofDoubles(values, exampleShape));
            }
            break;
          }
        case INT32:
          {
            IntBuffer buffer = tensor.getIntBuffer();
            for (int i = 0; i < batchSize; i++) {
              int[] values = new int[n];
              buffer.get(values);
              perExample.get(i).put(name, Tensor.ofInts(values, exampleShape));
            }
            break;
          }
        case INT64:
          {
            LongBuffer buffer = tensor.getLongBuffer();
            for (int i = 0; i < batchSize; i++) {
              long[] values = new long[n];
              buffer.get(values);
              perExample.get(i).put(name, Tensor.ofLongs(values, exampleShape));
            }
            break;
          }
        default:
          throw new IllegalStateException(
              "Output '" + name + "' has unsupported type " + info.type);
      }
    }
    List<TensorExample> examples = new ArrayList<>(batchSize);
    for (Map<String, Tensor> m : perExample) {
      examples.add(TensorExample.of(m));
    }
    return examples;
  }
}
