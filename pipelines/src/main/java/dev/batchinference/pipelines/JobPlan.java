package dev.batchinference.pipelines;

import dev.batchinference.pipelines.options.BatchInferenceOptions;
import dev.batchinference.pipelines.options.InvalidJobException;
import dev.batchinference.pipelines.sinks.Databases;
import dev.batchinference.pipelines.sinks.Tables;
import dev.batchinference.transforms.io.JsonLines;
import dev.batchinference.transforms.io.PredictionRows;
import dev.batchinference.transforms.io.WritePostgres;
import dev.batchinference.transforms.model.LoadedModel;
import dev.batchinference.transforms.model.ModelFiles;
import dev.batchinference.transforms.model.ModelSignature;
import dev.batchinference.transforms.model.SharedResources;
import dev.batchinference.transforms.onnx.OnnxModelHandler;
import dev.batchinference.transforms.onnx.SessionConfig;
import dev.batchinference.transforms.postprocess.ClassScores;
import dev.batchinference.transforms.postprocess.MeanPooledEmbedding;
import dev.batchinference.transforms.postprocess.Postprocessor;
import dev.batchinference.transforms.postprocess.RawOutputs;
import dev.batchinference.transforms.postprocess.ZeroShotLabels;
import dev.batchinference.transforms.preprocess.FeatureVector;
import dev.batchinference.transforms.preprocess.Preprocessor;
import dev.batchinference.transforms.preprocess.RawTensors;
import dev.batchinference.transforms.preprocess.TextTokenizer;
import dev.batchinference.transforms.tensor.TensorExample;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.channels.Channels;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Paths;
import java.util.Arrays;
import java.util.Collections;
import java.util.EnumSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.Collectors;
import org.apache.beam.sdk.io.FileSystems;
import org.apache.beam.sdk.io.fs.EmptyMatchTreatment;
import org.apache.beam.sdk.io.fs.MatchResult;
import org.apache.beam.sdk.io.fs.ResolveOptions.StandardResolveOptions;
import org.apache.beam.sdk.io.fs.ResourceId;
import org.apache.beam.sdk.io.gcp.bigquery.BigQueryHelpers;

/**
 * Everything a job needs, checked before it reads any data: the input matches files, the output can
 * be written, the model loads and its inputs and outputs fit the task, and the tokenizer and labels
 * load. A check that fails throws {@link InvalidJobException} with what to fix.
 */
public final class JobPlan {

  public final OnnxModelHandler handler;
  final ModelSignature signature;
  public final Preprocessor<TensorExample> preprocessor;
  final Postprocessor<TensorExample, TensorExample> postprocessor;
  final ResourceId outputDir;
  final PredictionRows rows;

  /** The input files in name order, for --orderedOutput; empty otherwise. */
  final List<String> inputFiles;

  /**
   * The settings that change a prediction besides the model and the record (see {@link
   * #predictionSettings}), and their SHA-256: written into every prediction ({@code
   * settings_sha256}) and the summary, and compared by incremental runs.
   */
  final Map<String, String> settings;

  final String settingsSha256;

  /**
   * SHA-256 of the files besides the model that the job pinned at launch, by role ({@code
   * tokenizer}, {@code class_labels}, {@code zero_shot_labels}): the tokenizer's hash is checked by
   * every worker; label files are read here once and travel with the job.
   */
  final Map<String, String> pinnedSha256;

  private JobPlan(
      OnnxModelHandler handler,
      ModelSignature signature,
      Preprocessor<TensorExample> preprocessor,
      Postprocessor<TensorExample, TensorExample> postprocessor,
      ResourceId outputDir,
      PredictionRows rows,
      List<String> inputFiles,
      Map<String, String> settings,
      Map<String, String> pinnedSha256) {
    this.inputFiles = inputFiles;
    this.settings = settings;
    this.settingsSha256 = settingsSha256(settings);
    this.pinnedSha256 = Collections.unmodifiableMap(new LinkedHashMap<>(pinnedSha256));
    this.handler = handler;
    this.signature = signature;
    this.preprocessor = preprocessor;
    this.postprocessor = postprocessor;
    this.outputDir = outputDir;
    this.rows = rows;
  }

  public static JobPlan prepare(BatchInferenceOptions options) {
    checkRunner(options);
    FileSystems.setDefaultPipelineOptions(options);
    checkCarryFields(options);
    if (readsBigQuery(options)) {
      checkBigQueryInput(options);
    } else {
      checkInput(options.getInput());
    }
    ResourceId outputDir = checkOutput(options.getOutput());
    if (notEmpty(options.getPreviousPredictions())) {
      checkPattern(
          "--previousPredictions",
          options.getPreviousPredictions(),
          " For the first run of an incremental job, leave --previousPredictions unset.");
    }
    checkTables(options);
    checkMinNewRecords(options);

    OnnxModelHandler handler =
        OnnxModelHandler.of(options.getModel()).withSessionConfig(sessionConfig(options));
    if (options.getModelName() != null && !options.getModelName().isEmpty()) {
      handler = handler.withName(options.getModelName());
    }
    List<String> outputs = options.getOutputs();
    if (outputs != null && !outputs.isEmpty()) {
      handler = handler.withOutputs(outputs);
    } else if (options.getTask() == BatchInferenceOptions.Task.EMBED) {
      handler = handler.withOutputs(List.of(options.getEmbeddingOutput()));
    }

    ModelSignature signature;
    try {
      signature = handler.inspect();
    } catch (Exception e) {
      throw new InvalidJobException("The model cannot be used: " + e.getMessage(), e);
    }
    handler = handler.withExpectedSha256(signature.identity().sha256());

    Map<String, String> pinned = new LinkedHashMap<>();
    try {
      Preprocessor<TensorExample> preprocessor = preprocessor(options, signature, pinned);
      Postprocessor<TensorExample, TensorExample> postprocessor = postprocessor(options, pinned);
      preprocessor.check(signature);
      postprocessor.check(signature);
      EnumSet<PredictionRows.Content> content = EnumSet.of(content(options.getTask()));
      if (options.getTask() == BatchInferenceOptions.Task.EMBED
          && notEmpty(options.getZeroShotLabels())) {
        postprocessor =
            zeroShot(options, handler, preprocessor, (MeanPooledEmbedding) postprocessor, pinned);
        content.add(PredictionRows.Content.CLASS);
      }
      PredictionRows rows =
          PredictionRows.of(
              content, options.getCarryFields() == null ? List.of() : options.getCarryFields());
      checkDatabase(options, rows);
      Map<String, String> settings = predictionSettings(options, pinned);
      rows = rows.withSettingsSha256(settingsSha256(settings));
      return new JobPlan(
          handler,
          signature,
          preprocessor,
          postprocessor,
          outputDir,
          rows,
          orderedInputs(options),
          settings,
          pinned);
    } catch (InvalidJobException e) {
      throw e;
    } catch (Exception e) {
      throw new InvalidJobException(
          "The model does not fit --task=" + options.getTask() + ": " + e.getMessage(), e);
    }
  }

  /**
   * Every option that changes what a prediction holds, besides the model file and the record, by
   * name, in name order: the task and, for each task, the options its preprocessing and
   * postprocessing read; files (tokenizer, labels) by the SHA-256 of their content pinned at launch
   * ({@code pinned}, by role), so that an edited file under the same name counts as a change. Also
   * the carried fields, which are part of every prediction record. Options that only change how the
   * job runs (batching, threads, runner) are left out: they change no prediction.
   */
  static Map<String, String> predictionSettings(
      BatchInferenceOptions options, Map<String, String> pinned) {
    Map<String, String> s = new java.util.TreeMap<>();
    BatchInferenceOptions.Task task = options.getTask();
    s.put("task", task.name());
    s.put("outputs", String.valueOf(options.getOutputs()));
    s.put("carryFields", String.valueOf(options.getCarryFields()));
    switch (task) {
      case EMBED:
        s.put("tokenizer_sha256", pinned.get("tokenizer"));
        s.put("textField", options.getTextField());
        s.put("maxSequenceLength", Integer.toString(options.getMaxSequenceLength()));
        s.put("truncate", Boolean.toString(options.getTruncate()));
        s.put("normalize", Boolean.toString(options.getNormalize()));
        s.put("embeddingOutput", options.getEmbeddingOutput());
        if (notEmpty(options.getZeroShotLabels())) {
          s.put("zeroShotLabels_sha256", pinned.get("zero_shot_labels"));
          s.put("topK", Integer.toString(options.getTopK()));
        }
        break;
      case CLASSIFY:
        s.put("featuresField", options.getFeaturesField());
        s.put("featureColumns", String.valueOf(options.getFeatureColumns()));
        s.put("activation", String.valueOf(options.getActivation()));
        s.put("topK", Integer.toString(options.getTopK()));
        if (notEmpty(options.getClassLabels())) {
          s.put("classLabels_sha256", pinned.get("class_labels"));
        }
        break;
      default:
        break;
    }
    return s;
  }

  /** SHA-256 of the settings as {@code name=value} lines in name order. */
  static String settingsSha256(Map<String, String> settings) {
    StringBuilder text = new StringBuilder();
    new java.util.TreeMap<>(settings)
        .forEach((k, v) -> text.append(k).append('=').append(v).append('\n'));
    return ModelFiles.sha256(text.toString().getBytes(StandardCharsets.UTF_8));
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

  /** The input as the summary names it. */
  static String inputName(BatchInferenceOptions options) {
    if (notEmpty(options.getInputTable())) {
      return "bigquery:" + options.getInputTable();
    }
    return notEmpty(options.getInputQuery()) ? "bigquery:query" : options.getInput();
  }

  /** Whether an optional string option is set: not null and not empty. */
  public static boolean notEmpty(String value) {
    return value != null && !value.isEmpty();
  }

  private static PredictionRows.Content content(BatchInferenceOptions.Task task) {
    switch (task) {
      case EMBED:
        return PredictionRows.Content.EMBEDDING;
      case CLASSIFY:
        return PredictionRows.Content.CLASS;
      default:
        return PredictionRows.Content.OUTPUTS;
    }
  }

  private static void checkBigQueryInput(BatchInferenceOptions options) {
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
  private static List<String> orderedInputs(BatchInferenceOptions options) {
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
  private static void checkDatabase(BatchInferenceOptions options, PredictionRows rows) {
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
      Databases.createTables(options, rows.schema());
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

  private static void checkTables(BatchInferenceOptions options) {
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
        && !Tables.loadTempLocation(options).startsWith("gs://")) {
      throw new InvalidJobException(
          "--bigQueryWriteMethod=FILE_LOADS stages load files in Cloud Storage, but they would go"
              + " to "
              + Tables.loadTempLocation(options)
              + ". Set --tempLocation=gs://BUCKET/tmp, or use"
              + " --bigQueryWriteMethod=STORAGE_WRITE_API.");
    }
  }

  /** Embeds the zero-shot label descriptions with the job's own tokenizer and model, once. */
  private static ZeroShotLabels zeroShot(
      BatchInferenceOptions options,
      OnnxModelHandler handler,
      Preprocessor<TensorExample> tokenizer,
      MeanPooledEmbedding embedding,
      Map<String, String> pinned)
      throws Exception {
    Map<String, String> descriptions = new LinkedHashMap<>();
    for (String line :
        readLines(options.getZeroShotLabels(), "--zeroShotLabels", pinned, "zero_shot_labels")) {
      int colon = line.indexOf(':');
      String label = (colon < 0 ? line : line.substring(0, colon)).strip();
      String description = colon < 0 ? label : line.substring(colon + 1).strip();
      if (label.isEmpty() || description.isEmpty()) {
        throw new InvalidJobException(
            "--zeroShotLabels: the line '" + line + "' has no label or no description.");
      }
      if (descriptions.put(label, description) != null) {
        throw new InvalidJobException("--zeroShotLabels lists the label '" + label + "' twice.");
      }
    }
    if (descriptions.size() < 2) {
      throw new InvalidJobException("--zeroShotLabels needs at least two labels.");
    }
    try (SharedResources.Lease<LoadedModel<TensorExample, TensorExample>> model =
        SharedResources.acquire(handler.cacheKey(), handler::load)) {
      return ZeroShotLabels.embedLabels(
          descriptions,
          options.getTextField(),
          tokenizer,
          model.get(),
          embedding,
          options.getTopK());
    }
  }

  static SessionConfig sessionConfig(BatchInferenceOptions options) {
    SessionConfig config =
        SessionConfig.defaults()
            .withIntraOpThreads(options.getIntraOpThreads())
            .withInterOpThreads(options.getInterOpThreads())
            .withOptimization(options.getGraphOptimization());
    return options.getExecutionProvider() == SessionConfig.Provider.CUDA
        ? config.withCuda(options.getCudaDeviceId())
        : config;
  }

  private static Preprocessor<TensorExample> preprocessor(
      BatchInferenceOptions options, ModelSignature signature, Map<String, String> pinned)
      throws Exception {
    switch (options.getTask()) {
      case EMBED:
        TextTokenizer tokenizer =
            TextTokenizer.of(options.getTokenizer())
                .withTextField(options.getTextField())
                .withMaxLength(options.getMaxSequenceLength())
                .withTruncation(options.getTruncate());
        try {
          // Pinned like the model: workers refuse a tokenizer replaced after this check.
          String sha256 = ModelFiles.currentSha256(options.getTokenizer());
          pinned.put("tokenizer", sha256);
          tokenizer = tokenizer.withExpectedSha256(sha256);
          tokenizer.checkLoads();
        } catch (IOException e) {
          throw new InvalidJobException(
              "Cannot load the tokenizer at "
                  + options.getTokenizer()
                  + ": "
                  + e.getMessage()
                  + ". Check --tokenizer (a Hugging Face tokenizer.json).",
              e);
        } catch (Exception e) {
          throw new InvalidJobException(e.getMessage(), e);
        }
        return tokenizer;
      case CLASSIFY:
        FeatureVector features =
            FeatureVector.forModel(signature).withField(options.getFeaturesField());
        List<String> columns = options.getFeatureColumns();
        return columns == null || columns.isEmpty() ? features : features.withColumns(columns);
      default:
        return RawTensors.forModel(signature);
    }
  }

  private static Postprocessor<TensorExample, TensorExample> postprocessor(
      BatchInferenceOptions options, Map<String, String> pinned) {
    switch (options.getTask()) {
      case EMBED:
        return MeanPooledEmbedding.of()
            .withOutput(options.getEmbeddingOutput())
            .withNormalize(options.getNormalize());
      case CLASSIFY:
        ClassScores scores =
            ClassScores.of().withTopK(options.getTopK()).withActivation(options.getActivation());
        if (options.getOutputs() != null && !options.getOutputs().isEmpty()) {
          scores = scores.withOutput(options.getOutputs().get(0));
        }
        if (options.getClassLabels() != null && !options.getClassLabels().isEmpty()) {
          scores =
              scores.withLabels(
                  readLines(options.getClassLabels(), "--classLabels", pinned, "class_labels"));
        }
        return scores;
      default:
        return RawOutputs.of();
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
    String runner = options.getRunner().getSimpleName();
    if (runner.equals("PortableRunner") || runner.equals("TestPortableRunner")) {
      throw new InvalidJobException(
          "--runner="
              + runner
              + " is not supported: with Flink's job server it loses the last"
              + " partial batch of each key (seen with Beam 2.62) and still reports success. Use"
              + " the classic runner: --runner=FlinkRunner --flinkMaster=HOST:PORT.");
    }
  }

  private static void checkCarryFields(BatchInferenceOptions options) {
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

  private static void checkInput(String pattern) {
    if (pattern == null || pattern.isEmpty()) {
      throw new InvalidJobException("--input is required: a file pattern such as data/*.jsonl");
    }
    checkPattern("--input", pattern, "");
  }

  /** Fails unless {@code pattern} (the value of {@code option}) matches at least one file. */
  private static void checkPattern(String option, String pattern, String hint) {
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

  private static ResourceId checkOutput(String output) {
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
}
