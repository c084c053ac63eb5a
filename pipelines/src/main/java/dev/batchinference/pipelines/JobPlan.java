package dev.batchinference.pipelines;

import dev.batchinference.pipelines.options.BatchInferenceOptions;
import dev.batchinference.pipelines.options.BigQueryIoOptions.TableWriteMethod;
import dev.batchinference.pipelines.options.DriftOptions;
import dev.batchinference.pipelines.options.OutputOptions.OutputFormat;
import dev.batchinference.pipelines.options.PostgresOptions;
import dev.batchinference.pipelines.options.RunnerKind;
import dev.batchinference.pipelines.sinks.Databases;
import dev.batchinference.pipelines.sinks.Sink;
import dev.batchinference.pipelines.summary.RunComparison;
import dev.batchinference.transforms.io.PredictionRows;
import dev.batchinference.transforms.io.ReadRecords;
import dev.batchinference.transforms.model.ModelFiles;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.TreeMap;
import org.apache.beam.sdk.io.FileSystems;
import org.apache.beam.sdk.io.fs.ResolveOptions.StandardResolveOptions;

/**
 * A job, decided: the options read once, checked ({@link JobChecks}) and turned into what the job
 * reads, the model and its task, how records are batched, where everything is written, and what an
 * incremental or compared run adds. It is built before any data is read; {@link
 * BatchInference#build} and every sink take it (or their part of it), never the options.
 *
 * @param jobName the job's name, for the lock and the summary
 * @param runner which runner the job runs on
 * @param runnerName the runner's class name, for the summary
 * @param source what the job reads
 * @param carryFields input fields copied into each prediction
 * @param idField the input field that names each record, if any
 * @param model the model, loaded and checked, with the task's pre- and postprocessing
 * @param batching how records are spread and batched, defaults resolved
 * @param output the output location as the user gave it
 * @param outputDirectory the output location resolved as a directory (ends with a separator)
 * @param rows the prediction fields, for the typed sinks
 * @param predictions where predictions go
 * @param failures where failures (the dead letter) go
 * @param summaryTable a BigQuery table the summary is also appended to, if any
 * @param maxFailureChars how much of a failed record's input a failure keeps
 * @param maxFailureRate the failure gate; negative for none
 * @param settings the options that change a prediction besides the model and the record ({@link
 *     #predictionSettings}), whose SHA-256 ({@code settingsSha256}) goes into every prediction and
 *     the summary, and is compared by incremental runs
 * @param settingsSha256 the SHA-256 of {@code settings}
 * @param previousPredictions an incremental run's previous predictions (a file pattern)
 * @param drift the previous run's summary to compare with, if any
 * @param breakLock whether to take the output directory's lock from a run that holds it
 */
public record JobPlan(
    String jobName,
    RunnerKind runner,
    String runnerName,
    Source source,
    List<String> carryFields,
    Optional<String> idField,
    ModelPlan model,
    Batching batching,
    String output,
    String outputDirectory,
    PredictionRows rows,
    Sink predictions,
    Sink failures,
    Optional<Sink.BigQueryTable> summaryTable,
    int maxFailureChars,
    double maxFailureRate,
    Map<String, String> settings,
    String settingsSha256,
    Optional<String> previousPredictions,
    Optional<Drift> drift,
    boolean breakLock) {

  /**
   * A comparison with the previous run.
   *
   * @param previousSummary where the previous run's summary is, as given
   * @param previousJson its content, read at launch
   */
  public record Drift(
      String previousSummary, String previousJson, RunComparison.Thresholds thresholds) {}

  /**
   * Reads and checks {@code options}, loads the model, and decides the job; throws {@link
   * dev.batchinference.pipelines.options.InvalidJobException} with what to fix when it can never
   * work. Nothing is read from the input but its file names; PostgreSQL tables the options name are
   * created when missing.
   */
  public static JobPlan from(BatchInferenceOptions options) {
    JobChecks.checkRunner(options);
    FileSystems.setDefaultPipelineOptions(options);
    JobChecks.checkCarryFields(options);
    Source source;
    if (JobChecks.readsBigQuery(options)) {
      JobChecks.checkBigQueryInput(options);
      source =
          new Source.BigQuery(
              nonEmpty(options.getInputTable()),
              nonEmpty(options.getInputQuery()),
              options.getBigQueryReadMethod(),
              options.getBigQueryServices());
    } else {
      JobChecks.checkInput(options.getInput());
      source =
          new Source.Files(
              options.getInput(),
              options.getInputFormat(),
              options.getMaxRecordBytes(),
              options.getInputRangeBytes(),
              minRanges(RunnerKind.of(options)));
    }
    String outputDirectory = JobChecks.checkOutput(options.getOutput()).toString();
    nonEmpty(options.getPreviousPredictions())
        .ifPresent(
            previous ->
                JobChecks.checkPattern(
                    "--previousPredictions",
                    previous,
                    " For the first run of an incremental job, leave --previousPredictions"
                        + " unset."));
    JobChecks.checkTables(options);
    JobChecks.checkMinNewRecords(options);

    ModelPlan model = ModelPlan.from(options);
    List<String> carryFields =
        options.getCarryFields() == null ? List.of() : options.getCarryFields();
    Map<String, String> settings = predictionSettings(options, model);
    String settingsSha256 = settingsSha256(settings);
    PredictionRows rows =
        PredictionRows.of(model.content(), carryFields).withSettingsSha256(settingsSha256);
    Sink predictions = predictionsSink(options, outputDirectory, JobChecks.orderedInputs(options));
    Sink failures = failuresSink(options, outputDirectory);
    JobChecks.checkDatabase(options, predictions, failures, rows);
    JobChecks.checkOutputTypes(predictions, model.signature());
    Optional<Drift> drift =
        nonEmpty(options.getPreviousSummary())
            .map(
                previous ->
                    new Drift(previous, RunComparison.readPrevious(previous), thresholds(options)));
    return new JobPlan(
        options.getJobName(),
        RunnerKind.of(options),
        options.getRunner().getSimpleName(),
        source,
        carryFields,
        nonEmpty(options.getIdField()),
        model,
        model
            .task()
            .fitBatching(
                Batching.from(options, model.task(), RunnerKind.of(options)),
                model.signature(),
                JobChecks.isSet(options, "batchSize")),
        options.getOutput(),
        outputDirectory,
        rows,
        predictions,
        failures,
        nonEmpty(options.getSummaryTable()).map(table -> bigQueryTable(options, table)),
        options.getMaxFailureChars(),
        options.getMaxFailureRate(),
        settings,
        settingsSha256,
        nonEmpty(options.getPreviousPredictions()),
        drift,
        options.getBreakLock());
  }

  /** Where {@code name} goes in the output directory. */
  public String resolve(String name) {
    return FileSystems.matchNewResource(outputDirectory, true)
        .resolve(name, StandardResolveOptions.RESOLVE_FILE)
        .toString();
  }

  /** The extension of the prediction and failure files: {@code parquet} or {@code jsonl}. */
  public String fileExtension() {
    return predictions instanceof Sink.ParquetFiles ? "parquet" : "jsonl";
  }

  /**
   * Every option that changes what a prediction holds, besides the model file and the record, by
   * name, in name order: the task and, for each task, the options its preprocessing and
   * postprocessing read ({@link TaskSpec#settings}); also the model outputs and the carried fields,
   * which are part of every prediction record. Options that only change how the job runs (batching,
   * threads, runner) are left out: they change no prediction.
   */
  static Map<String, String> predictionSettings(BatchInferenceOptions options, ModelPlan model) {
    Map<String, String> s = new TreeMap<>(model.task().settings(model.pinnedSha256()));
    s.put("task", model.task().task().name());
    s.put("outputs", String.valueOf(options.getOutputs()));
    s.put("carryFields", String.valueOf(options.getCarryFields()));
    return s;
  }

  /** SHA-256 of the settings as {@code name=value} lines in name order. */
  static String settingsSha256(Map<String, String> settings) {
    StringBuilder text = new StringBuilder();
    new TreeMap<>(settings).forEach((k, v) -> text.append(k).append('=').append(v).append('\n'));
    return ModelFiles.sha256(text.toString().getBytes(StandardCharsets.UTF_8));
  }

  private static Sink predictionsSink(
      BatchInferenceOptions options, String outputDirectory, List<String> orderedInputs) {
    if (JobChecks.notEmpty(options.getPredictionsDbTable())) {
      return postgresTable(options, options.getPredictionsDbTable());
    }
    if (JobChecks.notEmpty(options.getOutputTable())) {
      return bigQueryTable(options, options.getOutputTable());
    }
    if (options.getOutputFormat() == OutputFormat.PARQUET) {
      return new Sink.ParquetFiles(
          outputDirectory, BatchInference.PREDICTIONS, options.getSingleOutputFile());
    }
    if (options.getOrderedOutput()) {
      return new Sink.OrderedJsonLinesFiles(
          outputDirectory,
          BatchInference.PREDICTIONS,
          orderedInputs,
          options.getSingleOutputFile());
    }
    return new Sink.JsonLinesFiles(
        outputDirectory, BatchInference.PREDICTIONS, options.getSingleOutputFile());
  }

  private static Sink failuresSink(BatchInferenceOptions options, String outputDirectory) {
    if (JobChecks.notEmpty(options.getFailuresDbTable())) {
      return postgresTable(options, options.getFailuresDbTable());
    }
    if (JobChecks.notEmpty(options.getFailuresTable())) {
      return bigQueryTable(options, options.getFailuresTable());
    }
    if (options.getOutputFormat() == OutputFormat.PARQUET) {
      return new Sink.ParquetFiles(
          outputDirectory, BatchInference.FAILURES, options.getSingleOutputFile());
    }
    return new Sink.JsonLinesFiles(
        outputDirectory, BatchInference.FAILURES, options.getSingleOutputFile());
  }

  private static Sink.PostgresTable postgresTable(PostgresOptions options, String table) {
    return new Sink.PostgresTable(
        Databases.connection(
            options.getJdbcUrl(),
            options.getJdbcUser(),
            options.getJdbcPasswordEnv(),
            options.getJdbcPasswordFile()),
        table);
  }

  private static Sink.BigQueryTable bigQueryTable(BatchInferenceOptions options, String table) {
    return new Sink.BigQueryTable(
        table,
        options.getBigQueryWriteMethod() == null
            ? TableWriteMethod.FILE_LOADS
            : options.getBigQueryWriteMethod(),
        options.getCreateDisposition(),
        options.getWriteDisposition(),
        JobChecks.loadTempLocation(options),
        options.getBigQueryServices());
  }

  /** The drift alert thresholds of {@code options}; a negative one turns its check off. */
  private static RunComparison.Thresholds thresholds(DriftOptions options) {
    return new RunComparison.Thresholds(
        options.getMaxPsi(),
        options.getMaxScoreShift(),
        options.getMaxCentroidShift(),
        options.getMaxFailureRateIncrease(),
        options.getMaxThroughputDrop());
  }

  private static Optional<String> nonEmpty(String value) {
    return JobChecks.notEmpty(value) ? Optional.of(value) : Optional.empty();
  }

  /**
   * The least ranges a large file is cut into: one per core on the DirectRunner, which pays a fixed
   * cost per bundle and step (its evaluators re-translate the step) and makes a bundle of each
   * range, so that 64 ranges of a 250 MB input cost it twice the CPU of two; elsewhere {@link
   * ReadRecords#DEFAULT_MIN_RANGES}, so that a single big file feeds every worker of a cluster.
   */
  static int minRanges(RunnerKind runner) {
    return runner == RunnerKind.DIRECT
        ? Math.max(2, Runtime.getRuntime().availableProcessors())
        : ReadRecords.DEFAULT_MIN_RANGES;
  }
}
