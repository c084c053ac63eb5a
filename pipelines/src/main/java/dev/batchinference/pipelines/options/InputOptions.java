package dev.batchinference.pipelines.options;

import dev.batchinference.pipelines.options.TemplateParameter.Kind;
import dev.batchinference.transforms.io.ReadRecords;
import java.util.List;
import org.apache.beam.sdk.options.Default;
import org.apache.beam.sdk.options.Description;
import org.apache.beam.sdk.options.PipelineOptions;

/** Input files: where records come from and how they are read. */
@Description(
    "Where the job reads its records from when they are files, and how each record is read,"
        + " named and carried.")
public interface InputOptions extends PipelineOptions {

  @Description(
      "Input file pattern, local or gs://, e.g. data/*.jsonl or gs://bucket/in/*.csv.gz."
          + " Compressed files are read by extension.")
  @Default.String("src/samples/fortunes.jsonl")
  @TemplateParameter(Kind.GCS_FILE_PATTERN)
  String getInput();

  void setInput(String value);

  @Description(
      "Input format: JSONL (one JSON object per line), CSV (header row, RFC 4180) or PARQUET.")
  @Default.Enum("JSONL")
  @TemplateParameter(Kind.ENUM)
  ReadRecords.Format getInputFormat();

  void setInputFormat(ReadRecords.Format value);

  @Description(
      "Largest record, in bytes (a line, a CSV row, a Parquet row as JSON); a larger one fails"
          + " alone with a read failure that keeps its first 1,024 characters.")
  @Default.Long(8L << 20)
  @TemplateParameter(Kind.WHOLE_NUMBER)
  long getMaxRecordBytes();

  void setMaxRecordBytes(long value);

  @Description(
      "Uncompressed JSONL and CSV files are cut into byte ranges of about this many bytes that"
          + " workers read in parallel (a file of 2 MiB or more into at least 32 ranges of at least"
          + " 1 MiB); positions stay the line or row index. 0 reads every file whole, by one"
          + " reader. Compressed and Parquet files, and CSV files with newlines inside quotes, are"
          + " always read whole.")
  @Default.Long(64L << 20)
  @TemplateParameter(Kind.WHOLE_NUMBER)
  long getInputRangeBytes();

  void setInputRangeBytes(long value);

  @Description(
      "Field that holds each record's id (string or integer). Empty: ids are SOURCE:INDEX.")
  @Default.String("id")
  @TemplateParameter(Kind.TEXT)
  String getIdField();

  void setIdField(String value);

  @Description("Comma-separated fields copied from each input record to its prediction.")
  @TemplateParameter(Kind.TEXT_LIST)
  List<String> getCarryFields();

  void setCarryFields(List<String> value);
}
