package dev.batchinference.pipelines.options;

import com.fasterxml.jackson.annotation.JsonIgnore;
import dev.batchinference.transforms.io.ReadRecords;
import dev.batchinference.transforms.onnx.SessionConfig;
import dev.batchinference.transforms.postprocess.ClassScores;
import java.util.List;
import org.apache.beam.sdk.io.gcp.bigquery.BigQueryIO;
import org.apache.beam.sdk.io.gcp.bigquery.BigQueryIO.TypedRead;
import org.apache.beam.sdk.io.gcp.bigquery.BigQueryServices;
import org.apache.beam.sdk.options.Default;
import org.apache.beam.sdk.options.Description;
import org.apache.beam.sdk.options.Hidden;
import org.apache.beam.sdk.options.PipelineOptions;
import org.checkerframework.checker.nullness.qual.Nullable;

/**
 * Options of the batch inference job. The defaults embed the sample corpus that ships with the
 * project with all-MiniLM-L6-v2 (int8) on the DirectRunner.
 */
public interface BatchInferenceOptions extends PipelineOptions {

  /** What the job does with each record. */
  enum Task {
    /** Text embeddings: tokenize, run, mean-pool, normalise. */
    EMBED,
    /** Class scores from a feature vector: label, score, top-k. */
    CLASSIFY,
    /** Model inputs from record fields of the same names; outputs written as arrays. */
    RAW
  }

  /** File format of predictions and failures. */
  enum OutputFormat {
    /** One JSON object per line. */
    JSONL,
    /** Apache Parquet (Snappy), with a schema derived from the prediction fields. */
    PARQUET
  }

  /** How predictions reach a BigQuery table. */
  enum TableWriteMethod {
    /** Load jobs from files staged under tempLocation: free, one load per table per run. */
    FILE_LOADS,
    /** The Storage Write API: rows streamed in, exactly once; billed per GB. */
    STORAGE_WRITE_API
  }

  @Description(
      "Input file pattern, local or gs://, e.g. data/*.jsonl or gs://bucket/in/*.csv.gz."
          + " Compressed files are read by extension.")
  @Default.String("src/samples/fortunes.jsonl")
  String getInput();

  void setInput(String value);

  @Description(
      "Input format: JSONL (one JSON object per line), CSV (header row, RFC 4180) or PARQUET.")
  @Default.Enum("JSONL")
  ReadRecords.Format getInputFormat();

  void setInputFormat(ReadRecords.Format value);

  @Description(
      "Largest record, in bytes (a line, a CSV row, a Parquet row as JSON); a larger one fails"
          + " alone with a read failure that keeps its first 1,024 characters.")
  @Default.Long(8L << 20)
  long getMaxRecordBytes();

  void setMaxRecordBytes(long value);

  @Description(
      "Most characters of a record's input and of its error kept in its failure record; longer"
          + " ones are cut, saying how long they were.")
  @Default.Integer(65536)
  int getMaxFailureChars();

  void setMaxFailureChars(int value);

  @Description(
      "Failure gate: when failures / records read exceed this, the run still writes everything but"
          + " ends with exit status 4 (too many failures) and says which rate was exceeded and the"
          + " most frequent failure reason. Negative turns the gate off.")
  @Default.Double(0.1)
  double getMaxFailureRate();

  void setMaxFailureRate(double value);

  @Description(
      "Read a BigQuery table instead of files: PROJECT:DATASET.TABLE. Records are named by idField.")
  String getInputTable();

  void setInputTable(String value);

  @Description("Read the result of this standard-SQL query instead of files.")
  String getInputQuery();

  void setInputQuery(String value);

  @Description(
      "How BigQuery input is read: DIRECT_READ (Storage Read API) or EXPORT (an export job).")
  @Default.Enum("DIRECT_READ")
  TypedRead.Method getBigQueryReadMethod();

  void setBigQueryReadMethod(TypedRead.Method value);

  @Description(
      "Output directory, local or gs://. The job writes predictions-*.jsonl, failures-*.jsonl and"
          + " summary.json there.")
  @Default.String("out/batch-inference")
  String getOutput();

  void setOutput(String value);

  @Description("Write predictions and failures as one file each instead of shards.")
  @Default.Boolean(false)
  boolean getSingleOutputFile();

  void setSingleOutputFile(boolean value);

  @Description(
      "Incremental run: predictions files of a previous run (a pattern; .parquet files are read"
          + " as Parquet, others as JSON Lines; they may be in --output). Records predicted there"
          + " from the same content (id, input_sha256) by the same model under the same settings"
          + " (settings_sha256) are not scored again: their predictions are carried forward into"
          + " this run's output, which so holds every record. Only new, changed or failed records"
          + " are scored.")
  String getPreviousPredictions();

  void setPreviousPredictions(String value);

  @Description(
      "Threshold trigger for scheduled runs: run only when at least this many records arrived"
          + " since the run of --previousSummary (records in --input files modified after it"
          + " started); otherwise print 'skipped: ...', write nothing and exit 0. 0: always run."
          + " Files only, not BigQuery.")
  @Default.Long(0)
  long getMinNewRecords();

  void setMinNewRecords(long value);

  @Description(
      "summary.json of the previous run of this job (local or gs://): this run's prediction"
          + " distribution, failure rate and throughput are compared with it (drift alerts), and"
          + " --minNewRecords counts the records that arrived since it started.")
  String getPreviousSummary();

  void setPreviousSummary(String value);

  @Description(
      "Drift alert: population stability index of the class distribution, or of the top-score"
          + " histogram, against --previousSummary above this. Negative turns the check off.")
  @Default.Double(0.2)
  double getMaxPsi();

  void setMaxPsi(double value);

  @Description(
      "Drift alert: the mean top score moving by more than this (absolute, scores in 0..1)"
          + " against --previousSummary. Negative turns the check off.")
  @Default.Double(0.1)
  double getMaxScoreShift();

  void setMaxScoreShift(double value);

  @Description(
      "Drift alert: cosine distance between this run's and --previousSummary's mean embedding"
          + " (centroid) above this. Negative turns the check off.")
  @Default.Double(0.05)
  double getMaxCentroidShift();

  void setMaxCentroidShift(double value);

  @Description(
      "Drift alert: failure rate (failures / records read) rising by more than this (absolute,"
          + " 0.01 = one percentage point) against --previousSummary. Negative turns it off.")
  @Default.Double(0.01)
  double getMaxFailureRateIncrease();

  void setMaxFailureRateIncrease(double value);

  @Description(
      "Drift alert: throughput (records read per second of wall time) dropping by more than this"
          + " fraction (0.5 = half) against --previousSummary. Negative turns the check off.")
  @Default.Double(0.5)
  double getMaxThroughputDrop();

  void setMaxThroughputDrop(double value);

  @Description(
      "Write predictions in the order of the input: input file by input file (in name order),"
          + " record by record; one shard per input file, or one file with singleOutputFile."
          + " JSON Lines files only; each input file's predictions are sorted in one worker's"
          + " memory.")
  @Default.Boolean(false)
  boolean getOrderedOutput();

  void setOrderedOutput(boolean value);

  @Description("File format of predictions and failures: JSONL or PARQUET.")
  @Default.Enum("JSONL")
  OutputFormat getOutputFormat();

  void setOutputFormat(OutputFormat value);

  @Description(
      "Write predictions to this BigQuery table (PROJECT:DATASET.TABLE) instead of files. Its"
          + " schema follows the prediction fields, the carried fields and the model identity.")
  String getOutputTable();

  void setOutputTable(String value);

  @Description("Write failures to this BigQuery table instead of files.")
  String getFailuresTable();

  void setFailuresTable(String value);

  @Description("Also append the run summary, one row per run, to this BigQuery table.")
  String getSummaryTable();

  void setSummaryTable(String value);

  @Description(
      "Upsert predictions into this PostgreSQL table (created if missing, keyed by id) instead of"
          + " writing files; needs --jdbcUrl.")
  String getPredictionsDbTable();

  void setPredictionsDbTable(String value);

  @Description("Upsert failures into this PostgreSQL table instead of writing files.")
  String getFailuresDbTable();

  void setFailuresDbTable(String value);

  @Description(
      "PostgreSQL JDBC URL for the *DbTable options: jdbc:postgresql://HOST:PORT/DATABASE.")
  String getJdbcUrl();

  void setJdbcUrl(String value);

  @Description("PostgreSQL user.")
  @Default.String("postgres")
  String getJdbcUser();

  void setJdbcUser(String value);

  @Description(
      "Environment variable that holds the PostgreSQL password, read where connections open"
          + " (never pass the password itself as an option).")
  @Default.String("PGPASSWORD")
  String getJdbcPasswordEnv();

  void setJdbcPasswordEnv(String value);

  @Description("File that holds the PostgreSQL password; wins over jdbcPasswordEnv.")
  String getJdbcPasswordFile();

  void setJdbcPasswordFile(String value);

  @Description("How rows reach BigQuery tables: FILE_LOADS or STORAGE_WRITE_API.")
  @Default.Enum("FILE_LOADS")
  TableWriteMethod getBigQueryWriteMethod();

  void setBigQueryWriteMethod(TableWriteMethod value);

  @Description("BigQuery tables: CREATE_IF_NEEDED or CREATE_NEVER.")
  @Default.Enum("CREATE_IF_NEEDED")
  BigQueryIO.Write.CreateDisposition getCreateDisposition();

  void setCreateDisposition(BigQueryIO.Write.CreateDisposition value);

  @Description(
      "BigQuery tables: WRITE_APPEND, WRITE_TRUNCATE (replace the table's rows) or WRITE_EMPTY.")
  @Default.Enum("WRITE_APPEND")
  BigQueryIO.Write.WriteDisposition getWriteDisposition();

  void setWriteDisposition(BigQueryIO.Write.WriteDisposition value);

  /** BigQuery services to use instead of BigQuery's: Beam's fakes, in tests. */
  @JsonIgnore
  @Hidden
  @Nullable BigQueryServices getBigQueryServices();

  void setBigQueryServices(BigQueryServices value);

  @Description(
      "What to predict: EMBED (text embeddings), CLASSIFY (feature vector to class scores) or RAW.")
  @Default.Enum("EMBED")
  Task getTask();

  void setTask(Task value);

  @Description(
      "The ONNX model: a local path, gs://..., or classpath:NAME for a model packaged with the job."
          + " The default is all-MiniLM-L6-v2 int8, which comes through Maven.")
  @Default.String("classpath:all-minilm-l6-v2-q.onnx")
  String getModel();

  void setModel(String value);

  @Description("Name of the model in predictions and summaries. Default: the model file's name.")
  String getModelName();

  void setModelName(String value);

  @Description("Hugging Face tokenizer.json for EMBED: a local path, gs://... or classpath:NAME.")
  @Default.String("classpath:all-minilm-l6-v2-q-tokenizer.json")
  String getTokenizer();

  void setTokenizer(String value);

  @Description(
      "Field that holds each record's id (string or integer). Empty: ids are SOURCE:INDEX.")
  @Default.String("id")
  String getIdField();

  void setIdField(String value);

  @Description("Comma-separated fields copied from each input record to its prediction.")
  List<String> getCarryFields();

  void setCarryFields(List<String> value);

  @Description("EMBED: the field that holds the text.")
  @Default.String("text")
  String getTextField();

  void setTextField(String value);

  @Description(
      "EMBED: most tokens per text, special tokens included (the model accepts up to 512).")
  @Default.Integer(256)
  int getMaxSequenceLength();

  void setMaxSequenceLength(int value);

  @Description("EMBED: truncate texts longer than maxSequenceLength (true) or fail them (false).")
  @Default.Boolean(true)
  boolean getTruncate();

  void setTruncate(boolean value);

  @Description(
      "EMBED: the model output to pool (token-level [batch, tokens, dims] or pooled [batch, dims]).")
  @Default.String("last_hidden_state")
  String getEmbeddingOutput();

  void setEmbeddingOutput(String value);

  @Description(
      "EMBED: also label each text without a classifier. A file of labels, one per line as"
          + " 'label: a short description'; each text gets the labels whose descriptions are"
          + " closest (cosine) to it: label, score and the topK best.")
  String getZeroShotLabels();

  void setZeroShotLabels(String value);

  @Description("EMBED: L2-normalise embeddings.")
  @Default.Boolean(true)
  boolean getNormalize();

  void setNormalize(boolean value);

  @Description("CLASSIFY: the array field holding the feature vector (or flattened image).")
  @Default.String("features")
  String getFeaturesField();

  void setFeaturesField(String value);

  @Description(
      "CLASSIFY: comma-separated columns forming the feature vector instead of featuresField;"
          + " PREFIX* takes every column with that prefix, in order (for CSV).")
  List<String> getFeatureColumns();

  void setFeatureColumns(List<String> value);

  @Description(
      "CLASSIFY: file of class names, one per line, in the order of the model's output columns.")
  String getClassLabels();

  void setClassLabels(String value);

  @Description("CLASSIFY: how many of the best classes each prediction lists.")
  @Default.Integer(3)
  int getTopK();

  void setTopK(int value);

  @Description(
      "CLASSIFY: AUTO (softmax unless scores already are probabilities; one output column is a"
          + " binary P(class 1), sigmoid unless already in [0,1]), SOFTMAX, SIGMOID or NONE.")
  @Default.Enum("AUTO")
  ClassScores.Activation getActivation();

  void setActivation(ClassScores.Activation value);

  @Description(
      "Comma-separated model outputs to compute (RAW: to write). Default: all, or what the task needs.")
  List<String> getOutputs();

  void setOutputs(List<String> value);

  @Description("Most records per model run.")
  @Default.Integer(32)
  int getBatchSize();

  void setBatchSize(int value);

  @Description(
      "Most total weight per model run (tokens for text, elements for tensors): a token budget,"
          + " so batches of long texts hold fewer records. Default: 32 tokens per record of"
          + " batchSize (at least maxSequenceLength) for EMBED, none otherwise; 0: no bound.")
  @Nullable Long getMaxBatchWeight();

  void setMaxBatchWeight(@Nullable Long value);

  @Description("Emit a partial batch after its first record waited this many seconds; 0: no limit.")
  @Default.Integer(0)
  int getMaxBufferingSeconds();

  void setMaxBufferingSeconds(int value);

  @Description(
      "Comma-separated upper bounds of weight buckets (tokens for EMBED): batches are made of"
          + " records of one bucket, so short texts do not pay for the padding of long ones."
          + " Default: 16,24,32,48,64,96,128,192 for EMBED, none otherwise; 0 turns buckets off.")
  List<Long> getLengthBuckets();

  void setLengthBuckets(List<Long> value);

  @Description(
      "Keys that records are spread over after reading (the parallelism of preprocessing)."
          + " 0: one per core on the DirectRunner (whose cost is per bundle, and it makes a"
          + " bundle of each key), Beam's random keys on other runners.")
  @Default.Integer(0)
  int getRedistributeBuckets();

  void setRedistributeBuckets(int value);

  @Description(
      "Keys that batching spreads records over, per length bucket (the parallelism of inference);"
          + " each ends the input with a partial batch. 0: one per core on the DirectRunner, 8"
          + " elsewhere.")
  @Default.Integer(0)
  int getInferenceShards();

  void setInferenceShards(int value);

  @Description("ONNX Runtime threads inside an operator; 0: one per core.")
  @Default.Integer(0)
  int getIntraOpThreads();

  void setIntraOpThreads(int value);

  @Description("ONNX Runtime threads across operators; 0: ONNX Runtime's default.")
  @Default.Integer(0)
  int getInterOpThreads();

  void setInterOpThreads(int value);

  @Description("ONNX Runtime graph optimisation: NONE, BASIC, EXTENDED or ALL.")
  @Default.Enum("ALL")
  SessionConfig.Optimization getGraphOptimization();

  void setGraphOptimization(SessionConfig.Optimization value);

  @Description("Execution provider: CPU, or CUDA (needs the gpu build and a CUDA device).")
  @Default.Enum("CPU")
  SessionConfig.Provider getExecutionProvider();

  void setExecutionProvider(SessionConfig.Provider value);

  @Description("CUDA device id, with executionProvider=CUDA.")
  @Default.Integer(0)
  int getCudaDeviceId();

  void setCudaDeviceId(int value);

  @Description(
      "Wait for the job to finish and print its result (the default, except on Dataflow, where the"
          + " command returns once the job is submitted).")
  @Nullable Boolean getWaitUntilFinish();

  void setWaitUntilFinish(Boolean value);

  @Description(
      "Remove the lock file (.batch-inference.lock) that another run left in --output before taking"
          + " it. Only for a run known to be gone (killed on another machine, a Dataflow job that"
          + " failed): a killed run on this machine is noticed without it.")
  @Default.Boolean(false)
  boolean getBreakLock();

  void setBreakLock(boolean value);

  @Description("Show progress on the console while the job runs (DirectRunner).")
  @Default.Boolean(true)
  boolean getProgress();

  void setProgress(boolean value);
}
