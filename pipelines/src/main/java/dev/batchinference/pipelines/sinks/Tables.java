package dev.batchinference.pipelines.sinks;

import dev.batchinference.pipelines.options.BigQueryIoOptions.TableWriteMethod;
import dev.batchinference.transforms.Failure;
import dev.batchinference.transforms.Stage;
import org.apache.beam.sdk.io.gcp.bigquery.BigQueryIO;
import org.apache.beam.sdk.io.gcp.bigquery.BigQueryStorageApiInsertError;
import org.apache.beam.sdk.io.gcp.bigquery.BigQueryUtils;
import org.apache.beam.sdk.io.gcp.bigquery.WriteResult;
import org.apache.beam.sdk.options.ValueProvider.StaticValueProvider;
import org.apache.beam.sdk.schemas.Schema;
import org.apache.beam.sdk.transforms.MapElements;
import org.apache.beam.sdk.transforms.SimpleFunction;
import org.apache.beam.sdk.values.PCollection;
import org.apache.beam.sdk.values.Row;

/**
 * BigQuery writes of a {@link Sink.BigQueryTable}: the table schema from the rows' Beam schema, the
 * write method, dispositions, and where load files are staged.
 */
public final class Tables {

  private Tables() {}

  /** A write of rows with {@code schema} to {@code sink}. */
  public static BigQueryIO.Write<Row> write(Sink.BigQueryTable sink, Schema schema) {
    BigQueryIO.Write<Row> write =
        BigQueryIO.<Row>write()
            .to(sink.table())
            .withSchema(BigQueryUtils.toTableSchema(schema))
            .withFormatFunction(BigQueryUtils.toTableRow())
            .withCreateDisposition(sink.createDisposition())
            .withWriteDisposition(sink.writeDisposition());
    if (sink.method() == TableWriteMethod.STORAGE_WRITE_API) {
      write = write.withMethod(BigQueryIO.Write.Method.STORAGE_WRITE_API);
    } else {
      write =
          write
              .withMethod(BigQueryIO.Write.Method.FILE_LOADS)
              .withCustomGcsTempLocation(StaticValueProvider.of(sink.loadTempLocation()));
    }
    if (sink.testServices() != null) {
      write = write.withTestServices(sink.testServices()).withoutValidation();
    }
    return write;
  }

  /**
   * A collection complete once the write of {@code result} finished, for {@code Wait.on}: the
   * refused rows of the Storage Write API, the finished loads of FILE_LOADS.
   */
  static PCollection<?> done(WriteResult result, Sink.BigQueryTable sink) {
    return sink.method() == TableWriteMethod.STORAGE_WRITE_API
        ? result.getFailedStorageApiInserts()
        : result.getSuccessfulTableLoads();
  }

  /**
   * Rows that the Storage Write API refused (FILE_LOADS has none: a load that fails, fails the job)
   * as failures of stage {@code write}, with the row as their input.
   */
  static PCollection<Failure> refusedRows(WriteResult result, String table) {
    return result
        .getFailedStorageApiInserts()
        .apply(
            "RefusedRows",
            MapElements.via(
                new SimpleFunction<BigQueryStorageApiInsertError, Failure>() {
                  @Override
                  public Failure apply(BigQueryStorageApiInsertError error) {
                    Object id = error.getRow().get("id");
                    Object source = error.getRow().get("source");
                    Object index = error.getRow().get("index");
                    return Failure.of(
                        id == null ? null : id.toString(),
                        source == null ? table : source.toString(),
                        index == null ? -1 : Long.parseLong(index.toString()),
                        Stage.WRITE,
                        BigQueryStorageApiInsertError.class.getName(),
                        "BigQuery table " + table + " refused the row: " + error.getErrorMessage(),
                        error.getRow().toString());
                  }
                }))
        .setCoder(Failure.Coder.of());
  }
}
