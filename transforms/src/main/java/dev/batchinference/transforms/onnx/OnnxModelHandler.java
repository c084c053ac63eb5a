package dev.batchinference.transforms.onnx;

import static org.apache.beam.vendor.guava.v32_1_2_jre.com.google.common.base.Preconditions.checkArgument;

import dev.batchinference.transforms.model.LoadedModel;
import dev.batchinference.transforms.model.ModelFiles;
import dev.batchinference.transforms.model.ModelHandler;
import dev.batchinference.transforms.model.ModelSignature;
import dev.batchinference.transforms.model.SharedResources;
import dev.batchinference.transforms.tensor.Tensor;
import dev.batchinference.transforms.tensor.TensorExample;
import java.util.List;
import java.util.Objects;
import org.apache.beam.sdk.transforms.display.DisplayData;
import org.checkerframework.checker.nullness.qual.Nullable;

/**
 * A {@link ModelHandler} for ONNX models run by ONNX Runtime. Examples are {@link TensorExample}s
 * keyed by the model's input names; a batch stacks them along a new first dimension, padding
 * dimensions that differ between examples (sequence length) with zeros, and each record gets its
 * slice of every output.
 *
 * <pre>{@code
 * OnnxModelHandler handler =
 *     OnnxModelHandler.of("gs://bucket/models/classifier.onnx")
 *         .withSessionConfig(SessionConfig.defaults().withIntraOpThreads(2));
 * }</pre>
 */
public final class OnnxModelHandler implements ModelHandler<TensorExample, TensorExample> {

  private final String modelUri;
  private final @Nullable String name;
  private final SessionConfig sessionConfig;
  private final @Nullable List<String> outputNames;
  private final @Nullable String expectedSha256;

  private OnnxModelHandler(
      String modelUri,
      @Nullable String name,
      SessionConfig sessionConfig,
      @Nullable List<String> outputNames,
      @Nullable String expectedSha256) {
    this.modelUri = modelUri;
    this.name = name;
    this.sessionConfig = sessionConfig;
    this.outputNames = outputNames;
    this.expectedSha256 = expectedSha256;
  }

  /**
   * A handler for the ONNX model at {@code modelUri}: a local path, {@code gs://...}, or {@code
   * classpath:resource}.
   */
  public static OnnxModelHandler of(String modelUri) {
    checkArgument(modelUri != null && !modelUri.isEmpty(), "modelUri must be set");
    return new OnnxModelHandler(modelUri, null, SessionConfig.defaults(), null, null);
  }

  /** The model's name in predictions; defaults to the file name without extension. */
  public OnnxModelHandler withName(String name) {
    checkArgument(name != null && !name.isEmpty(), "model name must not be empty");
    return new OnnxModelHandler(modelUri, name, sessionConfig, outputNames, expectedSha256);
  }

  public OnnxModelHandler withSessionConfig(SessionConfig config) {
    return new OnnxModelHandler(
        modelUri, name, Objects.requireNonNull(config), outputNames, expectedSha256);
  }

  /** Computes only these outputs (default: all of them). */
  public OnnxModelHandler withOutputs(List<String> names) {
    checkArgument(!names.isEmpty(), "output names must not be empty");
    return new OnnxModelHandler(modelUri, name, sessionConfig, List.copyOf(names), expectedSha256);
  }

  /**
   * Refuses to run a model whose bytes do not hash to {@code sha256}: every worker then runs the
   * model the launcher checked.
   */
  public OnnxModelHandler withExpectedSha256(String sha256) {
    checkArgument(sha256 != null && sha256.matches("[0-9a-f]{64}"), "not a SHA-256: %s", sha256);
    return new OnnxModelHandler(modelUri, name, sessionConfig, outputNames, sha256);
  }

  public String modelUri() {
    return modelUri;
  }

  public String modelName() {
    return name != null ? name : ModelFiles.baseName(modelUri);
  }

  public SessionConfig sessionConfig() {
    return sessionConfig;
  }

  public @Nullable List<String> outputNames() {
    return outputNames;
  }

  public @Nullable String expectedSha256() {
    return expectedSha256;
  }

  @Override
  public void populateDisplayData(DisplayData.Builder builder) {
    builder
        .add(DisplayData.item("modelUri", modelUri).withLabel("Model"))
        .add(DisplayData.item("modelName", modelName()).withLabel("Model name"))
        .addIfNotNull(
            DisplayData.item("modelSha256", expectedSha256).withLabel("Expected model SHA-256"))
        .addIfNotNull(
            DisplayData.item("outputs", outputNames == null ? null : String.join(",", outputNames))
                .withLabel("Model outputs computed"))
        .add(
            DisplayData.item("sessionConfig", sessionConfig.toString())
                .withLabel("ONNX Runtime session"));
  }

  @Override
  public String cacheKey() {
    // The loaded model carries the name and was checked against the hash, so both belong here.
    return "onnx:"
        + modelUri
        + "|"
        + modelName()
        + "|"
        + sessionConfig
        + "|"
        + outputNames
        + "|"
        + expectedSha256;
  }

  @Override
  public LoadedModel<TensorExample, TensorExample> load() throws Exception {
    return OnnxModel.load(this);
  }

  /** The largest tensor's element count: tokens for text, features for vectors. */
  @Override
  public long weight(TensorExample example) {
    long weight = 1;
    for (Tensor t : example.asMap().values()) {
      weight = Math.max(weight, t.size());
    }
    return weight;
  }

  /**
   * Opens the model (through the shared cache, so a worker that runs in this JVM reuses it while a
   * {@link SharedResources#hold()} is open) and returns what it declares. Fails when the model is
   * missing, corrupt or cannot be opened with this configuration.
   */
  public ModelSignature inspect() throws Exception {
    ModelSignature signature;
    try (SharedResources.Lease<LoadedModel<TensorExample, TensorExample>> lease =
        SharedResources.acquire(cacheKey(), this::load)) {
      signature = ((OnnxModel) lease.get()).signature();
    }
    // Workers expect the hash the model was just found to have: the session loaded here is theirs.
    SharedResources.rekey(cacheKey(), withExpectedSha256(signature.identity().sha256()).cacheKey());
    return signature;
  }
}
