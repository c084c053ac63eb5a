package dev.batchinference.pipelines;

import dev.batchinference.transforms.Failure;
import dev.batchinference.transforms.io.RawRecord;
import dev.batchinference.transforms.io.ReadBigQuery;
import dev.batchinference.transforms.io.ReadRecords;
import dev.batchinference.transforms.io.RecordFn;
import dev.batchinference.transforms.io.UnreadableFile;
import java.util.Optional;
import org.apache.beam.sdk.Pipeline;
import org.apache.beam.sdk.io.Compression;
import org.apache.beam.sdk.io.gcp.bigquery.BigQueryIO.TypedRead;
import org.apache.beam.sdk.io.gcp.bigquery.BigQueryServices;
import org.apache.beam.sdk.transforms.Create;
import org.apache.beam.sdk.transforms.MapElements;
import org.apache.beam.sdk.values.PCollection;
import org.apache.beam.sdk.values.TypeDescriptors;
import org.checkerframework.checker.nullness.qual.Nullable;

/**
 * What a job reads, as its plan decided it: files matching a pattern, or a BigQuery table or query.
 * {@link #read} adds the reading steps; a new kind of source is a new record here.
 */
public sealed interface Source permits Source.Files, Source.BigQuery {

  /**
   * The records read, counts of them made where they were read (to be summed: the records read),
   * the records that could not be read, and the files cut short.
   */
  record Read(
      PCollection<RawRecord> records,
      PCollection<Long> readCounts,
      PCollection<Failure> failures,
      PCollection<UnreadableFile> unreadableFiles) {}

  /** Adds the steps that read this source to {@code pipeline}. */
  Read read(Pipeline pipeline);

  /** The input as the run summary names it. */
  String describe();

  /**
   * Whether the records come out of the reading steps already spread over the workers, so that
   * preprocessing needs no shuffle of its own: files cut into byte ranges, BigQuery's read streams.
   */
  boolean readsInParallel();

  /**
   * Files matching {@code pattern} (local or {@code gs://}) in {@code format}, large uncompressed
   * ones read in ranges of about {@code rangeBytes} (0: every file whole), a file of 2 MiB or more
   * in at least {@code minRanges}.
   */
  record Files(
      String pattern,
      ReadRecords.Format format,
      long maxRecordBytes,
      long rangeBytes,
      int minRanges)
      implements Source {

    /** Files read in ranges of the default size. */
    public Files(String pattern, ReadRecords.Format format, long maxRecordBytes) {
      this(pattern, format, maxRecordBytes, ReadRecords.DEFAULT_RANGE_BYTES);
    }

    /** Files read in ranges of about {@code rangeBytes}, a large file in at least the default. */
    public Files(String pattern, ReadRecords.Format format, long maxRecordBytes, long rangeBytes) {
      this(pattern, format, maxRecordBytes, rangeBytes, ReadRecords.DEFAULT_MIN_RANGES);
    }

    @Override
    public Read read(Pipeline pipeline) {
      ReadRecords.Result read =
          pipeline.apply(
              "ReadRecords",
              ReadRecords.from(pattern)
                  .withFormat(format)
                  .withMaxRecordBytes(maxRecordBytes)
                  .withRangeBytes(rangeBytes)
                  .withMinRanges(minRanges));
      return new Read(read.records(), read.readCounts(), read.failures(), read.unreadableFiles());
    }

    /**
     * As {@link #read}, with {@code fn} done on each record in the reading step (JSON Lines and
     * CSV; see {@link ReadRecords#thenEach}).
     */
    public <T> ReadRecords.ThenResult<T> readThen(Pipeline pipeline, RecordFn<T> fn) {
      return pipeline.apply(
          "ReadRecords",
          ReadRecords.from(pattern)
              .withFormat(format)
              .withMaxRecordBytes(maxRecordBytes)
              .withRangeBytes(rangeBytes)
              .withMinRanges(minRanges)
              .thenEach(fn));
    }

    @Override
    public String describe() {
      return pattern;
    }

    /**
     * Uncompressed JSON Lines and CSV files are cut into byte ranges (or, when small, read one file
     * per reader); compressed and Parquet files, and every file with {@code rangeBytes} 0, are read
     * whole, each by one reader.
     */
    @Override
    public boolean readsInParallel() {
      return rangeBytes > 0
          && format != ReadRecords.Format.PARQUET
          && Compression.detect(pattern) == Compression.UNCOMPRESSED;
    }
  }

  /**
   * A BigQuery table ({@code [PROJECT:]DATASET.TABLE}) or the result of a query, read with {@code
   * method}; {@code testServices} replace BigQuery in tests.
   */
  record BigQuery(
      Optional<String> table,
      Optional<String> query,
      TypedRead.Method method,
      @Nullable BigQueryServices testServices)
      implements Source {
    @Override
    public Read read(Pipeline pipeline) {
      ReadBigQuery bigQuery =
          table.map(ReadBigQuery::table).orElseGet(() -> ReadBigQuery.query(query.orElseThrow()));
      bigQuery = bigQuery.withMethod(method);
      if (testServices != null) {
        bigQuery = bigQuery.withTestServices(testServices);
      }
      PCollection<RawRecord> rows = pipeline.apply("ReadBigQuery", bigQuery);
      return new Read(
          rows,
          rows.apply(
              "OnePerRow", MapElements.into(TypeDescriptors.longs()).via((RawRecord row) -> 1L)),
          pipeline.apply("NoReadFailures", Create.empty(Failure.Coder.of())),
          pipeline.apply("NoUnreadableFiles", Create.empty(UnreadableFile.Coder.of())));
    }

    @Override
    public String describe() {
      return table.map(t -> "bigquery:" + t).orElse("bigquery:query");
    }

    /** BigQueryIO reads a table or a query's result in parallel streams (or exported files). */
    @Override
    public boolean readsInParallel() {
      return true;
    }
  }
}
