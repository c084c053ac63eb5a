package dev.batchinference.pipelines.options;

import dev.batchinference.pipelines.options.TemplateParameter.Kind;
import org.apache.beam.sdk.options.Default;
import org.apache.beam.sdk.options.Description;
import org.apache.beam.sdk.options.PipelineOptions;

/** Output files: where predictions, failures and the summary are written, and how. */
@Description(
    "Where the job writes predictions, failures and its summary when they are files, and in"
        + " what form.")
public interface OutputOptions extends PipelineOptions {

  /** File format of predictions and failures. */
  enum OutputFormat {
    /** One JSON object per line. */
    JSONL,
    /** Apache Parquet (Snappy), with a schema derived from the prediction fields. */
    PARQUET
  }

  @Description(
      "Output directory, local or gs://. The job writes predictions-*.jsonl, failures-*.jsonl and"
          + " summary.json there.")
  @Default.String("out/batch-inference")
  @TemplateParameter(Kind.GCS_WRITE_FOLDER)
  String getOutput();

  void setOutput(String value);

  @Description("File format of predictions and failures: JSONL or PARQUET.")
  @Default.Enum("JSONL")
  @TemplateParameter(Kind.ENUM)
  OutputFormat getOutputFormat();

  void setOutputFormat(OutputFormat value);

  @Description("Write predictions and failures as one file each instead of shards.")
  @Default.Boolean(false)
  @TemplateParameter(Kind.BOOLEAN)
  boolean getSingleOutputFile();

  void setSingleOutputFile(boolean value);

  @Description(
      "Write predictions in the order of the input: input file by input file (in name order),"
          + " record by record; one shard per input file, or one file with singleOutputFile."
          + " JSON Lines files only; each input file's predictions are sorted in one worker's"
          + " memory.")
  @Default.Boolean(false)
  @TemplateParameter(Kind.BOOLEAN)
  boolean getOrderedOutput();

  void setOrderedOutput(boolean value);

  @Description(
      "Most characters of a record's input and of its error kept in its failure record; longer"
          + " ones are cut, saying how long they were.")
  @Default.Integer(65536)
  @TemplateParameter(Kind.WHOLE_NUMBER)
  int getMaxFailureChars();

  void setMaxFailureChars(int value);
}
