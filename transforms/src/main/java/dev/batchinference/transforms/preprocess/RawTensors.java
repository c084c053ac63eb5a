package dev.batchinference.transforms.preprocess;

import ai.onnxruntime.platform.Fp16Conversions;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.batchinference.transforms.model.BatchMode;
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
 * Fills every model input from the record field of the same name: a value or nested arrays whose
 * nesting gives the shape, converted to the input's element type (numbers for float, double,
 * float16, bfloat16 and the integer types, {@code true}/{@code false} or 0/1 for bool, strings for
 * string). How much of an input a record holds follows the model's {@link BatchMode}: one row (the
 * input's shape without its batch dimension) for a dynamic or fixed batch dimension, the whole
 * input for a model without one; under a fixed batch dimension a record may also hold every input
 * whole. Ragged arrays, values of the wrong kind, non-finite or out-of-range values, and shapes
 * that contradict the model fail.
 */
public final class RawTensors implements Preprocessor<TensorExample> {

  private final LinkedHashMap<String, TensorSpec> inputs;
  private final BatchMode mode;

  private RawTensors(Map<String, TensorSpec> inputs, BatchMode mode) {
    this.inputs = new LinkedHashMap<>(inputs);
    this.mode = mode;
  }

  /** Fills the inputs that {@code signature} declares, as its {@link BatchMode} takes them. */
  public static RawTensors forModel(ModelSignature signature) {
    return new RawTensors(signature.inputs(), BatchMode.of(signature));
  }

  @Override
  public TensorExample apply(ObjectNode record) throws InvalidRecordException {
    Map<String, Tensor> tensors = new LinkedHashMap<>();
    String firstRow = null;
    String firstWhole = null;
    for (Map.Entry<String, TensorSpec> input : inputs.entrySet()) {
      String name = input.getKey();
      JsonNode node = record.get(name);
      if (node == null || node.isNull()) {
        throw new InvalidRecordException("record has no '" + name + "' field for the model input");
      }
      Tensor t = toTensor(name, node, input.getValue());
      if (t.rank() == input.getValue().rank()) {
        firstWhole = firstWhole == null ? name : firstWhole;
      } else {
        firstRow = firstRow == null ? name : firstRow;
      }
      tensors.put(name, t);
    }
    if (firstRow != null && firstWhole != null) {
      throw new InvalidRecordException(
          "field '"
              + firstRow
              + "' holds one row and field '"
              + firstWhole
              + "' a whole tensor; a record holds every input one way (the model batches "
              + mode
              + ")");
    }
    return TensorExample.of(tensors);
  }

  private Tensor toTensor(String name, JsonNode node, TensorSpec spec)
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
    long[] expected = spec.shape();
    if (!shape.isEmpty() && shape.get(shape.size() - 1) == 0) {
      // An empty array cannot say its inner dimensions: take them from the model (zero where
      // dynamic); the tensor holds no values whatever they are.
      int rank =
          mode.kind() == BatchMode.Kind.ONE_RECORD
                  || (mode.kind() == BatchMode.Kind.FIXED && expected[0] == shape.get(0))
              ? expected.length
              : expected.length - 1;
      for (int d = shape.size(); d < rank; d++) {
        shape.add(Math.max(0, expected[d + expected.length - rank]));
      }
    }
    long[] dims = shape.stream().mapToLong(Long::longValue).toArray();
    // A row drops the batch dimension; a whole tensor keeps it (or has none to drop).
    boolean row = mode.kind() != BatchMode.Kind.ONE_RECORD && dims.length + 1 == expected.length;
    boolean whole = mode.kind() != BatchMode.Kind.DYNAMIC && dims.length == expected.length;
    int offset = row ? 1 : 0;
    boolean fits = row || whole;
    for (int d = 0; fits && d < dims.length; d++) {
      fits = expected[d + offset] < 0 || expected[d + offset] == dims[d];
    }
    if (!fits) {
      throw new InvalidRecordException(
          "field '"
              + name
              + "' has shape "
              + Arrays.toString(dims)
              + "; the model input is "
              + spec
              + (mode.kind() == BatchMode.Kind.DYNAMIC
                  ? " (with the batch dimension)"
                  : mode.kind() == BatchMode.Kind.FIXED
                      ? " (batch fixed at "
                          + mode.fixedSize()
                          + ": a record holds one row of it, or all of it)"
                      : " (the model has no batch dimension: a record holds the whole tensor)"));
    }
    JsonNode[] nodes = new JsonNode[Math.toIntExact(Tensor.elementCount(dims))];
    int[] next = {0};
    flatten(name, node, dims, 0, nodes, next);
    Tensor.DType dtype = spec.dtype();
    Object values = dtype.newArray(nodes.length);
    for (int i = 0; i < nodes.length; i++) {
      set(name, dtype, nodes[i], values, i);
    }
    return Tensor.of(dtype, values, dims);
  }

  /** Converts one JSON value to {@code dtype} into {@code values[i]}. */
  private static void set(String name, Tensor.DType dtype, JsonNode node, Object values, int i)
      throws InvalidRecordException {
    switch (dtype) {
      case STRING:
        if (!node.isTextual()) {
          throw new InvalidRecordException(
              "field '"
                  + name
                  + "' holds "
                  + FeatureVector.kind(node)
                  + " where a string is needed");
        }
        ((String[]) values)[i] = node.textValue();
        return;
      case BOOL:
        if (node.isBoolean()) {
          ((byte[]) values)[i] = (byte) (node.booleanValue() ? 1 : 0);
          return;
        }
        if (node.isIntegralNumber() && (node.asLong() == 0 || node.asLong() == 1)) {
          ((byte[]) values)[i] = (byte) node.asLong();
          return;
        }
        throw new InvalidRecordException(
            "field '"
                + name
                + "' holds "
                + (node.isNumber() ? node.asText() : FeatureVector.kind(node))
                + " where a bool (true, false, 0 or 1) is needed");
      default:
        break;
    }
    double v = number(name, node);
    switch (dtype) {
      case FLOAT:
        {
          float f = (float) v;
          if (!Float.isFinite(f)) {
            throw new InvalidRecordException(
                "field '" + name + "' holds " + v + ", beyond the range of a float");
          }
          ((float[]) values)[i] = f;
          return;
        }
      case FLOAT16:
      case BFLOAT16:
        {
          short bits =
              dtype == Tensor.DType.FLOAT16
                  ? Fp16Conversions.floatToFp16((float) v)
                  : Fp16Conversions.floatToBf16((float) v);
          float back =
              dtype == Tensor.DType.FLOAT16
                  ? Fp16Conversions.fp16ToFloat(bits)
                  : Fp16Conversions.bf16ToFloat(bits);
          if (!Float.isFinite(back)) {
            throw new InvalidRecordException(
                "field '" + name + "' holds " + v + ", beyond the range of a " + dtype.onnxName());
          }
          ((short[]) values)[i] = bits;
          return;
        }
      case DOUBLE:
        ((double[]) values)[i] = v;
        return;
      case INT8:
        ((byte[]) values)[i] = (byte) toLong(name, node, v, Byte.MIN_VALUE, Byte.MAX_VALUE);
        return;
      case UINT8:
        ((byte[]) values)[i] = (byte) toLong(name, node, v, 0, 255);
        return;
      case INT16:
        ((short[]) values)[i] = (short) toLong(name, node, v, Short.MIN_VALUE, Short.MAX_VALUE);
        return;
      case INT32:
        ((int[]) values)[i] = (int) toLong(name, node, v, Integer.MIN_VALUE, Integer.MAX_VALUE);
        return;
      default:
        ((long[]) values)[i] = toLong(name, node, v, Long.MIN_VALUE, Long.MAX_VALUE);
    }
  }

  /** A finite JSON number as a double. */
  private static double number(String name, JsonNode node) throws InvalidRecordException {
    if (!node.isNumber()) {
      throw new InvalidRecordException(
          "field '" + name + "' holds " + FeatureVector.kind(node) + " where a number is needed");
    }
    double v = node.doubleValue();
    if (!Double.isFinite(v)) {
      throw new InvalidRecordException(
          "field '" + name + "' holds " + v + "; values must be finite");
    }
    return v;
  }

  /**
   * An exact integer in {@code [min, max]}: integral JSON numbers are read without going through a
   * double (int64 beyond 2^53 stays exact); a decimal must be integral.
   */
  private static long toLong(String name, JsonNode node, double v, long min, long max)
      throws InvalidRecordException {
    long value;
    if (node.isIntegralNumber()) {
      if (!node.canConvertToLong()) {
        throw new InvalidRecordException(
            "field '" + name + "' holds " + node.asText() + " where an integer in range is needed");
      }
      value = node.longValue();
    } else {
      // 2^63 as a double passes a comparison with Long.MAX_VALUE (rounded up); compare below it.
      if (v != Math.rint(v) || v < -0x1p63 || v >= 0x1p63) {
        throw new InvalidRecordException(
            "field '" + name + "' holds " + v + " where an integer in range is needed");
      }
      value = (long) v;
    }
    if (value < min || value > max) {
      throw new InvalidRecordException(
          "field '" + name + "' holds " + node.asText() + " where an integer in range is needed");
    }
    return value;
  }

  private static void flatten(
      String name, JsonNode node, long[] dims, int depth, JsonNode[] nodes, int[] next)
      throws InvalidRecordException {
    if (depth == dims.length) {
      nodes[next[0]++] = node;
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
      flatten(name, child, dims, depth + 1, nodes, next);
    }
  }

  @Override
  public Coder<TensorExample> exampleCoder() {
    return TensorExampleCoder.of();
  }
}
