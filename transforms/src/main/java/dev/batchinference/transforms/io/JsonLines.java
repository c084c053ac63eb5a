package dev.batchinference.transforms.io;

import com.fasterxml.jackson.core.JsonFactory;
import com.fasterxml.jackson.core.JsonGenerator;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.batchinference.transforms.Failure;
import dev.batchinference.transforms.Prediction;
import dev.batchinference.transforms.tensor.Tensor;
import java.io.IOException;
import java.io.StringWriter;
import java.io.UncheckedIOException;
import java.util.Map;
import java.util.Set;
import org.checkerframework.checker.nullness.qual.Nullable;

/**
 * JSON Lines renderings of predictions and failures, one object per record.
 *
 * <p>A prediction: {@code id}, {@code source}, {@code index}, the carried fields, {@code
 * model_name}, {@code model_sha256}, {@code input_sha256} (of the record as read), {@code
 * settings_sha256} (of the job's prediction settings, when the job gives it), then its fields:
 * {@code embedding}; {@code label}, {@code label_index}, {@code score}, {@code top_k} ({@code
 * [{"label", "score"}]}); or {@code outputs} ({@code {name: nested array}}). A failure: {@code id},
 * {@code source}, {@code index}, {@code stage}, {@code error_class}, {@code error}, {@code input}.
 */
public final class JsonLines {

  /** Names a carried field may not take, because predictions use them. */
  public static final Set<String> RESERVED =
      Set.of(
          "id",
          "source",
          "index",
          "model_name",
          "model_sha256",
          "input_sha256",
          "settings_sha256",
          "embedding",
          "label",
          "label_index",
          "score",
          "top_k",
          "outputs");

  private static final ObjectMapper JSON = new ObjectMapper();
  private static final JsonFactory FACTORY = JSON.getFactory();

  private JsonLines() {}

  public static String prediction(Prediction p) {
    return prediction(p, null);
  }

  /**
   * The prediction with {@code settings_sha256}, the hash of the job's prediction settings, after
   * {@code input_sha256} (left out when null).
   */
  public static String prediction(Prediction p, @Nullable String settingsSha256) {
    StringWriter out = new StringWriter(256);
    try (JsonGenerator g = FACTORY.createGenerator(out)) {
      g.writeStartObject();
      g.writeStringField("id", p.meta().id());
      g.writeStringField("source", p.meta().source());
      g.writeNumberField("index", p.meta().index());
      if (p.meta().carriedJson() != null) {
        for (Map.Entry<String, String> f : JsonValueText.of(p.meta().carriedJson()).entrySet()) {
          g.writeFieldName(f.getKey());
          g.writeRawValue(f.getValue()); // as the input wrote it, not as a double rounds it
        }
      }
      g.writeStringField("model_name", p.model().name());
      g.writeStringField("model_sha256", p.model().sha256());
      if (p.meta().contentSha256() != null) {
        g.writeStringField("input_sha256", p.meta().contentSha256());
      }
      if (settingsSha256 != null) {
        g.writeStringField("settings_sha256", settingsSha256);
      }
      if (p.embedding() != null) {
        g.writeFieldName("embedding");
        writeFloats(g, p.embedding());
      }
      if (p.label() != null) {
        g.writeStringField("label", p.label());
        g.writeNumberField("label_index", p.labelIndex());
        g.writeNumberField("score", p.score());
      }
      if (p.topLabels() != null) {
        g.writeArrayFieldStart("top_k");
        for (int i = 0; i < p.topLabels().length; i++) {
          g.writeStartObject();
          g.writeStringField("label", p.topLabels()[i]);
          g.writeNumberField("score", p.topScores()[i]);
          g.writeEndObject();
        }
        g.writeEndArray();
      }
      if (p.outputs() != null) {
        g.writeObjectFieldStart("outputs");
        for (Map.Entry<String, Tensor> t : p.outputs().asMap().entrySet()) {
          g.writeFieldName(t.getKey());
          writeNested(g, t.getValue(), 0, 0);
        }
        g.writeEndObject();
      }
      g.writeEndObject();
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
    return out.toString();
  }

  public static String failure(Failure f) {
    StringWriter out = new StringWriter(256);
    try (JsonGenerator g = FACTORY.createGenerator(out)) {
      g.writeStartObject();
      g.writeStringField("id", f.id());
      g.writeStringField("source", f.source());
      g.writeNumberField("index", f.index());
      g.writeStringField("stage", f.stage().label());
      g.writeStringField("error_class", f.errorClass());
      g.writeStringField("error", f.message());
      g.writeStringField("input", f.input());
      g.writeEndObject();
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
    return out.toString();
  }

  private static void writeFloats(JsonGenerator g, float[] values) throws IOException {
    g.writeStartArray();
    for (float v : values) {
      g.writeNumber(v);
    }
    g.writeEndArray();
  }

  /** Writes a tensor as nested arrays following its shape; returns the next flat index. */
  private static int writeNested(JsonGenerator g, Tensor t, int dim, int flat) throws IOException {
    if (dim == t.rank()) {
      switch (t.dtype()) {
        case FLOAT:
          g.writeNumber(((float[]) t.data())[flat]);
          break;
        case FLOAT16:
        case BFLOAT16:
          // Every float16 and bfloat16 value is a float exactly; written as the shortest float.
          g.writeNumber((float) t.getAsDouble(flat));
          break;
        case DOUBLE:
          g.writeNumber(((double[]) t.data())[flat]);
          break;
        case BOOL:
          g.writeBoolean(((byte[]) t.data())[flat] != 0);
          break;
        case STRING:
          g.writeString(((String[]) t.data())[flat]);
          break;
        default:
          // Integers as JSON integers, int64 included: never through a double.
          g.writeNumber(t.getAsLong(flat));
          break;
      }
      return flat + 1;
    }
    g.writeStartArray();
    for (long i = 0; i < t.dim(dim); i++) {
      flat = writeNested(g, t, dim + 1, flat);
    }
    g.writeEndArray();
    return flat;
  }
}
