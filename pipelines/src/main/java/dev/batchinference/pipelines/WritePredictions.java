package dev.batchinference.pipelines;

import dev.batchinference.pipelines.BatchInferenceOptions.OutputFormat;
import dev.batchinference.pipelines.BatchInferenceOptions.TableWriteMethod;
import dev.batchinference.transforms.Failure;
import dev.batchinference.transforms.Prediction;
import dev.batchinference.transforms.TupleOutput;
import dev.batchinference.transforms.io.JsonLines;
import dev.batchinference.transforms.io.PredictionRows;
import dev.batchinference.transforms.io.WriteParquet;
import java.util.List;
import org.apache.beam.sdk.Pipeline;
import org.apache.beam.sdk.coders.StringUtf8Coder;
import org.apache.beam.sdk.io.TextIO;
import org.apache.beam.sdk.io.WriteFilesResult;
import org.apache.beam.sdk.io.gcp.bigquery.WriteResult;
import org.apache.beam.sdk.transforms.Create;
import org.apache.beam.sdk.transforms.MapElements;
import org.apache.beam.sdk.transforms.PTransform;
import org.apache.beam.sdk.transforms.Values;
import org.apache.beam.sdk.values.PCollection;
import org.apache.beam.sdk.values.PCollectionTuple;
import org.apache.beam.sdk.values.Row;
import org.apache.beam.sdk.values.TupleTag;
import org.apache.beam.sdk.values.TypeDescriptors;

/**
 * Writes predictions where the options say: a BigQuery table ({@code --outputTable}), or files in
 * the output directory, {@code predictions-*.jsonl} or {@code predictions-*.parquet}. Its outputs
 * are the predictions the sink refused (rows the Storage Write API rejected), as failures of stage
 * {@code write} (other sinks either take every prediction or fail the job), and the names of the
 * files it wrote.
 */
final class WritePredictions extends PTransform<PCollection<Prediction>, WritePredictions.Result> {

  private static final TupleTag<Failure> REFUSED = new TupleTag<Failure>() {};
  private static final TupleTag<String> FILES = new TupleTag<String>() {};

  /** What the sink refused, and the files it wrote (none for a table). */
  static final class Result extends TupleOutput {
    private Result(PCollectionTuple tuple) {
      super(tuple);
    }

    PCollection<Failure> refused() {
      return tuple.get(REFUSED);
    }

    PCollection<String> files() {
      return tuple.get(FILES);
    }
  }

  private final BatchInferenceOptions options;
  private final PredictionRows rows;
  private final String outputDir;
  private final List<String> inputFiles;

  /**
   * @param rows the prediction fields of this job, for the typed sinks
   * @param outputDir the resolved output directory, for file sinks
   */
  WritePredictions(
      BatchInferenceOptions options,
      PredictionRows rows,
      String outputDir,
      List<String> inputFiles) {
    this.options = options;
    this.rows = rows;
    this.outputDir = outputDir;
    this.inputFiles = inputFiles;
  }

  @Override
  public Result expand(PCollection<Prediction> predictions) {
    Pipeline pipeline = predictions.getPipeline();
    PCollection<Failure> refused = null;
    PCollection<String> files = null;
    String table = options.getOutputTable();
    String dbTable = options.getPredictionsDbTable();
    if (JobPlan.notEmpty(dbTable)) {
      Databases.onePerKey(toRows(predictions), Databases.PREDICTION_KEY)
          .apply("WritePostgres", Databases.predictions(options));
    } else if (JobPlan.notEmpty(table)) {
      WriteResult result =
          toRows(predictions).apply("WriteTable", Tables.write(options, table, rows.schema()));
      if (options.getBigQueryWriteMethod() == TableWriteMethod.STORAGE_WRITE_API) {
        refused = Tables.refusedRows(result, table);
      }
    } else if (options.getOutputFormat() == OutputFormat.PARQUET) {
      files =
          filenames(
              toRows(predictions)
                  .apply(
                      "WriteParquet",
                      WriteParquet.to(outputDir, BatchInference.PREDICTIONS)
                          .withNumShards(options.getSingleOutputFile() ? 1 : 0)));
    } else if (options.getOrderedOutput()) {
      files =
          predictions.apply(
              "WriteInInputOrder",
              new WriteOrderedJsonLines(outputDir, inputFiles, options.getSingleOutputFile()));
    } else {
      files =
          filenames(
              predictions
                  .apply(
                      "ToJson",
                      MapElements.into(TypeDescriptors.strings()).via(JsonLines::prediction))
                  .apply(
                      "WriteJsonLines", jsonLines(options, outputDir, BatchInference.PREDICTIONS)));
    }
    if (refused == null) {
      refused = pipeline.apply("NothingRefused", Create.empty(Failure.Coder.of()));
    }
    if (files == null) {
      files = pipeline.apply("NoFiles", Create.empty(StringUtf8Coder.of()));
    }
    return new Result(PCollectionTuple.of(REFUSED, refused).and(FILES, files));
  }

  /** The names of the files a write produced. */
  static PCollection<String> filenames(WriteFilesResult<Void> written) {
    return written
        .getPerDestinationOutputFilenames()
        .apply("WrittenFiles", Values.create())
        .setCoder(StringUtf8Coder.of());
  }

  private PCollection<Row> toRows(PCollection<Prediction> predictions) {
    return predictions
        .apply("ToRows", MapElements.into(TypeDescriptors.rows()).via(rows))
        .setRowSchema(rows.schema());
  }

  /** JSON Lines files {@code name-*.jsonl} in {@code outputDir}; one file if the options say so. */
  static TextIO.TypedWrite<String, Void> jsonLines(
      BatchInferenceOptions options, String outputDir, String name) {
    TextIO.Write write = TextIO.write().to(outputDir + name).withSuffix(".jsonl");
    return (options.getSingleOutputFile() ? write.withoutSharding() : write).withOutputFilenames();
  }
}
