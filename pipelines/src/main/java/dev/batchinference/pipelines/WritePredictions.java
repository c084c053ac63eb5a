package dev.batchinference.pipelines;

import dev.batchinference.pipelines.BatchInferenceOptions.OutputFormat;
import dev.batchinference.pipelines.BatchInferenceOptions.TableWriteMethod;
import dev.batchinference.transforms.Failure;
import dev.batchinference.transforms.Prediction;
import dev.batchinference.transforms.io.JsonLines;
import dev.batchinference.transforms.io.PredictionRows;
import dev.batchinference.transforms.io.WriteParquet;
import org.apache.beam.sdk.io.TextIO;
import org.apache.beam.sdk.io.gcp.bigquery.WriteResult;
import org.apache.beam.sdk.transforms.Create;
import org.apache.beam.sdk.transforms.MapElements;
import org.apache.beam.sdk.transforms.PTransform;
import org.apache.beam.sdk.values.PCollection;
import org.apache.beam.sdk.values.Row;
import org.apache.beam.sdk.values.TypeDescriptors;

/**
 * Writes predictions where the options say: a BigQuery table ({@code --outputTable}), or files in
 * the output directory, {@code predictions-*.jsonl} or {@code predictions-*.parquet}. Its output is
 * the predictions the sink refused (rows the Storage Write API rejected), as failures of stage
 * {@code write}; other sinks either take every prediction or fail the job.
 */
final class WritePredictions extends PTransform<PCollection<Prediction>, PCollection<Failure>> {

  private final BatchInferenceOptions options;
  private final PredictionRows rows;
  private final String outputDir;

  /**
   * @param rows the prediction fields of this job, for the typed sinks
   * @param outputDir the resolved output directory, for file sinks
   */
  WritePredictions(BatchInferenceOptions options, PredictionRows rows, String outputDir) {
    this.options = options;
    this.rows = rows;
    this.outputDir = outputDir;
  }

  @Override
  public PCollection<Failure> expand(PCollection<Prediction> predictions) {
    String table = options.getOutputTable();
    if (table != null && !table.isEmpty()) {
      WriteResult result =
          toRows(predictions).apply("WriteTable", Tables.write(options, table, rows.schema()));
      if (options.getBigQueryWriteMethod() == TableWriteMethod.STORAGE_WRITE_API) {
        return Tables.refusedRows(result, table);
      }
    } else if (options.getOutputFormat() == OutputFormat.PARQUET) {
      toRows(predictions)
          .apply(
              "WriteParquet",
              WriteParquet.to(outputDir, BatchInference.PREDICTIONS)
                  .withNumShards(options.getSingleOutputFile() ? 1 : 0));
    } else {
      predictions
          .apply("ToJson", MapElements.into(TypeDescriptors.strings()).via(JsonLines::prediction))
          .apply("WriteJsonLines", jsonLines(options, outputDir, BatchInference.PREDICTIONS));
    }
    return predictions.getPipeline().apply("NothingRefused", Create.empty(Failure.Coder.of()));
  }

  private PCollection<Row> toRows(PCollection<Prediction> predictions) {
    return predictions
        .apply("ToRows", MapElements.into(TypeDescriptors.rows()).via(rows))
        .setRowSchema(rows.schema());
  }

  /** JSON Lines files {@code name-*.jsonl} in {@code outputDir}; one file if the options say so. */
  static TextIO.Write jsonLines(BatchInferenceOptions options, String outputDir, String name) {
    TextIO.Write write = TextIO.write().to(outputDir + name).withSuffix(".jsonl");
    return options.getSingleOutputFile() ? write.withoutSharding() : write;
  }
}
