package dev.batchinference.transforms.preprocess;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.batchinference.transforms.model.ModelSignature;
import dev.batchinference.transforms.tensor.Tensor;
import dev.batchinference.transforms.tensor.TensorExample;
import dev.batchinference.transforms.tensor.TensorExampleCoder;
import dev.batchinference.transforms.tensor.TensorSpec;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.apache.beam.sdk.coders.Coder;

/**
 * Fills every model input from the record field of the same name: a number or a nested array whose
 * nesting gives the shape (without the batch dimension), converted to the input's element type.
 * Ragged arrays, non-numbers, non-finite values and shapes that contradict the model fail.
 */
public final class RawTensors implements Preprocessor<TensorExample> {

  private final LinkedHashMap<String, TensorSpec> inputs;

  private RawTensors(Map<String, TensorSpec> inputs) {
    this.inputs = new LinkedHashMap<>(inputs);
  }

  /** Fills the inputs that {@code signature} declares. */
  public static RawTensors forModel(ModelSignature signature) {
    return new RawTensors(signature.inputs());
  }

  @Override
  public TensorExample apply(ObjectNode record) throws InvalidRecordException {
    Map<String, Tensor> tensors = new LinkedHashMap<>();
    for (Map.Entry<String, TensorSpec> input : inputs.entrySet()) {
      String name = input.getKey();
      JsonNode node = record.get(name);
      if (node == null || node.isNull()) {
        throw new InvalidRecordException("record has no '" + name + "' field for the model input");
      }
      tensors.put(name, toTensor(name, node, input.getValue()));
    }
    return TensorExample.of(tensors);
  }

  private static Tensor toTensor(String name, JsonNode node, TensorSpec spec)
      throws InvalidRecordException {
    List<Long> shape = new ArrayList<>();
    JsonNode probe = node;
    while (probe.isArray()) {
      shape.add((long) probe.size());
      if (probe.size() == 0) {
        break;
      }
      probe = probe.get(0);
    }
    long[] dims = shape.stream().mapToLong(Long::longValue).toArray();
    long[] expected = spec.shape();
    if (dims.length + 1 != expected.length) {
      throw new InvalidRecordException(
          "field '"
              + name
              + "' has shape "
              + Arrays.toString(dims)
              + "; the model input is "
              + spec
              + " (with the batch dimension)");
    }
    for (int d = 0; d < dims.length; d++) {
      if (expected[d + 1] > 0 && expected[d + 1] != dims[d]) {
        throw new InvalidRecordException(
            "field '"
                + name
                + "' has shape "
                + Arrays.toString(dims)
                + "; the model input is "
                + spec
                + " (with the batch dimension)");
      }
    }
    JsonNode[] nodes = new JsonNode[Math.toIntExact(Tensor.elementCount(dims))];
    double[] values = new double[nodes.length];
    int[] next = {0};
    flatten(name, node, dims, 0, nodes, values, next);
    switch (spec.dtype()) {
      case FLOAT:
        {
          float[] f = new float[values.length];
          for (int i = 0; i < f.length; i++) {
            f[i] = (float) values[i];
            if (!Float.isFinite(f[i])) {
              throw new InvalidRecordException(
                  "field '" + name + "' holds " + values[i] + ", beyond the range of a float");
            }
          }
          return Tensor.ofFloats(f, dims);
        }
      case DOUBLE:
        return Tensor.ofDoubles(values, dims);
      case INT32:
        {
          int[] v = new int[values.length];
          for (int i = 0; i < v.length; i++) {
            v[i] = (int) toIntegral(name, values[i], Integer.MIN_VALUE, Integer.MAX_VALUE);
          }
          return Tensor.ofInts(v, dims);
        }
      default:
        {
          long[] v = new long[values.length];
          for (int i = 0; i < v.length; i++) {
            v[i] = toLong(name, nodes[i], values[i]);
          }
          return Tensor.ofLongs(v, dims);
        }
    }
  }

  /** An exact 64-bit integer: integral JSON numbers are read without going through a double. */
  private static long toLong(String name, JsonNode node, double v) throws InvalidRecordException {
    if (node.isIntegralNumber()) {
      if (!node.canConvertToLong()) {
        throw new InvalidRecordException(
            "field '" + name + "' holds " + node.asText() + " where an integer in range is needed");
      }
      return node.longValue();
    }
    return toIntegral(name, v, Long.MIN_VALUE, Long.MAX_VALUE);
  }

  private static long toIntegral(String name, double v, double min, double max)
      throws InvalidRecordException {
    if (v != Math.rint(v) || v < min || v > max) {
      throw new InvalidRecordException(
          "field '" + name + "' holds " + v + " where an integer in range is needed");
    }
    return (long) v;
  }

  private static void flatten(
      String name,
      JsonNode node,
      long[] dims,
      int depth,
      JsonNode[] nodes,
      double[] out,
      int[] next)
      throws InvalidRecordException {
    if (depth == dims.length) {
      if (!node.isNumber()) {
        throw new InvalidRecordException(
            "field '" + name + "' holds " + FeatureVector.kind(node) + " where a number is needed");
      }
      double v = node.doubleValue();
      if (!Double.isFinite(v)) {
        throw new InvalidRecordException(
            "field '" + name + "' holds " + v + "; values must be finite");
      }
      nodes[next[0]] = node;
      out[next[0]++] = v;
      return;
    }
    if (!node.isArray() || node.size() != dims[depth]) {
      throw new InvalidRecordException(
          "field '"
              + name
              + "' is ragged: expected "
              + dims[depth]
              + " elements at depth "
              + depth
              + ", got "
              + (node.isArray() ? node.size() + "" : FeatureVector.kind(node)));
    }
    for (JsonNode child : node) {
      flatten(name, child, dims, depth + 1, nodes, out, next);
    }
  }

  @Override
  public Coder<TensorExample> exampleCoder() {
    return TensorExampleCoder.of();
  }
}
