package dev.batchinference.transforms.io;

import dev.batchinference.transforms.Prediction;
import dev.batchinference.transforms.tensor.Tensor;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.util.ArrayList;
import java.util.EnumSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.apache.beam.sdk.schemas.Schema;
import org.apache.beam.sdk.schemas.Schema.FieldType;
import org.apache.beam.sdk.transforms.SerializableFunction;
import org.apache.beam.sdk.values.Row;
import org.checkerframework.checker.nullness.qual.Nullable;

/**
 * Predictions as Beam {@link Row}s, for the typed sinks (Parquet files, BigQuery tables). The
 * schema is derived from what the job predicts and which fields it carries:
 *
 * <ul>
 *   <li>{@code id}, {@code source}, {@code index}: the record;
 *   <li>one nullable {@code STRING} column per carried field (a string as it is, any other JSON
 *       value as its JSON text: the input's types are not known before it is read);
 *   <li>{@code model_name}, {@code model_sha256}: the model identity; {@code input_sha256}: the
 *       record as read, and {@code settings_sha256}: the job's prediction settings, for incremental
 *       runs;
 *   <li>{@code embedding} ({@code ARRAY<FLOAT>}); {@code label}, {@code label_index}, {@code score}
 *       and {@code top_k} ({@code ARRAY<ROW<label, score>>}); or {@code outputs} ({@code
 *       ARRAY<ROW<name, shape ARRAY<INT64>, values ARRAY<DOUBLE>>>}, values flattened row-major).
 * </ul>
 *
 * <p>Field names match the JSON Lines output ({@link JsonLines}).
 */
public final class PredictionRows implements SerializableFunction<Prediction, Row> {

  /** The groups of prediction fields a job fills in. */
  public enum Content {
    EMBEDDING,
    CLASS,
    OUTPUTS
  }

  static final Schema TOP_K =
      Schema.builder().addStringField("label").addFloatField("score").build();
  static final Schema OUTPUT =
      Schema.builder()
          .addStringField("name")
          .addArrayField("shape", FieldType.INT64)
          .addArrayField("values", FieldType.DOUBLE)
          .build();

  private final Set<Content> content;
  private final List<String> carried;
  private final @Nullable String settingsSha256;
  private final Schema schema;

  private PredictionRows(
      Set<Content> content, List<String> carried, @Nullable String settingsSha256) {
    this.content = content.isEmpty() ? EnumSet.noneOf(Content.class) : EnumSet.copyOf(content);
    this.carried = List.copyOf(carried);
    this.settingsSha256 = settingsSha256;
    this.schema = buildSchema(this.content, this.carried);
  }

  /** Rows of predictions holding {@code content}, carrying the fields named in {@code carried}. */
  public static PredictionRows of(Set<Content> content, List<String> carried) {
    return new PredictionRows(content, carried, null);
  }

  /**
   * Fills the {@code settings_sha256} column of every row with the hash of the job's prediction
   * settings (what incremental runs compare besides the model and the record); null without it.
   */
  public PredictionRows withSettingsSha256(String settingsSha256) {
    return new PredictionRows(content, carried, settingsSha256);
  }

  /** The hash {@link #withSettingsSha256} set, or null. */
  public @Nullable String settingsSha256() {
    return settingsSha256;
  }

  public Schema schema() {
    return schema;
  }

  private static Schema buildSchema(Set<Content> content, List<String> carried) {
    Schema.Builder b =
        Schema.builder().addStringField("id").addStringField("source").addInt64Field("index");
    for (String field : carried) {
      b.addNullableField(field, FieldType.STRING);
    }
    b.addStringField("model_name")
        .addStringField("model_sha256")
        .addNullableField("input_sha256", FieldType.STRING)
        .addNullableField("settings_sha256", FieldType.STRING);
    if (content.contains(Content.EMBEDDING)) {
      b.addArrayField("embedding", FieldType.FLOAT);
    }
    if (content.contains(Content.CLASS)) {
      b.addNullableField("label", FieldType.STRING)
          .addNullableField("label_index", FieldType.INT64)
          .addNullableField("score", FieldType.FLOAT)
          .addArrayField("top_k", FieldType.row(TOP_K));
    }
    if (content.contains(Content.OUTPUTS)) {
      b.addArrayField("outputs", FieldType.row(OUTPUT));
    }
    return b.build();
  }

  @Override
  public Row apply(Prediction p) {
    Row.FieldValueBuilder row =
        Row.withSchema(schema)
            .withFieldValue("id", p.meta().id())
            .withFieldValue("source", p.meta().source())
            .withFieldValue("index", p.meta().index());
    Map<String, @Nullable String> carriedValues = carriedValues(p.meta().carriedJson());
    for (String field : carried) {
      row = row.withFieldValue(field, carriedValues.get(field));
    }
    row =
        row.withFieldValue("model_name", p.model().name())
            .withFieldValue("model_sha256", p.model().sha256())
            .withFieldValue("input_sha256", p.meta().contentSha256())
            .withFieldValue("settings_sha256", settingsSha256);
    if (content.contains(Content.EMBEDDING)) {
      row = row.withFieldValue("embedding", floats(p.embedding()));
    }
    if (content.contains(Content.CLASS)) {
      boolean labelled = p.label() != null;
      List<Row> topK = new ArrayList<>();
      if (p.topLabels() != null) {
        for (int i = 0; i < p.topLabels().length; i++) {
          topK.add(Row.withSchema(TOP_K).addValues(p.topLabels()[i], p.topScores()[i]).build());
        }
      }
      row =
          row.withFieldValue("label", p.label())
              .withFieldValue("label_index", labelled ? (long) p.labelIndex() : null)
              .withFieldValue("score", labelled ? p.score() : null)
              .withFieldValue("top_k", topK);
    }
    if (content.contains(Content.OUTPUTS)) {
      List<Row> outputs = new ArrayList<>();
      if (p.outputs() != null) {
        for (Map.Entry<String, Tensor> t : p.outputs().asMap().entrySet()) {
          outputs.add(output(t.getKey(), t.getValue()));
        }
      }
      row = row.withFieldValue("outputs", outputs);
    }
    return row.build();
  }

  private static Row output(String name, Tensor t) {
    List<Long> shape = new ArrayList<>(t.rank());
    for (long d : t.shape()) {
      shape.add(d);
    }
    List<Double> values = new ArrayList<>(t.size());
    for (int i = 0; i < t.size(); i++) {
      values.add(t.getAsDouble(i));
    }
    return Row.withSchema(OUTPUT).addValues(name, shape, values).build();
  }

  private static List<Float> floats(float[] values) {
    List<Float> list = new ArrayList<>(values == null ? 0 : values.length);
    if (values != null) {
      for (float v : values) {
        list.add(v);
      }
    }
    return list;
  }

  private static Map<String, @Nullable String> carriedValues(@Nullable String carriedJson) {
    if (carriedJson == null) {
      return Map.of();
    }
    try {
      // A string as its text, anything else as the input wrote it (not as a double rounds it).
      return JsonValueText.asText(carriedJson);
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }
}
