package dev.batchinference.pipelines.sinks;

import dev.batchinference.pipelines.JobPlan;
import dev.batchinference.pipelines.options.BatchInferenceOptions;
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
 * BigQuery writes configured from the job's options: the table schema from the rows' Beam schema,
 * the write method, dispositions, and where load files are staged.
 */
public final class Tables {

  private Tables() {}

  /** A write of rows with {@code schema} to {@code table}, as the options say. */
  public static BigQueryIO.Write<Row> write(
      BatchInferenceOptions options, String table, Schema schema) {
    BigQueryIO.Write<Row> write =
        BigQueryIO.<Row>write()
            .to(table)
            .withSchema(BigQueryUtils.toTableSchema(schema))
            .withFormatFunction(BigQueryUtils.toTableRow())
            .withCreateDisposition(options.getCreateDisposition())
            .withWriteDisposition(options.getWriteDisposition());
    if (options.getBigQueryWriteMethod() == TableWriteMethod.STORAGE_WRITE_API) {
      write = write.withMethod(BigQueryIO.Write.Method.STORAGE_WRITE_API);
    } else {
      write =
          write
              .withMethod(BigQueryIO.Write.Method.FILE_LOADS)
              .withCustomGcsTempLocation(StaticValueProvider.of(loadTempLocation(options)));
    }
    if (options.getBigQueryServices() != null) {
      write = write.withTestServices(options.getBigQueryServices()).withoutValidation();
    }
    return write;
  }

  /** Where FILE_LOADS stages its files: {@code --tempLocation}, else under the output directory. */
  public static String loadTempLocation(BatchInferenceOptions options) {
    String temp = options.getTempLocation();
    if (JobPlan.notEmpty(temp)) {
      return temp;
    }
    String output = options.getOutput();
    return (output.endsWith("/") ? output : output + "/") + ".bigquery-load";
  }

  /**
   * A collection complete once the write of {@code result} finished, for {@code Wait.on}: the
   * refused rows of the Storage Write API, the finished loads of FILE_LOADS.
   */
  static PCollection<?> done(WriteResult result, BatchInferenceOptions options) {
    return options.getBigQueryWriteMethod() == TableWriteMethod.STORAGE_WRITE_API
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
