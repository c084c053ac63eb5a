package dev.batchinference.transforms.io;

import dev.batchinference.transforms.Failure;
import org.apache.beam.sdk.schemas.Schema;
import org.apache.beam.sdk.schemas.Schema.FieldType;
import org.apache.beam.sdk.transforms.SerializableFunction;
import org.apache.beam.sdk.values.Row;

/**
 * Failures as Beam {@link Row}s for the typed sinks: {@code id} (null when the record was never
 * identified), {@code source}, {@code index}, {@code stage}, {@code error_class}, {@code error} and
 * {@code input} (the record as read, to replay it). Field names match the JSON Lines output.
 */
public final class FailureRows implements SerializableFunction<Failure, Row> {

  public static final Schema SCHEMA =
      Schema.builder()
          .addNullableField("id", FieldType.STRING)
          .addStringField("source")
          .addInt64Field("index")
          .addStringField("stage")
          .addStringField("error_class")
          .addStringField("error")
          .addNullableField("input", FieldType.STRING)
          .build();

  private FailureRows() {}

  public static FailureRows of() {
    return new FailureRows();
  }

  @Override
  public Row apply(Failure f) {
    return Row.withSchema(SCHEMA)
        .addValues(
            f.id(),
            f.source(),
            f.index(),
            f.stage().label(),
            f.errorClass(),
            f.message(),
            f.input())
        .build();
  }
}
