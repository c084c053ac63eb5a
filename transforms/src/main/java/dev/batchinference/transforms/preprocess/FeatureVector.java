package dev.batchinference.transforms.preprocess;

import static org.apache.beam.vendor.guava.v32_1_2_jre.com.google.common.base.Preconditions.checkArgument;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.batchinference.transforms.model.ModelSignature;
import dev.batchinference.transforms.tensor.Tensor;
import dev.batchinference.transforms.tensor.TensorExample;
import dev.batchinference.transforms.tensor.TensorExampleCoder;
import dev.batchinference.transforms.tensor.TensorSpec;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Iterator;
import java.util.List;
import org.apache.beam.sdk.coders.Coder;
import org.checkerframework.checker.nullness.qual.Nullable;

/**
 * Reads a float feature vector (or flattened image pixels) from a record into the model's single
 * input: from one array field ({@code "features": [0.1, 0.5, ...]}) or from named columns (CSV),
 * where a name ending in {@code *} takes every field with that prefix, in record order. Numeric
 * strings are accepted. The vector is reshaped to the model input's per-example shape (for example
 * {@code [3, 48, 192]} for an image model).
 *
 * <p>Missing fields, non-numbers, NaN and infinities, and vectors of the wrong length fail.
 */
public final class FeatureVector implements Preprocessor<TensorExample> {

  private final String inputName;
  private final long[] shape;
  private final String field;
  private final @Nullable List<String> columns;

  private FeatureVector(
      String inputName, long[] shape, String field, @Nullable List<String> columns) {
    this.inputName = inputName;
    this.shape = shape;
    this.field = field;
    this.columns = columns;
  }

  /**
   * Features for model input {@code inputName}, whose per-example shape (without the batch
   * dimension) is {@code shape}; read from field {@code features} by default.
   */
  public static FeatureVector of(String inputName, long... shape) {
    checkArgument(shape.length > 0, "shape must have at least one dimension");
    for (long d : shape) {
      checkArgument(d > 0, "shape must be fully known, got %s", Arrays.toString(shape));
    }
    return new FeatureVector(inputName, shape.clone(), "features", null);
  }

  /** For a model whose single float input is fully shaped apart from the batch dimension. */
  public static FeatureVector forModel(ModelSignature signature) {
    if (signature.inputs().size() != 1) {
      throw new IllegalArgumentException(
          "Feature vectors feed models with one input; "
              + signature.identity().name()
              + " has "
              + signature.inputs().keySet()
              + ". Use --task=raw to fill several inputs.");
    }
    var input = signature.inputs().entrySet().iterator().next();
    long[] full = input.getValue().shape();
    long[] perExample = Arrays.copyOfRange(full, 1, full.length);
    for (long d : perExample) {
      if (d <= 0) {
        throw new IllegalArgumentException(
            "Model input '"
                + input.getKey()
                + "' has shape "
                + Arrays.toString(full)
                + " with a dynamic dimension besides the batch; feature vectors need a fixed size.");
      }
    }
    if (perExample.length == 0) {
      throw new IllegalArgumentException(
          "Model input '"
              + input.getKey()
              + "' has shape "
              + Arrays.toString(full)
              + "; feature vectors need [batch, features...]");
    }
    FeatureVector fv = of(input.getKey(), perExample);
    fv.check(signature);
    return fv;
  }

  /** Read the vector from this array field. Default {@code features}. */
  public FeatureVector withField(String field) {
    checkArgument(field != null && !field.isEmpty(), "field must not be empty");
    return new FeatureVector(inputName, shape, field, null);
  }

  /** Read the vector from these columns; {@code prefix*} takes every field with that prefix. */
  public FeatureVector withColumns(List<String> columns) {
    checkArgument(!columns.isEmpty(), "columns must not be empty");
    return new FeatureVector(inputName, shape, field, List.copyOf(columns));
  }

  public long size() {
    return Tensor.elementCount(shape);
  }

  @Override
  public TensorExample apply(ObjectNode record) throws InvalidRecordException {
    int size = (int) size();
    float[] values = new float[size];
    int n = 0;
    if (columns == null) {
      JsonNode array = record.get(field);
      if (array == null || array.isNull()) {
        throw new InvalidRecordException("record has no '" + field + "' field");
      }
      if (!array.isArray()) {
        throw new InvalidRecordException(
            "field '" + field + "' must be an array of numbers, got " + kind(array));
      }
      if (array.size() != size) {
        throw new InvalidRecordException(
            "field '" + field + "' has " + array.size() + " values; the model takes " + size);
      }
      for (JsonNode v : array) {
        values[n] = number(v, field + "[" + n + "]");
        n++;
      }
    } else {
      for (String column : columns) {
        if (column.endsWith("*")) {
          String prefix = column.substring(0, column.length() - 1);
          Iterator<String> names = record.fieldNames();
          while (names.hasNext()) {
            String name = names.next();
            if (name.startsWith(prefix)) {
              n = put(values, n, record.get(name), name);
            }
          }
        } else {
          JsonNode v = record.get(column);
          if (v == null) {
            throw new InvalidRecordException("record has no '" + column + "' column");
          }
          n = put(values, n, v, column);
        }
      }
      if (n != size) {
        throw new InvalidRecordException(
            "columns " + columns + " give " + n + " values; the model takes " + size);
      }
    }
    return TensorExample.of(inputName, Tensor.ofFloats(values, shape));
  }

  /** From one array field (not from columns): read straight into floats by {@link Preprocess}. */
  @Override
  public @Nullable NumberArray numberArray() {
    return columns == null ? new NumberArray(field, (int) size()) : null;
  }

  @Override
  public TensorExample apply(ObjectNode record, float[] numbers) throws InvalidRecordException {
    for (int i = 0; i < numbers.length; i++) {
      if (!Float.isFinite(numbers[i])) {
        throw new InvalidRecordException(
            field + "[" + i + "] is " + numbers[i] + "; features must be finite");
      }
    }
    return TensorExample.of(inputName, Tensor.ofFloats(numbers, shape));
  }

  private static int put(float[] values, int n, JsonNode v, String name)
      throws InvalidRecordException {
    if (n >= values.length) {
      return n + 1;
    }
    values[n] = number(v, name);
    return n + 1;
  }

  private static float number(JsonNode v, String where) throws InvalidRecordException {
    float f;
    if (v.isNumber()) {
      f = v.floatValue();
    } else if (v.isTextual()) {
      try {
        f = Float.parseFloat(v.textValue().trim());
      } catch (NumberFormatException e) {
        throw new InvalidRecordException(
            where + " is not a number: \"" + abbreviate(v.textValue()) + "\"");
      }
    } else {
      throw new InvalidRecordException(where + " must be a number, got " + kind(v));
    }
    if (!Float.isFinite(f)) {
      throw new InvalidRecordException(where + " is " + f + "; features must be finite");
    }
    return f;
  }

  static String kind(JsonNode v) {
    return v.getNodeType().name().toLowerCase(java.util.Locale.ROOT);
  }

  static String abbreviate(String s) {
    return s.length() <= 40 ? s : s.substring(0, 40) + "...";
  }

  @Override
  public void check(ModelSignature signature) {
    TensorSpec spec = signature.inputs().get(inputName);
    if (spec == null) {
      throw new IllegalArgumentException(
          "Model "
              + signature.identity().name()
              + " has no input '"
              + inputName
              + "'; its inputs are "
              + signature.inputs().keySet());
    }
    if (spec.dtype() != Tensor.DType.FLOAT) {
      throw new IllegalArgumentException(
          "Model input '" + inputName + "' is " + spec + "; feature vectors are float");
    }
  }

  @Override
  public Coder<TensorExample> exampleCoder() {
    return TensorExampleCoder.of();
  }

  /** The columns, for messages. */
  public List<String> describe() {
    return columns == null ? List.of(field) : new ArrayList<>(columns);
  }
}
