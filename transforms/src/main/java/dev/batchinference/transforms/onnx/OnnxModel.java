package dev.batchinference.transforms.onnx;

import ai.onnxruntime.MapInfo;
import ai.onnxruntime.NodeInfo;
import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtException;
import ai.onnxruntime.OrtSession;
import ai.onnxruntime.SequenceInfo;
import ai.onnxruntime.TensorInfo;
import ai.onnxruntime.ValueInfo;
import dev.batchinference.transforms.model.BatchMode;
import dev.batchinference.transforms.model.LoadedModel;
import dev.batchinference.transforms.model.ModelFiles;
import dev.batchinference.transforms.model.ModelIdentity;
import dev.batchinference.transforms.model.ModelSignature;
import dev.batchinference.transforms.tensor.Tensor;
import dev.batchinference.transforms.tensor.TensorExample;
import dev.batchinference.transforms.tensor.TensorSpec;
import java.io.IOException;
import java.nio.file.Files;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;

/**
 * An open ONNX Runtime session of {@link OnnxModelHandler}'s model: opens and checks the model,
 * says what it declares, runs a batch and closes the session. How a batch becomes input tensors and
 * its outputs become per-example results is {@link BatchStacker}'s part.
 */
final class OnnxModel implements LoadedModel<TensorExample, TensorExample> {

  private final OrtSession session;
  private final ModelSignature signature;
  private final Set<String> requestedOutputs;

  private final BatchMode mode;
  private final BatchStacker stacker;

  private OnnxModel(
      OrtEnvironment env, OrtSession session, ModelSignature signature, Set<String> outputs) {
    this.session = session;
    this.signature = signature;
    this.requestedOutputs = outputs;
    this.mode = BatchMode.of(signature);
    this.stacker = new BatchStacker(env);
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
      Map<String, TensorSpec> inputs = specs(inputInfo(session, bytes, uri), "input", uri);
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

  /**
   * The session's inputs; ONNX Runtime's Java API cannot describe some kinds (an optional input),
   * so those are named from the model file itself.
   */
  private static Map<String, NodeInfo> inputInfo(OrtSession session, byte[] model, String uri)
      throws OrtException {
    try {
      return session.getInputInfo();
    } catch (OrtException e) {
      for (Map.Entry<String, String> input : OnnxProtos.inputKinds(model).entrySet()) {
        if (!"tensor".equals(input.getValue())) {
          throw new IllegalArgumentException(
              "The model at "
                  + uri
                  + " has input '"
                  + input.getKey()
                  + "' of type "
                  + input.getValue()
                  + "; only tensors are supported",
              e);
        }
      }
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
                + "' of type "
                + describe(e.getValue().getInfo())
                + "; only tensors are supported"
                + ("output".equals(kind) ? " (choose tensor outputs with --outputs)" : ""));
      }
      TensorInfo info = (TensorInfo) e.getValue().getInfo();
      Tensor.DType dtype = SUPPORTED.get(info.onnxType);
      if (dtype == null) {
        throw new IllegalArgumentException(
            "The model at "
                + uri
                + " has "
                + kind
                + " '"
                + e.getKey()
                + "' of element type "
                + onnxName(info.onnxType)
                + "; supported are "
                + SUPPORTED_NAMES
                + ("output".equals(kind) ? " (choose other outputs with --outputs)" : ""));
      }
      specs.put(e.getKey(), TensorSpec.of(dtype, info.getShape()));
    }
    return specs;
  }

  /** The element types ONNX Runtime's Java API can hand over, and what they become here. */
  private static final Map<TensorInfo.OnnxTensorType, Tensor.DType> SUPPORTED =
      new java.util.EnumMap<>(TensorInfo.OnnxTensorType.class);

  static {
    SUPPORTED.put(
        TensorInfo.OnnxTensorType.ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT, Tensor.DType.FLOAT);
    SUPPORTED.put(
        TensorInfo.OnnxTensorType.ONNX_TENSOR_ELEMENT_DATA_TYPE_DOUBLE, Tensor.DType.DOUBLE);
    SUPPORTED.put(
        TensorInfo.OnnxTensorType.ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT16, Tensor.DType.FLOAT16);
    SUPPORTED.put(
        TensorInfo.OnnxTensorType.ONNX_TENSOR_ELEMENT_DATA_TYPE_BFLOAT16, Tensor.DType.BFLOAT16);
    SUPPORTED.put(TensorInfo.OnnxTensorType.ONNX_TENSOR_ELEMENT_DATA_TYPE_INT8, Tensor.DType.INT8);
    SUPPORTED.put(
        TensorInfo.OnnxTensorType.ONNX_TENSOR_ELEMENT_DATA_TYPE_INT16, Tensor.DType.INT16);
    SUPPORTED.put(
        TensorInfo.OnnxTensorType.ONNX_TENSOR_ELEMENT_DATA_TYPE_INT32, Tensor.DType.INT32);
    SUPPORTED.put(
        TensorInfo.OnnxTensorType.ONNX_TENSOR_ELEMENT_DATA_TYPE_INT64, Tensor.DType.INT64);
    SUPPORTED.put(
        TensorInfo.OnnxTensorType.ONNX_TENSOR_ELEMENT_DATA_TYPE_UINT8, Tensor.DType.UINT8);
    SUPPORTED.put(TensorInfo.OnnxTensorType.ONNX_TENSOR_ELEMENT_DATA_TYPE_BOOL, Tensor.DType.BOOL);
    SUPPORTED.put(
        TensorInfo.OnnxTensorType.ONNX_TENSOR_ELEMENT_DATA_TYPE_STRING, Tensor.DType.STRING);
  }

  private static final String SUPPORTED_NAMES =
      "float, double, float16, bfloat16, int8, int16, int32, int64, uint8, bool and string";

  /** {@code ONNX_TENSOR_ELEMENT_DATA_TYPE_UINT16} as ONNX names it: {@code uint16}. */
  private static String onnxName(TensorInfo.OnnxTensorType type) {
    return type.name().replace("ONNX_TENSOR_ELEMENT_DATA_TYPE_", "").toLowerCase(Locale.ROOT);
  }

  /** A non-tensor value's type in words: {@code sequence of float tensors}, {@code map ...}. */
  private static String describe(ValueInfo info) {
    if (info instanceof SequenceInfo) {
      SequenceInfo seq = (SequenceInfo) info;
      return seq.isSequenceOfMaps()
          ? "sequence of maps (" + seq.mapInfo + ")"
          : "sequence of " + seq.sequenceType.name().toLowerCase(Locale.ROOT) + " values";
    }
    if (info instanceof MapInfo) {
      MapInfo map = (MapInfo) info;
      return "map from "
          + map.keyType.name().toLowerCase(Locale.ROOT)
          + " to "
          + map.valueType.name().toLowerCase(Locale.ROOT);
    }
    return String.valueOf(info);
  }

  /** The element type of an output ONNX Runtime returned. */
  static Tensor.DType dtype(TensorInfo info) {
    Tensor.DType dtype = SUPPORTED.get(info.onnxType);
    if (dtype == null) {
      throw new IllegalStateException("unsupported output element type " + onnxName(info.onnxType));
    }
    return dtype;
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

  /**
   * Runs a batch the way the model takes records ({@link BatchMode}): rows stacked on a dynamic
   * batch dimension; or runs of exactly N rows, the last padded with zero rows; and records that
   * hold their inputs whole, one per run.
   */
  @Override
  public List<TensorExample> run(List<TensorExample> batch) throws OrtException {
    if (mode.kind() == BatchMode.Kind.DYNAMIC) {
      return runRows(batch, batch.size());
    }
    TensorExample[] outputs = new TensorExample[batch.size()];
    List<Integer> rows = new ArrayList<>();
    for (int i = 0; i < batch.size(); i++) {
      if (isWhole(batch.get(i))) {
        outputs[i] = runWhole(batch.get(i));
      } else {
        rows.add(i);
      }
    }
    // Rows of a model without a batch dimension of its own run as they always did (and fail in
    // ONNX Runtime with its own message); RAW refuses such records before they get here.
    int step = mode.kind() == BatchMode.Kind.FIXED ? mode.fixedSize() : Math.max(1, rows.size());
    for (int from = 0; from < rows.size(); from += step) {
      List<Integer> chunk = rows.subList(from, Math.min(rows.size(), from + step));
      List<TensorExample> examples = new ArrayList<>(chunk.size());
      for (int i : chunk) {
        examples.add(batch.get(i));
      }
      List<TensorExample> out =
          runRows(examples, mode.kind() == BatchMode.Kind.FIXED ? mode.fixedSize() : chunk.size());
      for (int k = 0; k < chunk.size(); k++) {
        outputs[chunk.get(k)] = out.get(k);
      }
    }
    return Arrays.asList(outputs);
  }

  /** Whether {@code example} holds the model's inputs whole rather than as one row. */
  private boolean isWhole(TensorExample example) {
    for (Map.Entry<String, TensorSpec> input : signature.inputs().entrySet()) {
      return example.has(input.getKey())
          && example.get(input.getKey()).rank() == input.getValue().rank();
    }
    return true;
  }

  /** Stacks {@code batch} into runs of {@code rows} rows (padding after the examples). */
  private List<TensorExample> runRows(List<TensorExample> batch, int rows) throws OrtException {
    Map<String, OnnxTensor> inputs = new LinkedHashMap<>();
    try {
      for (Map.Entry<String, TensorSpec> input : signature.inputs().entrySet()) {
        inputs.put(input.getKey(), stacker.stack(input.getKey(), input.getValue(), batch, rows));
      }
      try (OrtSession.Result result = session.run(inputs, requestedOutputs)) {
        return BatchStacker.split(result, requestedOutputs, batch.size(), rows);
      }
    } finally {
      for (OnnxTensor t : inputs.values()) {
        t.close();
      }
    }
  }

  /** Runs one record that holds every input whole; its outputs are whole too. */
  private TensorExample runWhole(TensorExample example) throws OrtException {
    Map<String, OnnxTensor> inputs = new LinkedHashMap<>();
    try {
      for (Map.Entry<String, TensorSpec> input : signature.inputs().entrySet()) {
        inputs.put(input.getKey(), stacker.whole(input.getKey(), input.getValue(), example));
      }
      try (OrtSession.Result result = session.run(inputs, requestedOutputs)) {
        return BatchStacker.whole(result, requestedOutputs);
      }
    } finally {
      for (OnnxTensor t : inputs.values()) {
        t.close();
      }
    }
  }

  @Override
  public void close() throws OrtException {
    session.close();
  }
}
