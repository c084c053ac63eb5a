package dev.batchinference.pipelines.sinks;

import dev.batchinference.transforms.Failure;
import dev.batchinference.transforms.io.FailureRows;
import dev.batchinference.transforms.io.PostgresConnection;
import dev.batchinference.transforms.io.WritePostgres;
import dev.batchinference.transforms.model.ModelFiles;
import java.nio.charset.StandardCharsets;
import java.util.List;
import org.apache.beam.sdk.coders.StringUtf8Coder;
import org.apache.beam.sdk.schemas.Schema;
import org.apache.beam.sdk.transforms.Combine;
import org.apache.beam.sdk.transforms.SerializableFunction;
import org.apache.beam.sdk.transforms.Values;
import org.apache.beam.sdk.transforms.WithKeys;
import org.apache.beam.sdk.values.PCollection;
import org.apache.beam.sdk.values.Row;
import org.apache.beam.sdk.values.TypeDescriptors;
import org.checkerframework.checker.nullness.qual.Nullable;

/** PostgreSQL writes of a {@link Sink.PostgresTable}: keys, one row per key, and table creation. */
public final class Databases {

  /**
   * Failure rows are keyed by a hash of where the record was, the stage, its id and its input: the
   * same failure again replaces its row, and distinct failures never share one (BigQuery rows all
   * have index -1, so source and index alone would not do).
   */
  static final List<String> FAILURE_KEY = List.of("failure_key");

  /** Prediction rows are keyed by the record's id: a re-run replaces them. */
  static final List<String> PREDICTION_KEY = List.of("id");

  /** The failure columns, with the key first. */
  static final Schema FAILURE_SCHEMA =
      Schema.builder()
          .addStringField("failure_key")
          .addFields(FailureRows.SCHEMA.getFields())
          .build();

  /** A failure's row for the database: its key, then its fields. */
  static Row failureRow(Failure f) {
    String key =
        ModelFiles.sha256(
            String.join(
                    "\u0000",
                    f.source(),
                    Long.toString(f.index()),
                    f.stage().label(),
                    String.valueOf(f.id()),
                    String.valueOf(f.input()))
                .getBytes(StandardCharsets.UTF_8));
    Row fields = FailureRows.of().apply(f);
    return Row.withSchema(FAILURE_SCHEMA).addValue(key).addValues(fields.getValues()).build();
  }

  private Databases() {}

  /** The connection of {@code --jdbcUrl}, {@code --jdbcUser} and the password's source. */
  public static PostgresConnection connection(
      String url, String user, @Nullable String passwordEnv, @Nullable String passwordFile) {
    return PostgresConnection.of(url, user, passwordEnv, passwordFile);
  }

  static WritePostgres predictions(Sink.PostgresTable sink) {
    return WritePostgres.to(sink.connection(), sink.table(), PREDICTION_KEY);
  }

  static WritePostgres failures(Sink.PostgresTable sink) {
    return WritePostgres.to(sink.connection(), sink.table(), FAILURE_KEY);
  }

  /**
   * One row per key (the one read last: greatest source, then index), since PostgreSQL refuses to
   * upsert one key twice in a statement. Records with the same id are allowed in the input.
   */
  static PCollection<Row> onePerKey(PCollection<Row> rows, List<String> key) {
    Schema schema = rows.getSchema();
    SerializableFunction<Row, String> keyOf =
        r -> {
          StringBuilder b = new StringBuilder();
          for (String k : key) {
            b.append(String.valueOf((Object) r.getValue(k))).append('\u0000');
          }
          return b.toString();
        };
    return rows.apply("KeyedByTableKey", WithKeys.of(keyOf).withKeyType(TypeDescriptors.strings()))
        .setCoder(org.apache.beam.sdk.coders.KvCoder.of(StringUtf8Coder.of(), rows.getCoder()))
        .apply("OnePerKey", Combine.perKey(new LastRead()))
        .apply("Rows", Values.create())
        .setRowSchema(schema);
  }

  /** Of two rows with one key, the later in the input. */
  static final class LastRead extends Combine.BinaryCombineFn<Row> {
    @Override
    public Row apply(Row a, Row b) {
      int bySource = a.getString("source").compareTo(b.getString("source"));
      if (bySource != 0) {
        return bySource > 0 ? a : b;
      }
      return a.getInt64("index") >= b.getInt64("index") ? a : b;
    }
  }

  /** Creates the PostgreSQL tables among the job's sinks when missing, before any data is read. */
  public static void createTables(Sink predictions, Sink failures, Schema predictionSchema)
      throws Exception {
    if (predictions instanceof Sink.PostgresTable) {
      predictions((Sink.PostgresTable) predictions).createTableIfMissing(predictionSchema);
    }
    if (failures instanceof Sink.PostgresTable) {
      failures((Sink.PostgresTable) failures).createTableIfMissing(FAILURE_SCHEMA);
    }
  }
}
