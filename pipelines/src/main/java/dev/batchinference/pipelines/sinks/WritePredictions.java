package dev.batchinference.pipelines.sinks;

import dev.batchinference.pipelines.BatchInference;
import dev.batchinference.pipelines.JobPlan;
import dev.batchinference.pipelines.options.BatchInferenceOptions;
import dev.batchinference.pipelines.options.BigQueryIoOptions.TableWriteMethod;
import dev.batchinference.pipelines.options.OutputOptions.OutputFormat;
import dev.batchinference.transforms.Failure;
import dev.batchinference.transforms.Prediction;
import dev.batchinference.transforms.RecordMeta;
import dev.batchinference.transforms.TupleOutput;
import dev.batchinference.transforms.io.JsonLines;
import dev.batchinference.transforms.io.PredictionRows;
import dev.batchinference.transforms.io.WriteParquet;
import java.util.List;
import org.apache.beam.sdk.Pipeline;
import org.apache.beam.sdk.coders.StringUtf8Coder;
import org.apache.beam.sdk.coders.VarLongCoder;
import org.apache.beam.sdk.io.TextIO;
import org.apache.beam.sdk.io.WriteFilesResult;
import org.apache.beam.sdk.io.gcp.bigquery.WriteResult;
import org.apache.beam.sdk.transforms.Count;
import org.apache.beam.sdk.transforms.Create;
import org.apache.beam.sdk.transforms.Flatten;
import org.apache.beam.sdk.transforms.MapElements;
import org.apache.beam.sdk.transforms.PTransform;
import org.apache.beam.sdk.transforms.Values;
import org.apache.beam.sdk.transforms.Wait;
import org.apache.beam.sdk.values.KV;
import org.apache.beam.sdk.values.PCollection;
import org.apache.beam.sdk.values.PCollectionList;
import org.apache.beam.sdk.values.PCollectionTuple;
import org.apache.beam.sdk.values.Row;
import org.apache.beam.sdk.values.TupleTag;
import org.apache.beam.sdk.values.TypeDescriptors;
import org.checkerframework.checker.nullness.qual.Nullable;

/**
 * Writes predictions where the options say: a BigQuery table ({@code --outputTable}), a PostgreSQL
 * table ({@code --predictionsDbTable}), or files in the output directory, {@code
 * predictions-*.jsonl} or {@code predictions-*.parquet}. With {@link #withCarriedForward} an
 * incremental run's previous predictions go through the same sink, unchanged, so that its output
 * holds every record.
 *
 * <p>Its outputs: the predictions the sink refused (rows the Storage Write API rejected), as
 * failures of stage {@code write} (other sinks either take every prediction or fail the job); the
 * names of the files it wrote; and what the sink accepted, counted once it finished: the records in
 * each finalized file, the rows BigQuery confirmed (Storage Write API) or loaded, the rows
 * PostgreSQL took; and how many rows the PostgreSQL upsert collapsed because records shared an id.
 */
public final class WritePredictions
    extends PTransform<PCollection<Prediction>, WritePredictions.Result> {

  private static final TupleTag<Failure> REFUSED = new TupleTag<Failure>() {};
  private static final TupleTag<String> FILES = new TupleTag<String>() {};
  private static final TupleTag<Long> ACCEPTED = new TupleTag<Long>() {};
  private static final TupleTag<Long> COLLAPSED = new TupleTag<Long>() {};

  /** What the sink refused, the files it wrote (none for a table), and what it accepted. */
  public static final class Result extends TupleOutput {
    private Result(PCollectionTuple tuple) {
      super(tuple);
    }

    public PCollection<Failure> refused() {
      return tuple.get(REFUSED);
    }

    public PCollection<String> files() {
      return tuple.get(FILES);
    }

    /**
     * Counts (to be summed) of the records the sink holds after it finished, carried-forward
     * records included; available only once the sink is done, so it doubles as its signal.
     */
    public PCollection<Long> accepted() {
      return tuple.get(ACCEPTED);
    }

    /** Counts (to be summed) of the rows that the PostgreSQL upsert merged with another. */
    public PCollection<Long> collapsed() {
      return tuple.get(COLLAPSED);
    }
  }

  private final BatchInferenceOptions options;
  private final PredictionRows rows;
  private final String outputDir;
  private final List<String> inputFiles;
  private final @Nullable PCollection<KV<RecordMeta, Prediction>> carried;

  /**
   * @param rows the prediction fields of this job, for the typed sinks
   * @param outputDir the resolved output directory, for file sinks
   */
  public WritePredictions(
      BatchInferenceOptions options,
      PredictionRows rows,
      String outputDir,
      List<String> inputFiles) {
    this(options, rows, outputDir, inputFiles, null);
  }

  private WritePredictions(
      BatchInferenceOptions options,
      PredictionRows rows,
      String outputDir,
      List<String> inputFiles,
      @Nullable PCollection<KV<RecordMeta, Prediction>> carried) {
    this.options = options;
    this.rows = rows;
    this.outputDir = outputDir;
    this.inputFiles = inputFiles;
    this.carried = carried;
  }

  /**
   * Also writes {@code carried}: the previous predictions of the records an incremental run
   * skipped, each with the record it stands for (whose position orders it in an ordered output).
   * They are written as they were read.
   */
  public WritePredictions withCarriedForward(PCollection<KV<RecordMeta, Prediction>> carried) {
    return new WritePredictions(options, rows, outputDir, inputFiles, carried);
  }

  @Override
  public Result expand(PCollection<Prediction> predictions) {
    Pipeline pipeline = predictions.getPipeline();
    PCollection<Prediction> previous =
        carried == null
            ? pipeline.apply("NothingCarried", Create.empty(Prediction.Coder.of()))
            : carried.apply("CarriedPredictions", Values.create()).setCoder(Prediction.Coder.of());
    PCollection<Prediction> all =
        PCollectionList.of(predictions)
            .and(previous)
            .apply("WithCarriedForward", Flatten.pCollections());
    String settings = rows.settingsSha256();
    PCollection<Failure> refused = null;
    PCollection<String> files = null;
    PCollection<Long> accepted;
    PCollection<Long> collapsed = null;
    String table = options.getOutputTable();
    String dbTable = options.getPredictionsDbTable();
    if (JobPlan.notEmpty(dbTable)) {
      PCollection<Row> sent = toRows(all);
      PCollection<Row> onePerId = Databases.onePerKey(sent, Databases.PREDICTION_KEY);
      PCollection<Void> done = onePerId.apply("WritePostgres", Databases.predictions(options));
      accepted =
          count(
              "CountUpserted",
              onePerId.apply("AfterUpsert", Wait.on(done)).setCoder(onePerId.getCoder()));
      collapsed =
          PCollectionList.of(count("CountSent", sent))
              .and(
                  count("CountKept", onePerId)
                      .apply(
                          "Negated", MapElements.into(TypeDescriptors.longs()).via((Long n) -> -n)))
              .apply("SentMinusKept", Flatten.pCollections());
    } else if (JobPlan.notEmpty(table)) {
      PCollection<Row> sent = toRows(all);
      if (options.getBigQueryWriteMethod() == TableWriteMethod.STORAGE_WRITE_API) {
        WriteResult result =
            sent.apply(
                "WriteTable",
                Tables.write(options, table, rows.schema())
                    .withPropagateSuccessfulStorageApiWrites(true));
        refused = Tables.refusedRows(result, table);
        accepted = count("CountConfirmed", result.getSuccessfulStorageApiInserts());
      } else {
        WriteResult result = sent.apply("WriteTable", Tables.write(options, table, rows.schema()));
        // A load job takes all of its file or fails the job: once the loads are done, every row
        // sent is in the table.
        accepted =
            count(
                "CountLoaded",
                sent.apply("AfterLoads", Wait.on(result.getSuccessfulTableLoads()))
                    .setCoder(sent.getCoder()));
      }
    } else if (options.getOutputFormat() == OutputFormat.PARQUET) {
      files =
          filenames(
              toRows(all)
                  .apply(
                      "WriteParquet",
                      WriteParquet.to(outputDir, BatchInference.PREDICTIONS)
                          .withNumShards(options.getSingleOutputFile() ? 1 : 0)));
      accepted = files.apply("CountWrittenRecords", WrittenRecords.perFile());
    } else if (options.getOrderedOutput()) {
      WriteOrderedJsonLines ordered =
          new WriteOrderedJsonLines(outputDir, inputFiles, options.getSingleOutputFile())
              .withSettingsSha256(settings);
      if (carried != null) {
        ordered = ordered.withCarriedForward(carried);
      }
      files = predictions.apply("WriteInInputOrder", ordered);
      accepted = files.apply("CountWrittenRecords", WrittenRecords.perFile());
    } else {
      files =
          filenames(
              all.apply(
                      "ToJson",
                      MapElements.into(TypeDescriptors.strings())
                          .via((Prediction p) -> JsonLines.prediction(p, settings)))
                  .apply(
                      "WriteJsonLines", jsonLines(options, outputDir, BatchInference.PREDICTIONS)));
      accepted = files.apply("CountWrittenRecords", WrittenRecords.perFile());
    }
    if (refused == null) {
      refused = pipeline.apply("NothingRefused", Create.empty(Failure.Coder.of()));
    }
    if (files == null) {
      files = pipeline.apply("NoFiles", Create.empty(StringUtf8Coder.of()));
    }
    if (collapsed == null) {
      collapsed = pipeline.apply("NothingCollapsed", Create.empty(VarLongCoder.of()));
    }
    return new Result(
        PCollectionTuple.of(REFUSED, refused)
            .and(FILES, files)
            .and(ACCEPTED, accepted)
            .and(COLLAPSED, collapsed));
  }

  private static <T> PCollection<Long> count(String name, PCollection<T> elements) {
    return elements.apply(name, Count.globally());
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
