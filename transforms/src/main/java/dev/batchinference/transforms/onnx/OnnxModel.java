package dev.batchinference.transforms.onnx;

import ai.onnxruntime.NodeInfo;
import ai.onnxruntime.OnnxJavaType;
import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OnnxValue;
import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtException;
import ai.onnxruntime.OrtSession;
import ai.onnxruntime.TensorInfo;
import dev.batchinference.transforms.model.LoadedModel;
import dev.batchinference.transforms.model.ModelFiles;
import dev.batchinference.transforms.model.ModelIdentity;
import dev.batchinference.transforms.model.ModelSignature;
import dev.batchinference.transforms.tensor.Tensor;
import dev.batchinference.transforms.tensor.TensorExample;
import dev.batchinference.transforms.tensor.TensorSpec;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.DoubleBuffer;
import java.nio.FloatBuffer;
import java.nio.IntBuffer;
import java.nio.LongBuffer;
import java.nio.file.Files;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/** An open ONNX Runtime session with the batching logic of {@link OnnxModelHandler}. */
final class OnnxModel implements LoadedModel<TensorExample, TensorExample> {

  private final OrtEnvironment env;
  private final OrtSession session;
  private final ModelSignature signature;
  private final Set<String> requestedOutputs;

  /**
   * Input buffers of each thread, by input name, reused from batch to batch: ONNX Runtime reads a
   * direct buffer in place, so a batch costs one copy from the examples and no allocation once the
   * buffers have grown to the largest batch.
   */
  private final ThreadLocal<Map<String, ByteBuffer>> inputBuffers =
      ThreadLocal.withInitial(java.util.HashMap::new);

  private static final byte[] ZEROS = new byte[1 << 16];

  private OnnxModel(
      OrtEnvironment env, OrtSession session, ModelSignature signature, Set<String> outputs) {
    this.env = env;
    this.session = session;
    this.signature = signature;
    this.requestedOutputs = outputs;
  }

  static OnnxModel load(OnnxModelHandler handler) throws Exception {
    String uri = handler.modelUri();
    byte[] bytes;
    try {
      bytes =
          ModelFiles.isLocal(uri) || uri.startsWith(ModelFiles.CLASSPATH_PREFIX)
              ? ModelFiles.readAll(uri)
              : Files.readAllBytes(ModelFiles.cached(uri, handler.expectedSha256()));
    } catch (IOException e) {
      throw new IllegalArgumentException(
          "Cannot read the model at " + uri + ": " + e.getMessage() + ". Check --model.", e);
    }
    String sha256 = ModelFiles.sha256(bytes);
    if (handler.expectedSha256() != null && !handler.expectedSha256().equals(sha256)) {
      throw new IllegalStateException(
          "The model at "
              + uri
              + " has SHA-256 "
              + sha256
              + " but "
              + handler.expectedSha256()
              + " was expected: the file changed since the job was launched.");
    }
    OrtEnvironment env = OrtEnvironment.getEnvironment();
    OrtSession session;
    try (OrtSession.SessionOptions options = handler.sessionConfig().toSessionOptions()) {
      session = env.createSession(bytes, options);
    } catch (OrtException e) {
      throw new IllegalArgumentException(
          "ONNX Runtime cannot load the model at "
              + uri
              + " ("
              + bytes.length
              + " bytes): "
              + e.getMessage()
              + ". Is it a valid ONNX model?",
          e);
    }
    try {
      Map<String, TensorSpec> inputs = specs(session.getInputInfo(), "input", uri);
      Map<String, NodeInfo> outputInfo = session.getOutputInfo();
      Set<String> outputs;
      if (handler.outputNames() == null) {
        outputs = new LinkedHashSet<>(outputInfo.keySet());
      } else {
        outputs = new LinkedHashSet<>(handler.outputNames());
        for (String name : outputs) {
          if (!outputInfo.containsKey(name)) {
            throw new IllegalArgumentException(
                "The model at "
                    + uri
                    + " has no output '"
                    + name
                    + "'; its outputs are "
                    + outputInfo.keySet());
          }
        }
      }
      Map<String, NodeInfo> selected = new LinkedHashMap<>();
      for (String name : outputs) {
        selected.put(name, outputInfo.get(name));
      }
      ModelSignature signature =
          ModelSignature.of(
              ModelIdentity.of(handler.modelName(), sha256),
              bytes.length,
              inputs,
              specs(selected, "output", uri));
      return new OnnxModel(env, session, signature, outputs);
    } catch (RuntimeException | OrtException e) {
      session.close();
      throw e;
    }
  }

  private static Map<String, TensorSpec> specs(
      Map<String, NodeInfo> infos, String kind, String uri) {
    Map<String, TensorSpec> specs = new LinkedHashMap<>();
    for (Map.Entry<String, NodeInfo> e : infos.entrySet()) {
      if (!(e.getValue().getInfo() instanceof TensorInfo)) {
        throw new IllegalArgumentException(
            "The model at "
                + uri
                + " has "
                + kind
                + " '"
                + e.getKey()
                + "' of kind "
                + e.getValue().getInfo()
                + "; only tensors are supported"
                + ("output".equals(kind) ? " (choose tensor outputs with --outputs)" : ""));
      }
      TensorInfo info = (TensorInfo) e.getValue().getInfo();
      specs.put(e.getKey(), TensorSpec.of(dtype(info.type, e.getKey(), uri), info.getShape()));
    }
    return specs;
  }

  private static Tensor.DType dtype(OnnxJavaType type, String name, String uri) {
    switch (type) {
      case FLOAT:
        return Tensor.DType.FLOAT;
      case DOUBLE:
        return Tensor.DType.DOUBLE;
      case INT32:
        return Tensor.DType.INT32;
      case INT64:
        return Tensor.DType.INT64;
      default:
        throw new IllegalArgumentException(
            "The model at "
                + uri
                + " uses element type "
                + type
                + " for '"
                + name
                + "'; supported are float, double, int32 and int64");
    }
  }

  ModelSignature signature() {
    return signature;
  }

  @Override
  public ModelIdentity identity() {
    return signature.identity();
  }

  @Override
  public long byteSize() {
    return signature.byteSize();
  }

  @Override
  public List<TensorExample> run(List<TensorExample> batch) throws OrtException {
    Map<String, OnnxTensor> inputs = new LinkedHashMap<>();
    try {
      for (Map.Entry<String, TensorSpec> input : signature.inputs().entrySet()) {
        inputs.put(input.getKey(), stack(input.getKey(), input.getValue(), batch));
      }
      try (OrtSession.Result result = session.run(inputs, requestedOutputs)) {
        return split(result, batch.size());
      }
    } finally {
      for (OnnxTensor t : inputs.values()) {
        t.close();
      }
    }
  }

  /** Stacks one input of every example into a batch tensor, zero-padding ragged dimensions. */
  private OnnxTensor stack(String name, TensorSpec spec, List<TensorExample> batch)
      throws OrtException {
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
    ByteBuffer buffer = inputBuffer(name, Math.multiplyExact(total, width), ragged);
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

  /**
   * This thread's buffer for {@code input}, {@code bytes} long, grown when too small; zeroed when
   * {@code ragged} (the padding must read as zeros, and a reused buffer holds the last batch).
   */
  private ByteBuffer inputBuffer(String input, int bytes, boolean ragged) {
    Map<String, ByteBuffer> buffers = inputBuffers.get();
    ByteBuffer buffer = buffers.get(input);
    if (buffer == null || buffer.capacity() < bytes) {
      int capacity =
          Math.max(
              bytes, buffer == null ? 0 : Math.min(Integer.MAX_VALUE / 2, buffer.capacity()) * 2);
      buffer = ByteBuffer.allocateDirect(capacity).order(ByteOrder.nativeOrder());
      buffers.put(input, buffer);
    } else if (ragged) {
      buffer.clear();
      for (int at = 0; at < bytes; at += ZEROS.length) {
        buffer.put(ZEROS, 0, Math.min(ZEROS.length, bytes - at));
      }
    }
    ByteBuffer slice = buffer.duplicate().order(ByteOrder.nativeOrder());
    slice.clear().limit(bytes);
    return slice.slice().order(ByteOrder.nativeOrder());
  }

  @FunctionalInterface
  private interface RowCopy {
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

  private List<TensorExample> split(OrtSession.Result result, int batchSize) throws OrtException {
    List<Map<String, Tensor>> perExample = new ArrayList<>(batchSize);
    for (int i = 0; i < batchSize; i++) {
      perExample.add(new LinkedHashMap<>());
    }
    for (String name : requestedOutputs) {
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
    List<TensorExample> outputs = new ArrayList<>(batchSize);
    for (Map<String, Tensor> m : perExample) {
      outputs.add(TensorExample.of(m));
    }
    return outputs;
  }

  @Override
  public void close() throws OrtException {
    session.close();
  }
}
