package dev.batchinference.transforms.model;

import dev.batchinference.transforms.tensor.TensorSpec;
import java.io.Serializable;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * What a loaded model declares: its identity and its named inputs and outputs. Pre- and
 * post-processors check themselves against it before the job reads any data.
 */
public final class ModelSignature implements Serializable {

  private final ModelIdentity identity;
  private final long byteSize;
  private final LinkedHashMap<String, TensorSpec> inputs;
  private final LinkedHashMap<String, TensorSpec> outputs;

  private ModelSignature(
      ModelIdentity identity,
      long byteSize,
      Map<String, TensorSpec> inputs,
      Map<String, TensorSpec> outputs) {
    this.identity = identity;
    this.byteSize = byteSize;
    this.inputs = new LinkedHashMap<>(inputs);
    this.outputs = new LinkedHashMap<>(outputs);
  }

  public static ModelSignature of(
      ModelIdentity identity,
      long byteSize,
      Map<String, TensorSpec> inputs,
      Map<String, TensorSpec> outputs) {
    return new ModelSignature(identity, byteSize, inputs, outputs);
  }

  public ModelIdentity identity() {
    return identity;
  }

  public long byteSize() {
    return byteSize;
  }

  public Map<String, TensorSpec> inputs() {
    return Collections.unmodifiableMap(inputs);
  }

  public Map<String, TensorSpec> outputs() {
    return Collections.unmodifiableMap(outputs);
  }

  @Override
  public String toString() {
    return identity + " inputs=" + inputs + " outputs=" + outputs;
  }
}
