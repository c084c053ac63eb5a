package dev.batchinference.pipelines.options;

import com.fasterxml.jackson.annotation.JsonIgnore;
import dev.batchinference.pipelines.options.TemplateParameter.Kind;
import org.apache.beam.sdk.io.gcp.bigquery.BigQueryIO;
import org.apache.beam.sdk.io.gcp.bigquery.BigQueryIO.TypedRead;
import org.apache.beam.sdk.io.gcp.bigquery.BigQueryServices;
import org.apache.beam.sdk.options.Default;
import org.apache.beam.sdk.options.Description;
import org.apache.beam.sdk.options.Hidden;
import org.apache.beam.sdk.options.PipelineOptions;
import org.checkerframework.checker.nullness.qual.Nullable;

/** BigQuery: a table or query to read instead of files, tables to write to. */
@Description(
    "BigQuery as a source (a table or a query) and as a sink (predictions, failures and run"
        + " summaries), and how rows get there.")
public interface BigQueryIoOptions extends PipelineOptions {

  /** How predictions reach a BigQuery table. */
  enum TableWriteMethod {
    /** Load jobs from files staged under tempLocation: free, one load per table per run. */
    FILE_LOADS,
    /** The Storage Write API: rows streamed in, exactly once; billed per GB. */
    STORAGE_WRITE_API
  }

  @Description(
      "Read a BigQuery table instead of files: PROJECT:DATASET.TABLE. Records are named by idField.")
  @TemplateParameter(Kind.BIGQUERY_TABLE)
  String getInputTable();

  void setInputTable(String value);

  @Description("Read the result of this standard-SQL query instead of files.")
  @TemplateParameter(Kind.TEXT)
  String getInputQuery();

  void setInputQuery(String value);

  @Description(
      "How BigQuery input is read: DIRECT_READ (Storage Read API) or EXPORT (an export job).")
  @Default.Enum("DIRECT_READ")
  @TemplateParameter(Kind.ENUM)
  TypedRead.Method getBigQueryReadMethod();

  void setBigQueryReadMethod(TypedRead.Method value);

  @Description(
      "Write predictions to this BigQuery table (PROJECT:DATASET.TABLE) instead of files. Its"
          + " schema follows the prediction fields, the carried fields and the model identity.")
  @TemplateParameter(Kind.BIGQUERY_TABLE)
  String getOutputTable();

  void setOutputTable(String value);

  @Description("Write failures to this BigQuery table instead of files.")
  @TemplateParameter(Kind.BIGQUERY_TABLE)
  String getFailuresTable();

  void setFailuresTable(String value);

  @Description("Also append the run summary, one row per run, to this BigQuery table.")
  @TemplateParameter(Kind.BIGQUERY_TABLE)
  String getSummaryTable();

  void setSummaryTable(String value);

  @Description("How rows reach BigQuery tables: FILE_LOADS or STORAGE_WRITE_API.")
  @Default.Enum("FILE_LOADS")
  @TemplateParameter(Kind.ENUM)
  TableWriteMethod getBigQueryWriteMethod();

  void setBigQueryWriteMethod(TableWriteMethod value);

  @Description("BigQuery tables: CREATE_IF_NEEDED or CREATE_NEVER.")
  @Default.Enum("CREATE_IF_NEEDED")
  @TemplateParameter(Kind.ENUM)
  BigQueryIO.Write.CreateDisposition getCreateDisposition();

  void setCreateDisposition(BigQueryIO.Write.CreateDisposition value);

  @Description(
      "BigQuery tables: WRITE_APPEND, WRITE_TRUNCATE (replace the table's rows) or WRITE_EMPTY.")
  @Default.Enum("WRITE_APPEND")
  @TemplateParameter(Kind.ENUM)
  BigQueryIO.Write.WriteDisposition getWriteDisposition();

  void setWriteDisposition(BigQueryIO.Write.WriteDisposition value);

  /** BigQuery services to use instead of BigQuery's: Beam's fakes, in tests. */
  @JsonIgnore
  @Hidden
  @Nullable BigQueryServices getBigQueryServices();

  void setBigQueryServices(BigQueryServices value);
}
