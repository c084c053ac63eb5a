package dev.batchinference.pipelines;

import dev.batchinference.pipelines.BatchInferenceOptions.OutputFormat;
import dev.batchinference.transforms.Failure;
import dev.batchinference.transforms.io.FailureRows;
import dev.batchinference.transforms.io.JsonLines;
import dev.batchinference.transforms.io.WriteParquet;
import org.apache.beam.sdk.coders.StringUtf8Coder;
import org.apache.beam.sdk.transforms.Create;
import org.apache.beam.sdk.transforms.MapElements;
import org.apache.beam.sdk.transforms.PTransform;
import org.apache.beam.sdk.values.PCollection;
import org.apache.beam.sdk.values.Row;
import org.apache.beam.sdk.values.TypeDescriptors;

/**
 * Writes failures, the dead letter, where the options say: a BigQuery table ({@code
 * --failuresTable}), or files in the output directory, {@code failures-*.jsonl} or {@code
 * failures-*.parquet}.
 */
final class WriteFailures extends PTransform<PCollection<Failure>, PCollection<String>> {

  private final BatchInferenceOptions options;
  private final String outputDir;

  WriteFailures(BatchInferenceOptions options, String outputDir) {
    this.options = options;
    this.outputDir = outputDir;
  }

  /** Returns the names of the files written (none for a table). */
  @Override
  public PCollection<String> expand(PCollection<Failure> failures) {
    String table = options.getFailuresTable();
    String dbTable = options.getFailuresDbTable();
    if (JobPlan.notEmpty(dbTable)) {
      PCollection<Row> rows =
          failures
              .apply(
                  "ToKeyedRows",
                  MapElements.into(TypeDescriptors.rows()).via(Databases::failureRow))
              .setRowSchema(Databases.FAILURE_SCHEMA);
      Databases.onePerKey(rows, Databases.FAILURE_KEY)
          .apply("WritePostgres", Databases.failures(options));
      return failures.getPipeline().apply("NoFiles", Create.empty(StringUtf8Coder.of()));
    } else if (JobPlan.notEmpty(table)) {
      toRows(failures).apply("WriteTable", Tables.write(options, table, FailureRows.SCHEMA));
      return failures.getPipeline().apply("NoFiles", Create.empty(StringUtf8Coder.of()));
    } else if (options.getOutputFormat() == OutputFormat.PARQUET) {
      return WritePredictions.filenames(
          toRows(failures)
              .apply(
                  "WriteParquet",
                  WriteParquet.to(outputDir, BatchInference.FAILURES)
                      .withNumShards(options.getSingleOutputFile() ? 1 : 0)));
    } else {
      return WritePredictions.filenames(
          failures
              .apply("ToJson", MapElements.into(TypeDescriptors.strings()).via(JsonLines::failure))
              .apply(
                  "WriteJsonLines",
                  WritePredictions.jsonLines(options, outputDir, BatchInference.FAILURES)));
    }
  }

  private static PCollection<Row> toRows(PCollection<Failure> failures) {
    return failures
        .apply("ToRows", MapElements.into(TypeDescriptors.rows()).via(FailureRows.of()))
        .setRowSchema(FailureRows.SCHEMA);
  }
}
