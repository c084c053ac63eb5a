package dev.batchinference.pipelines;

import dev.batchinference.pipelines.options.BatchInferenceOptions;
import dev.batchinference.pipelines.options.InvalidJobException;
import dev.batchinference.pipelines.options.RunnerKind;
import dev.batchinference.pipelines.sinks.Databases;
import dev.batchinference.pipelines.sinks.Sink;
import dev.batchinference.transforms.io.JsonLines;
import dev.batchinference.transforms.io.PredictionRows;
import dev.batchinference.transforms.io.WritePostgres;
import dev.batchinference.transforms.model.ModelFiles;
import dev.batchinference.transforms.model.ModelSignature;
import dev.batchinference.transforms.tensor.Tensor;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.channels.Channels;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Paths;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.stream.Collectors;
import org.apache.beam.sdk.io.FileSystems;
import org.apache.beam.sdk.io.fs.EmptyMatchTreatment;
import org.apache.beam.sdk.io.fs.MatchResult;
import org.apache.beam.sdk.io.fs.ResolveOptions.StandardResolveOptions;
import org.apache.beam.sdk.io.fs.ResourceId;
import org.apache.beam.sdk.io.gcp.bigquery.BigQueryHelpers;
import org.apache.beam.sdk.options.PipelineOptions;
import org.apache.beam.sdk.transforms.display.DisplayData;

/**
 * The checks a job passes before it reads any data, each failing with an {@link
 * InvalidJobException} that says what to fix: the input matches files, the output can be written,
 * tables and their options are consistent, PostgreSQL can be reached, the runner is supported.
 * {@link JobPlan#from} runs them while it turns the options into a plan.
 */
public final class JobChecks {

  private JobChecks() {}

  /**
   * Where BigQuery's FILE_LOADS stages its files: {@code --tempLocation}, else under the output.
   */
  static String loadTempLocation(BatchInferenceOptions options) {
    String temp = options.getTempLocation();
    if (notEmpty(temp)) {
      return temp;
    }
    String output = options.getOutput();
    return (output.endsWith("/") ? output : output + "/") + ".bigquery-load";
  }

  /**
   * Checks {@code --minNewRecords}: new records are counted in input files since the run of {@code
   * --previousSummary}, so it needs both.
   */
  public static void checkMinNewRecords(BatchInferenceOptions options) {
    long minimum = options.getMinNewRecords();
    if (minimum < 0) {
      throw new InvalidJobException(
          "--minNewRecords=" + minimum + " is negative: use 0 (always run) or a record count.");
    }
    if (minimum == 0) {
      return;
    }
    if (readsBigQuery(options)) {
      throw new InvalidJobException(
          "--minNewRecords counts new records in input files by their modification time; a"
              + " BigQuery input (--inputTable, --inputQuery) has none. Leave --minNewRecords"
              + " unset, or select only new rows in --inputQuery.");
    }
    if (!notEmpty(options.getPreviousSummary())) {
      throw new InvalidJobException(
          "--minNewRecords="
              + minimum
              + " counts the records that arrived since the previous run: set --previousSummary"
              + " to that run's summary.json. For the first run, leave --minNewRecords unset.");
    }
  }

  /** Whether the job reads BigQuery ({@code --inputTable} or {@code --inputQuery}), not files. */
  static boolean readsBigQuery(BatchInferenceOptions options) {
    return notEmpty(options.getInputTable()) || notEmpty(options.getInputQuery());
  }

  /** Whether an optional string option is set: not null and not empty. */
  public static boolean notEmpty(String value) {
    return value != null && !value.isEmpty();
  }

  static void checkBigQueryInput(BatchInferenceOptions options) {
    if (notEmpty(options.getInputTable()) && notEmpty(options.getInputQuery())) {
      throw new InvalidJobException(
          "--inputTable and --inputQuery are both set: read a table or a query, not both.");
    }
    if (notEmpty(options.getInputTable()) && !isTableSpec(options.getInputTable())) {
      throw new InvalidJobException(
          "--inputTable="
              + options.getInputTable()
              + " is not a table: use PROJECT:DATASET.TABLE or DATASET.TABLE.");
    }
    if (!notEmpty(options.getIdField())) {
      throw new InvalidJobException(
          "BigQuery rows have no position to name them by: set --idField to a column that"
              + " identifies each row.");
    }
  }

  /** The input files in name order when predictions must keep the input order. */
  static List<String> orderedInputs(BatchInferenceOptions options) {
    if (!options.getOrderedOutput()) {
      return List.of();
    }
    if (readsBigQuery(options)
        || notEmpty(options.getOutputTable())
        || notEmpty(options.getPredictionsDbTable())
        || options.getOutputFormat() != BatchInferenceOptions.OutputFormat.JSONL) {
      throw new InvalidJobException(
          "--orderedOutput keeps the order of input files in JSON Lines prediction files: it"
              + " does not apply to BigQuery input, tables or --outputFormat=PARQUET.");
    }
    try {
      return FileSystems.match(options.getInput(), EmptyMatchTreatment.DISALLOW).metadata().stream()
          .map(m -> m.resourceId().toString())
          .sorted()
          .collect(Collectors.toList());
    } catch (IOException e) {
      throw new InvalidJobException("Cannot list --input=" + options.getInput() + ": " + e, e);
    }
  }

  /** Checks the PostgreSQL options, connects, and creates the tables they name if missing. */
  static void checkDatabase(
      BatchInferenceOptions options, Sink predictions, Sink failures, PredictionRows rows) {
    boolean any =
        notEmpty(options.getPredictionsDbTable()) || notEmpty(options.getFailuresDbTable());
    if (!any) {
      return;
    }
    if (!notEmpty(options.getJdbcUrl())) {
      throw new InvalidJobException(
          "--predictionsDbTable/--failuresDbTable need --jdbcUrl=jdbc:postgresql://HOST:PORT/DB.");
    }
    for (String table :
        new String[] {options.getPredictionsDbTable(), options.getFailuresDbTable()}) {
      if (notEmpty(table) && !WritePostgres.isTableName(table)) {
        throw new InvalidJobException(
            "'" + table + "' is not a table name: use NAME or SCHEMA.NAME (letters, digits, _).");
      }
    }
    try {
      Databases.createTables(predictions, failures, rows.schema());
    } catch (Exception e) {
      throw new InvalidJobException(
          "Cannot use PostgreSQL at "
              + options.getJdbcUrl()
              + " as "
              + options.getJdbcUser()
              + ": "
              + e.getMessage()
              + ". Check --jdbcUrl, --jdbcUser and the password (environment variable "
              + options.getJdbcPasswordEnv()
              + " or --jdbcPasswordFile).",
          e);
    }
  }

  /** Whether BigQueryIO takes {@code spec}: {@code [PROJECT:|PROJECT.]DATASET.TABLE}. */
  static boolean isTableSpec(String spec) {
    try {
      BigQueryHelpers.parseTableSpec(spec);
      return true;
    } catch (IllegalArgumentException e) {
      return false;
    }
  }

  static void checkTables(BatchInferenceOptions options) {
    boolean anyTable = false;
    for (String[] t :
        new String[][] {
          {"--outputTable", options.getOutputTable()},
          {"--failuresTable", options.getFailuresTable()},
          {"--summaryTable", options.getSummaryTable()}
        }) {
      if (!notEmpty(t[1])) {
        continue;
      }
      anyTable = true;
      if (!isTableSpec(t[1])) {
        throw new InvalidJobException(
            t[0] + "=" + t[1] + " is not a table: use PROJECT:DATASET.TABLE or DATASET.TABLE.");
      }
    }
    if (anyTable
        && options.getBigQueryServices() == null
        && options.getBigQueryWriteMethod() == BatchInferenceOptions.TableWriteMethod.FILE_LOADS
        && !loadTempLocation(options).startsWith("gs://")) {
      throw new InvalidJobException(
          "--bigQueryWriteMethod=FILE_LOADS stages load files in Cloud Storage, but they would go"
              + " to "
              + loadTempLocation(options)
              + ". Set --tempLocation=gs://BUCKET/tmp, or use"
              + " --bigQueryWriteMethod=STORAGE_WRITE_API.");
    }
  }

  /**
   * The non-blank lines of a labels file, stripped; fails naming the option when it cannot. The
   * SHA-256 of the bytes read goes to {@code pinned} under {@code role}.
   */
  static List<String> readLines(
      String uri, String option, Map<String, String> pinned, String role) {
    try {
      byte[] bytes = ModelFiles.readAll(uri);
      pinned.put(role, ModelFiles.sha256(bytes));
      String text = new String(bytes, StandardCharsets.UTF_8);
      List<String> lines =
          Arrays.stream(text.split("\\R"))
              .map(String::strip)
              .filter(s -> !s.isEmpty())
              .collect(Collectors.toList());
      if (lines.isEmpty()) {
        throw new InvalidJobException(
            "The labels file " + uri + " is empty. Check " + option + ".");
      }
      return lines;
    } catch (IOException e) {
      throw new InvalidJobException(
          "Cannot read the labels file " + uri + ": " + e.getMessage() + ". Check " + option + ".",
          e);
    }
  }

  /**
   * Refuses Beam's portable runner: on Flink's job server (Beam 2.62) it dropped the last partial
   * batch of every GroupIntoBatches key and still reported success, which breaks the promise that
   * nothing is lost.
   */
  static void checkRunner(BatchInferenceOptions options) {
    if (RunnerKind.of(options) == RunnerKind.PORTABLE) {
      String runner = options.getRunner().getSimpleName();
      throw new InvalidJobException(
          "--runner="
              + runner
              + " is not supported: with Flink's job server it loses the last"
              + " partial batch of each key (seen with Beam 2.62) and still reports success. Use"
              + " the classic runner: --runner=FlinkRunner --flinkMaster=HOST:PORT.");
    }
  }

  static void checkCarryFields(BatchInferenceOptions options) {
    List<String> carry = options.getCarryFields();
    if (carry == null) {
      return;
    }
    for (String field : carry) {
      if (JsonLines.RESERVED.contains(field)) {
        throw new InvalidJobException(
            "--carryFields names '"
                + field
                + "', which predictions use for their own field."
                + " Reserved: "
                + JsonLines.RESERVED);
      }
    }
  }

  static void checkInput(String pattern) {
    if (pattern == null || pattern.isEmpty()) {
      throw new InvalidJobException("--input is required: a file pattern such as data/*.jsonl");
    }
    checkPattern("--input", pattern, "");
  }

  /** Fails unless {@code pattern} (the value of {@code option}) matches at least one file. */
  static void checkPattern(String option, String pattern, String hint) {
    if (ModelFiles.isLocal(pattern) && !hasWildcard(pattern)) {
      // A plain local path: check it directly. Beam's matcher would take a missing file for a
      // pattern and walk its whole parent directory.
      if (!Files.isRegularFile(Paths.get(pattern))) {
        throw new InvalidJobException(
            option + "=" + pattern + " matches no file. Check the path." + hint);
      }
      return;
    }
    MatchResult match;
    try {
      match = FileSystems.match(pattern, EmptyMatchTreatment.ALLOW);
    } catch (IOException | IllegalArgumentException e) {
      throw new InvalidJobException(
          "Cannot list " + option + "=" + pattern + ": " + e.getMessage(), e);
    }
    try {
      if (match.status() != MatchResult.Status.OK || match.metadata().isEmpty()) {
        throw new InvalidJobException(
            option + "=" + pattern + " matches no file. Check the path and the pattern." + hint);
      }
    } catch (IOException e) {
      throw new InvalidJobException(
          "Cannot list " + option + "=" + pattern + ": " + e.getMessage(), e);
    }
  }

  private static boolean hasWildcard(String pattern) {
    return pattern.contains("*")
        || pattern.contains("?")
        || pattern.contains("[")
        || pattern.contains("{");
  }

  static ResourceId checkOutput(String output) {
    if (output == null || output.isEmpty()) {
      throw new InvalidJobException("--output is required: a directory for the results");
    }
    ResourceId dir;
    try {
      dir = FileSystems.matchNewResource(output, true);
    } catch (IllegalArgumentException e) {
      throw new InvalidJobException(
          "--output=" + output + " is not a valid location: " + e.getMessage(), e);
    }
    ResourceId probe = dir.resolve(".write-check", StandardResolveOptions.RESOLVE_FILE);
    try {
      try (OutputStream out = Channels.newOutputStream(FileSystems.create(probe, "text/plain"))) {
        out.write('\n');
      }
      FileSystems.delete(List.of(probe));
    } catch (IOException | RuntimeException e) {
      throw new InvalidJobException(
          "Cannot write to --output="
              + output
              + ": "
              + e
              + ". Choose a location this job may write to.",
          e);
    }
    return dir;
  }

  /**
   * Whether {@code option} was given (on the command line or set in code), rather than left at its
   * default: Beam leaves defaults out of the options' display data.
   */
  static boolean isSet(PipelineOptions options, String option) {
    return DisplayData.from(options).items().stream()
        .anyMatch(item -> item.getKey().equals(option));
  }

  /**
   * Refuses string outputs for sinks that hold raw outputs as rows (Parquet, BigQuery, PostgreSQL),
   * whose {@code values} are FLOAT64: only JSON Lines writes every element type as it is.
   */
  static void checkOutputTypes(Sink predictions, ModelSignature signature) {
    if (predictions instanceof Sink.JsonLinesFiles
        || predictions instanceof Sink.OrderedJsonLinesFiles) {
      return;
    }
    for (var output : signature.outputs().entrySet()) {
      if (output.getValue().dtype() == Tensor.DType.STRING) {
        throw new InvalidJobException(
            "Model output '"
                + output.getKey()
                + "' is a string tensor, which Parquet, BigQuery and PostgreSQL outputs cannot hold"
                + " (their raw output values are FLOAT64). Write JSON Lines (--outputFormat=JSONL"
                + " to files), or leave the output out with --outputs.");
      }
    }
  }
}
