package dev.batchinference.pipelines.sinks;

import dev.batchinference.pipelines.options.BigQueryIoOptions.TableWriteMethod;
import dev.batchinference.transforms.io.PostgresConnection;
import java.util.List;
import org.apache.beam.sdk.io.gcp.bigquery.BigQueryIO.Write.CreateDisposition;
import org.apache.beam.sdk.io.gcp.bigquery.BigQueryIO.Write.WriteDisposition;
import org.apache.beam.sdk.io.gcp.bigquery.BigQueryServices;
import org.checkerframework.checker.nullness.qual.Nullable;

/**
 * Where a job writes its predictions or its failures, as the job's plan decided it: files in the
 * output directory (JSON Lines, JSON Lines in input order, Parquet), a BigQuery table, or a
 * PostgreSQL table. {@link WritePredictions} and {@link WriteFailures} take one; a new kind of sink
 * is a new record here and a branch in each of them.
 */
public sealed interface Sink
    permits Sink.JsonLinesFiles,
        Sink.OrderedJsonLinesFiles,
        Sink.ParquetFiles,
        Sink.BigQueryTable,
        Sink.PostgresTable {

  /** The name of prediction files in the output directory: {@code predictions-*.jsonl}. */
  String PREDICTIONS = "predictions";

  /** The name of failure files in the output directory: {@code failures-*.jsonl}. */
  String FAILURES = "failures";

  /** Where it writes, as a user would name it: a file pattern or a table. */
  String describe();

  /** JSON Lines files {@code directory/name-*.jsonl}; one file with {@code singleFile}. */
  record JsonLinesFiles(String directory, String name, boolean singleFile) implements Sink {
    @Override
    public String describe() {
      return directory + name + "*.jsonl";
    }
  }

  /**
   * JSON Lines prediction files in the order of the input: one shard per input file, in the order
   * of {@code inputFiles} (their names, sorted); one file with {@code singleFile}.
   */
  record OrderedJsonLinesFiles(
      String directory, String name, List<String> inputFiles, boolean singleFile) implements Sink {
    public OrderedJsonLinesFiles {
      inputFiles = List.copyOf(inputFiles);
    }

    @Override
    public String describe() {
      return directory + name + "*.jsonl (in input order)";
    }
  }

  /** Parquet files {@code directory/name-*.parquet}; one file with {@code singleFile}. */
  record ParquetFiles(String directory, String name, boolean singleFile) implements Sink {
    @Override
    public String describe() {
      return directory + name + "*.parquet";
    }
  }

  /**
   * A BigQuery table ({@code [PROJECT:]DATASET.TABLE}), written with {@code method}; FILE_LOADS
   * stages its files under {@code loadTempLocation}. {@code testServices} replace BigQuery in
   * tests.
   */
  record BigQueryTable(
      String table,
      TableWriteMethod method,
      CreateDisposition createDisposition,
      WriteDisposition writeDisposition,
      String loadTempLocation,
      @Nullable BigQueryServices testServices)
      implements Sink {
    @Override
    public String describe() {
      return "bigquery:" + table;
    }
  }

  /** A PostgreSQL table ({@code NAME} or {@code SCHEMA.NAME}), upserted by its key. */
  record PostgresTable(PostgresConnection connection, String table) implements Sink {
    @Override
    public String describe() {
      return "postgresql:" + table;
    }
  }
}
