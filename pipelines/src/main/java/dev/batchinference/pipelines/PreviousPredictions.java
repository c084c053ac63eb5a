package dev.batchinference.pipelines;

import ai.onnxruntime.platform.Fp16Conversions;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.batchinference.transforms.Prediction;
import dev.batchinference.transforms.RecordMeta;
import dev.batchinference.transforms.io.JsonLines;
import dev.batchinference.transforms.model.ModelIdentity;
import dev.batchinference.transforms.tensor.Tensor;
import dev.batchinference.transforms.tensor.TensorExample;
import java.io.IOException;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Turns a prediction an earlier run wrote (a JSON Lines object, or a Parquet row read as JSON) back
 * into a {@link Prediction}, so that an incremental run carries it forward through the same sink as
 * its new predictions, with the same fields and values: floats are read back as the floats they
 * were written from, carried fields are every field that is not a prediction field, and the raw
 * outputs' element types are the model's.
 */
public final class PreviousPredictions {

  /** Decimals as written, so that each is rounded once, to the type it was written from. */
  private static final ObjectMapper JSON =
      new ObjectMapper().enable(DeserializationFeature.USE_BIG_DECIMAL_FOR_FLOATS);

  private PreviousPredictions() {}

  /**
   * The prediction in {@code json}.
   *
   * @param outputTypes the element type of each model output, for raw outputs (JSON does not say
   *     whether {@code 1.5} was a float or a double); outputs not named are floats, or longs when
   *     every value is an integer
   */
  static Prediction parse(String json, Map<String, Tensor.DType> outputTypes) throws IOException {
    JsonNode p = JSON.readTree(json);
    ObjectNode carried = JSON.createObjectNode();
    Iterator<Map.Entry<String, JsonNode>> fields = p.fields();
    while (fields.hasNext()) {
      Map.Entry<String, JsonNode> f = fields.next();
      if (!JsonLines.RESERVED.contains(f.getKey())) {
        carried.set(f.getKey(), f.getValue());
      }
    }
    RecordMeta meta =
        RecordMeta.of(
            p.path("id").asText(),
            p.path("source").asText(),
            p.path("index").asLong(),
            carried.isEmpty() ? null : carried.toString(),
            text(p.get("input_sha256")));
    Prediction.Builder b =
        Prediction.builder(
            meta, ModelIdentity.of(p.path("model_name").asText(), p.path("model_sha256").asText()));
    JsonNode embedding = p.get("embedding");
    if (embedding != null && embedding.isArray()) {
      b.embedding(floats(embedding));
    }
    JsonNode label = p.get("label");
    if (label != null && label.isTextual()) {
      b.label(label.asText(), p.path("label_index").asInt(), toFloat(p.path("score")));
    }
    JsonNode topK = p.get("top_k");
    if (topK != null && topK.isArray()) {
      String[] labels = new String[topK.size()];
      float[] scores = new float[topK.size()];
      for (int i = 0; i < labels.length; i++) {
        labels[i] = topK.get(i).path("label").asText();
        scores[i] = toFloat(topK.get(i).path("score"));
      }
      b.topK(labels, scores);
    }
    JsonNode outputs = p.get("outputs");
    if (outputs != null && (outputs.isObject() || outputs.isArray())) {
      b.outputs(outputs(outputs, outputTypes));
    }
    return b.build();
  }

  private static String text(JsonNode node) {
    return node == null || node.isNull() ? null : node.asText();
  }

  /** The float a number's text names, rounded once (not through a double). */
  private static float toFloat(JsonNode node) {
    return node.isNumber() ? Float.parseFloat(node.numberValue().toString()) : Float.NaN;
  }

  private static float[] floats(JsonNode array) {
    float[] values = new float[array.size()];
    for (int i = 0; i < values.length; i++) {
      values[i] = toFloat(array.get(i));
    }
    return values;
  }

  /**
   * Raw outputs as JSON Lines writes them ({@code {name: nested arrays}}) or as Parquet rows hold
   * them ({@code [{name, shape, values}]}, values flattened).
   */
  private static TensorExample outputs(JsonNode outputs, Map<String, Tensor.DType> types) {
    Map<String, Tensor> tensors = new LinkedHashMap<>();
    if (outputs.isObject()) {
      Iterator<Map.Entry<String, JsonNode>> it = outputs.fields();
      while (it.hasNext()) {
        Map.Entry<String, JsonNode> o = it.next();
        List<Long> shape = new ArrayList<>();
        for (JsonNode n = o.getValue(); n.isArray(); n = n.size() > 0 ? n.get(0) : null) {
          shape.add((long) n.size());
          if (n.size() == 0) {
            break;
          }
        }
        List<JsonNode> values = new ArrayList<>();
        flatten(o.getValue(), values);
        tensors.put(o.getKey(), tensor(types.get(o.getKey()), values, shape));
      }
    } else {
      for (JsonNode o : outputs) {
        List<Long> shape = new ArrayList<>();
        o.path("shape").forEach(d -> shape.add(d.asLong()));
        List<JsonNode> values = new ArrayList<>();
        o.path("values").forEach(values::add);
        tensors.put(
            o.path("name").asText(), tensor(types.get(o.path("name").asText()), values, shape));
      }
    }
    return TensorExample.of(tensors);
  }

  private static void flatten(JsonNode node, List<JsonNode> out) {
    if (node.isArray()) {
      node.forEach(n -> flatten(n, out));
    } else {
      out.add(node);
    }
  }

  private static Tensor tensor(Tensor.DType type, List<JsonNode> values, List<Long> shapeList) {
    long[] shape = shapeList.stream().mapToLong(Long::longValue).toArray();
    if (type == null) {
      type =
          values.stream().allMatch(JsonNode::isIntegralNumber)
              ? Tensor.DType.INT64
              : Tensor.DType.FLOAT;
    }
    int n = values.size();
    switch (type) {
      case DOUBLE:
        double[] d = new double[n];
        for (int i = 0; i < n; i++) {
          d[i] = Double.parseDouble(values.get(i).numberValue().toString());
        }
        return Tensor.ofDoubles(d, shape);
      case INT32:
        int[] ints = new int[n];
        for (int i = 0; i < n; i++) {
          ints[i] = values.get(i).intValue();
        }
        return Tensor.ofInts(ints, shape);
      case INT64:
        long[] longs = new long[n];
        for (int i = 0; i < n; i++) {
          longs[i] = values.get(i).longValue();
        }
        return Tensor.ofLongs(longs, shape);
      case INT8:
      case UINT8:
      case BOOL:
        byte[] bytes = new byte[n];
        for (int i = 0; i < n; i++) {
          JsonNode v = values.get(i);
          bytes[i] = (byte) (v.isBoolean() ? (v.booleanValue() ? 1 : 0) : v.intValue());
        }
        return Tensor.of(type, bytes, shape);
      case INT16:
      case FLOAT16:
      case BFLOAT16:
        short[] shorts = new short[n];
        for (int i = 0; i < n; i++) {
          shorts[i] =
              type == Tensor.DType.INT16
                  ? (short) values.get(i).intValue()
                  : type == Tensor.DType.FLOAT16
                      ? Fp16Conversions.floatToFp16(toFloat(values.get(i)))
                      : Fp16Conversions.floatToBf16(toFloat(values.get(i)));
        }
        return Tensor.of(type, shorts, shape);
      case STRING:
        String[] strings = new String[n];
        for (int i = 0; i < n; i++) {
          strings[i] = values.get(i).asText();
        }
        return Tensor.ofStrings(strings, shape);
      default:
        float[] f = new float[n];
        for (int i = 0; i < n; i++) {
          f[i] = toFloat(values.get(i));
        }
        return Tensor.ofFloats(f, shape);
    }
  }
}
