package dev.batchinference.transforms.onnx;

import ai.onnxruntime.NodeInfo;
import ai.onnxruntime.OnnxJavaType;
import ai.onnxruntime.OnnxTensor;
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
import java.nio.file.Files;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
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

  private final BatchStacker stacker;

  private OnnxModel(
      OrtEnvironment env, OrtSession session, ModelSignature signature, Set<String> outputs) {
    this.session = session;
    this.signature = signature;
    this.requestedOutputs = outputs;
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
        inputs.put(input.getKey(), stacker.stack(input.getKey(), input.getValue(), batch));
      }
      try (OrtSession.Result result = session.run(inputs, requestedOutputs)) {
        return BatchStacker.split(result, requestedOutputs, batch.size());
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
