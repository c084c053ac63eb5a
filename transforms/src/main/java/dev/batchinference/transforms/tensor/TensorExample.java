package dev.batchinference.transforms.tensor;

import static org.apache.beam.vendor.guava.v32_1_2_jre.com.google.common.base.Preconditions.checkArgument;

import java.io.Serializable;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Set;

/**
 * A set of named tensors: one example's model inputs, or one example's slice of the model's
 * outputs. Names keep their insertion order.
 */
public final class TensorExample implements Serializable {

  private final LinkedHashMap<String, Tensor> tensors;

  private TensorExample(LinkedHashMap<String, Tensor> tensors) {
    this.tensors = tensors;
  }

  public static TensorExample of(Map<String, Tensor> tensors) {
    return new TensorExample(new LinkedHashMap<>(tensors));
  }

  public static TensorExample of(String name, Tensor tensor) {
    LinkedHashMap<String, Tensor> map = new LinkedHashMap<>();
    map.put(name, tensor);
    return new TensorExample(map);
  }

  public Tensor get(String name) {
    Tensor t = tensors.get(name);
    checkArgument(t != null, "no tensor named '%s' (have %s)", name, tensors.keySet());
    return t;
  }

  public boolean has(String name) {
    return tensors.containsKey(name);
  }

  public Set<String> names() {
    return Collections.unmodifiableSet(tensors.keySet());
  }

  public Map<String, Tensor> asMap() {
    return Collections.unmodifiableMap(tensors);
  }

  @Override
  public boolean equals(Object o) {
    return o instanceof TensorExample && tensors.equals(((TensorExample) o).tensors);
  }

  @Override
  public int hashCode() {
    return tensors.hashCode();
  }

  @Override
  public String toString() {
    return "TensorExample" + tensors;
  }
}
