package dev.batchinference.pipelines.sinks;

import dev.batchinference.pipelines.options.BigQueryIoOptions.TableWriteMethod;
import dev.batchinference.transforms.Failure;
import dev.batchinference.transforms.Prediction;
import dev.batchinference.transforms.RecordMeta;
import dev.batchinference.transforms.TupleOutput;
import dev.batchinference.transforms.io.JsonLines;
import dev.batchinference.transforms.io.PredictionRows;
import dev.batchinference.transforms.io.WriteParquet;
import java.util.Optional;
import org.apache.beam.sdk.Pipeline;
import org.apache.beam.sdk.coders.StringUtf8Coder;
import org.apache.beam.sdk.io.TextIO;
import org.apache.beam.sdk.io.WriteFilesResult;
import org.apache.beam.sdk.io.gcp.bigquery.WriteResult;
import org.apache.beam.sdk.transforms.Count;
import org.apache.beam.sdk.transforms.Create;
import org.apache.beam.sdk.transforms.Flatten;
import org.apache.beam.sdk.transforms.MapElements;
import org.apache.beam.sdk.transforms.PTransform;
import org.apache.beam.sdk.transforms.SerializableFunction;
import org.apache.beam.sdk.transforms.Values;
import org.apache.beam.sdk.transforms.Wait;
import org.apache.beam.sdk.transforms.display.DisplayData;
import org.apache.beam.sdk.values.KV;
import org.apache.beam.sdk.values.PCollection;
import org.apache.beam.sdk.values.PCollectionList;
import org.apache.beam.sdk.values.PCollectionTuple;
import org.apache.beam.sdk.values.Row;
import org.apache.beam.sdk.values.TupleTag;
import org.apache.beam.sdk.values.TypeDescriptors;
import org.checkerframework.checker.nullness.qual.Nullable;

/**
 * Writes predictions to a {@link Sink}: a BigQuery table ({@code --outputTable}), a PostgreSQL
 * table ({@code --predictionsDbTable}), or files in the output directory, {@code
 * predictions-*.jsonl} (in input order with {@code --orderedOutput}) or {@code
 * predictions-*.parquet}. With {@link #withCarriedForward} an incremental run's previous
 * predictions go through the same sink, unchanged, so that its output holds every record.
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

    /**
     * The predictions the sink refused (rows a table rejected), as failures of stage {@code write};
     * empty for a sink that refuses none (files).
     */
    public Optional<PCollection<Failure>> refused() {
      return tuple.has(REFUSED) ? Optional.of(tuple.get(REFUSED)) : Optional.empty();
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

    /**
     * Counts (to be summed) of the rows that the PostgreSQL upsert merged with another; empty for
     * the other sinks.
     */
    public Optional<PCollection<Long>> collapsed() {
      return tuple.has(COLLAPSED) ? Optional.of(tuple.get(COLLAPSED)) : Optional.empty();
    }
  }

  private final Sink sink;
  private final PredictionRows rows;
  private final @Nullable PCollection<KV<RecordMeta, Prediction>> carried;

  /**
   * @param sink where the predictions go
   * @param rows the prediction fields of this job, for the typed sinks
   */
  public WritePredictions(Sink sink, PredictionRows rows) {
    this(sink, rows, null);
  }

  private WritePredictions(
      Sink sink, PredictionRows rows, @Nullable PCollection<KV<RecordMeta, Prediction>> carried) {
    this.sink = sink;
    this.rows = rows;
    this.carried = carried;
  }

  /**
   * Also writes {@code carried}: the previous predictions of the records an incremental run
   * skipped, each with the record it stands for (whose position orders it in an ordered output).
   * They are written as they were read.
   */
  public WritePredictions withCarriedForward(PCollection<KV<RecordMeta, Prediction>> carried) {
    return new WritePredictions(sink, rows, carried);
  }

  @Override
  public void populateDisplayData(DisplayData.Builder builder) {
    super.populateDisplayData(builder);
    builder
        .add(DisplayData.item("sink", sink.describe()).withLabel("Predictions go to"))
        .add(DisplayData.item("carriedForward", carried != null).withLabel("Carries forward"));
  }

  @Override
  public Result expand(PCollection<Prediction> predictions) {
    Pipeline pipeline = predictions.getPipeline();
    PCollection<Prediction> all =
        carried == null
            ? predictions
            : PCollectionList.of(predictions)
                .and(
                    carried
                        .apply("CarriedPredictions", Values.create())
                        .setCoder(Prediction.Coder.of()))
                .apply("WithCarriedForward", Flatten.pCollections());
    String settings = rows.settingsSha256();
    PCollection<Failure> refused = null;
    PCollection<String> files = null;
    PCollection<Long> accepted;
    PCollection<Long> collapsed = null;
    if (sink instanceof Sink.PostgresTable) {
      PCollection<Row> sent = toRows(all);
      PCollection<Row> onePerId = Databases.onePerKey(sent, Databases.PREDICTION_KEY);
      PCollection<Void> done =
          onePerId.apply("WritePostgres", Databases.predictions((Sink.PostgresTable) sink));
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
    } else if (sink instanceof Sink.BigQueryTable) {
      Sink.BigQueryTable table = (Sink.BigQueryTable) sink;
      PCollection<Row> sent = toRows(all);
      if (table.method() == TableWriteMethod.STORAGE_WRITE_API) {
        WriteResult result =
            sent.apply(
                "WriteTable",
                Tables.write(table, rows.schema()).withPropagateSuccessfulStorageApiWrites(true));
        refused = Tables.refusedRows(result, table.table());
        accepted = count("CountConfirmed", result.getSuccessfulStorageApiInserts());
      } else {
        WriteResult result = sent.apply("WriteTable", Tables.write(table, rows.schema()));
        // A load job takes all of its file or fails the job: once the loads are done, every row
        // sent is in the table.
        accepted =
            count(
                "CountLoaded",
                sent.apply("AfterLoads", Wait.on(result.getSuccessfulTableLoads()))
                    .setCoder(sent.getCoder()));
      }
    } else if (sink instanceof Sink.ParquetFiles) {
      Sink.ParquetFiles parquet = (Sink.ParquetFiles) sink;
      files =
          filenames(
              toRows(all)
                  .apply(
                      "WriteParquet",
                      WriteParquet.to(parquet.directory(), parquet.name())
                          .withNumShards(parquet.singleFile() ? 1 : 0)));
      accepted = files.apply("CountWrittenRecords", WrittenRecords.perFile());
    } else if (sink instanceof Sink.OrderedJsonLinesFiles) {
      Sink.OrderedJsonLinesFiles inOrder = (Sink.OrderedJsonLinesFiles) sink;
      WriteOrderedJsonLines ordered =
          new WriteOrderedJsonLines(inOrder.directory(), inOrder.inputFiles(), inOrder.singleFile())
              .withSettingsSha256(settings);
      if (carried != null) {
        ordered = ordered.withCarriedForward(carried);
      }
      files = predictions.apply("WriteInInputOrder", ordered);
      accepted = files.apply("CountWrittenRecords", WrittenRecords.perFile());
    } else {
      Sink.JsonLinesFiles jsonLines = (Sink.JsonLinesFiles) sink;
      files = writeJsonLines(all, (Prediction p) -> JsonLines.prediction(p, settings), jsonLines);
      accepted = files.apply("CountWrittenRecords", WrittenRecords.perFile());
    }
    if (files == null) {
      files = pipeline.apply("NoFiles", Create.empty(StringUtf8Coder.of()));
    }
    PCollectionTuple result = PCollectionTuple.of(FILES, files).and(ACCEPTED, accepted);
    if (refused != null) {
      result = result.and(REFUSED, refused);
    }
    if (collapsed != null) {
      result = result.and(COLLAPSED, collapsed);
    }
    return new Result(result);
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

  /**
   * Writes {@code records} as JSON Lines files {@code name-*.jsonl} in the sink's directory, each
   * record the line {@code toJson} makes of it (one file per bundle, {@link WriteBundleFiles}), or
   * as the one file {@code name.jsonl} if the sink says so ({@code TextIO}); the names of the files
   * written.
   */
  static <T> PCollection<String> writeJsonLines(
      PCollection<T> records, SerializableFunction<T, String> toJson, Sink.JsonLinesFiles sink) {
    if (!sink.singleFile()) {
      return records.apply(
          "WriteJsonLines", new WriteBundleFiles<>(sink.directory(), sink.name(), toJson));
    }
    return filenames(
        records
            .apply("ToJson", MapElements.into(TypeDescriptors.strings()).via(toJson))
            .apply(
                "WriteJsonLines",
                TextIO.write()
                    .to(sink.directory() + sink.name())
                    .withSuffix(".jsonl")
                    .withoutSharding()
                    .withOutputFilenames()));
  }
}
