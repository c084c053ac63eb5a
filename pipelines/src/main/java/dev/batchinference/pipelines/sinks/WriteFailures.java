package dev.batchinference.pipelines.sinks;

import dev.batchinference.transforms.Failure;
import dev.batchinference.transforms.io.FailureRows;
import dev.batchinference.transforms.io.JsonLines;
import dev.batchinference.transforms.io.WriteParquet;
import org.apache.beam.sdk.coders.StringUtf8Coder;
import org.apache.beam.sdk.io.gcp.bigquery.WriteResult;
import org.apache.beam.sdk.transforms.Create;
import org.apache.beam.sdk.transforms.MapElements;
import org.apache.beam.sdk.transforms.PTransform;
import org.apache.beam.sdk.transforms.Wait;
import org.apache.beam.sdk.transforms.display.DisplayData;
import org.apache.beam.sdk.values.PCollection;
import org.apache.beam.sdk.values.Row;
import org.apache.beam.sdk.values.TypeDescriptors;

/**
 * Writes failures, the dead letter, to a {@link Sink}: a BigQuery table ({@code --failuresTable}),
 * or files in the output directory, {@code failures-*.jsonl} or {@code failures-*.parquet}.
 */
public final class WriteFailures extends PTransform<PCollection<Failure>, PCollection<String>> {

  private final Sink sink;

  public WriteFailures(Sink sink) {
    this.sink = sink;
  }

  @Override
  public void populateDisplayData(DisplayData.Builder builder) {
    super.populateDisplayData(builder);
    builder.add(DisplayData.item("sink", sink.describe()).withLabel("Failures go to"));
  }

  /**
   * Returns the names of the files written (none for a table; then an empty collection that is
   * complete once the table write is, for {@code Wait.on}).
   */
  @Override
  public PCollection<String> expand(PCollection<Failure> failures) {
    if (sink instanceof Sink.PostgresTable) {
      PCollection<Row> rows =
          failures
              .apply(
                  "ToKeyedRows",
                  MapElements.into(TypeDescriptors.rows()).via(Databases::failureRow))
              .setRowSchema(Databases.FAILURE_SCHEMA);
      PCollection<Void> done =
          Databases.onePerKey(rows, Databases.FAILURE_KEY)
              .apply("WritePostgres", Databases.failures((Sink.PostgresTable) sink));
      return noFilesAfter(failures, done);
    } else if (sink instanceof Sink.BigQueryTable) {
      Sink.BigQueryTable table = (Sink.BigQueryTable) sink;
      WriteResult result =
          toRows(failures).apply("WriteTable", Tables.write(table, FailureRows.SCHEMA));
      return noFilesAfter(failures, Tables.done(result, table));
    } else if (sink instanceof Sink.ParquetFiles) {
      Sink.ParquetFiles parquet = (Sink.ParquetFiles) sink;
      return WritePredictions.filenames(
          toRows(failures)
              .apply(
                  "WriteParquet",
                  WriteParquet.to(parquet.directory(), parquet.name())
                      .withNumShards(parquet.singleFile() ? 1 : 0)));
    } else {
      return WritePredictions.writeJsonLines(
          failures, (Failure f) -> JsonLines.failure(f), (Sink.JsonLinesFiles) sink);
    }
  }

  /** No file names, complete only once {@code done} is: a table sink's signal. */
  private static PCollection<String> noFilesAfter(
      PCollection<Failure> failures, PCollection<?> done) {
    return failures
        .getPipeline()
        .apply("NoFiles", Create.empty(StringUtf8Coder.of()))
        .apply("AfterWrite", Wait.on(done))
        .setCoder(StringUtf8Coder.of());
  }

  private static PCollection<Row> toRows(PCollection<Failure> failures) {
    return failures
        .apply("ToRows", MapElements.into(TypeDescriptors.rows()).via(FailureRows.of()))
        .setRowSchema(FailureRows.SCHEMA);
  }
}
