package dev.batchinference.pipelines;

import dev.batchinference.pipelines.cli.CommandLine;
import dev.batchinference.pipelines.options.BatchInferenceOptions;
import dev.batchinference.pipelines.sinks.RemoveStaleOutputs;
import dev.batchinference.pipelines.sinks.Tables;
import dev.batchinference.pipelines.sinks.WriteFailures;
import dev.batchinference.pipelines.sinks.WritePredictions;
import dev.batchinference.pipelines.summary.RunComparison;
import dev.batchinference.pipelines.summary.RunSummary;
import dev.batchinference.pipelines.summary.WriteRunSummary;
import dev.batchinference.transforms.Failure;
import dev.batchinference.transforms.Prediction;
import dev.batchinference.transforms.RecordMeta;
import dev.batchinference.transforms.RunInference;
import dev.batchinference.transforms.io.RawRecord;
import dev.batchinference.transforms.io.ReadBigQuery;
import dev.batchinference.transforms.io.ReadRecords;
import dev.batchinference.transforms.io.UnreadableFile;
import dev.batchinference.transforms.preprocess.Preprocess;
import dev.batchinference.transforms.stats.RunStats;
import dev.batchinference.transforms.tensor.Tensor;
import dev.batchinference.transforms.tensor.TensorExample;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.apache.beam.sdk.Pipeline;
import org.apache.beam.sdk.PipelineResult;
import org.apache.beam.sdk.io.FileSystems;
import org.apache.beam.sdk.io.fs.ResolveOptions.StandardResolveOptions;
import org.apache.beam.sdk.options.PipelineOptionsFactory;
import org.apache.beam.sdk.transforms.Combine;
import org.apache.beam.sdk.transforms.Create;
import org.apache.beam.sdk.transforms.Flatten;
import org.apache.beam.sdk.transforms.MapElements;
import org.apache.beam.sdk.transforms.Reshuffle;
import org.apache.beam.sdk.values.KV;
import org.apache.beam.sdk.values.PCollection;
import org.apache.beam.sdk.values.PCollectionList;
import org.apache.beam.sdk.values.PCollectionTuple;
import org.apache.beam.sdk.values.TupleTag;
import org.apache.beam.sdk.values.TypeDescriptor;
import org.apache.beam.sdk.values.TypeDescriptors;
import org.checkerframework.checker.nullness.qual.Nullable;
import org.joda.time.Duration;

/**
 * The batch inference job: reads records, turns them into model inputs, runs them through an ONNX
 * model in batches, and writes predictions, failures and a run summary.
 *
 * <pre>
 * source ─► parse + preprocess ─► RunInference (shard, GroupIntoBatches, infer, postprocess) ─► predictions
 *   └──────────────┴────────────────────────┴──► failures          every stage ──► summary.json, report.html
 * </pre>
 *
 * <p>Run it with {@code java -jar batch-inference-bundled.jar [--option=value ...]}; {@code --help}
 * lists the options.
 */
public final class BatchInference {

  public static final String PREDICTIONS = "predictions";
  public static final String FAILURES = "failures";
  public static final String SUMMARY = "summary.json";
  public static final String REPORT = "report.html";

  /**
   * The keys that records are spread over after reading: {@code --redistributeBuckets} when set; on
   * the DirectRunner, which makes a bundle of each key and pays a fixed cost per bundle and step
   * (its evaluators re-translate the step), one per core; elsewhere 0, Beam's random keys.
   */
  static int redistributeBuckets(BatchInferenceOptions options) {
    return options.getRedistributeBuckets() > 0
        ? options.getRedistributeBuckets()
        : coresOnDirectRunner(options);
  }

  /**
   * The cores of this machine when the job runs on the DirectRunner (whose threads are all here), 0
   * on other runners.
   */
  private static int coresOnDirectRunner(BatchInferenceOptions options) {
    return options.getRunner().getSimpleName().equals("DirectRunner")
        ? Math.max(2, Runtime.getRuntime().availableProcessors())
        : 0;
  }

  /**
   * Token-count buckets for texts, about 1.5 apart. With the token budget below they took the
   * inference step on 2,000 fortunes (MiniLM int8, batch 32, DirectRunner) from 84 records/s
   * (padded to each batch's longest) and 227 (buckets 32/64/128) to 282; see the README's
   * performance section.
   */
  static final List<Long> DEFAULT_TEXT_LENGTH_BUCKETS =
      List.of(16L, 24L, 32L, 48L, 64L, 96L, 128L, 192L);

  /** Tokens per record of a batch that the default text token budget allows. */
  static final long DEFAULT_TOKENS_PER_RECORD = 32;

  /**
   * {@code --maxBatchWeight}, or by default for texts a token budget of {@value
   * #DEFAULT_TOKENS_PER_RECORD} tokens per record of a full batch (never below the longest text a
   * record may have, which would fail it); 0, no budget, otherwise.
   */
  static long maxBatchWeight(BatchInferenceOptions options) {
    if (options.getMaxBatchWeight() != null) {
      return options.getMaxBatchWeight();
    }
    if (options.getTask() != BatchInferenceOptions.Task.EMBED) {
      return 0;
    }
    return Math.max(
        DEFAULT_TOKENS_PER_RECORD * options.getBatchSize(), options.getMaxSequenceLength());
  }

  /** {@code --inferenceShards}, or one per core on the DirectRunner and 8 elsewhere. */
  static int inferenceShards(BatchInferenceOptions options) {
    if (options.getInferenceShards() > 0) {
      return options.getInferenceShards();
    }
    int cores = coresOnDirectRunner(options);
    return cores > 0 ? cores : RunInference.DEFAULT_SHARDS;
  }

  private BatchInference() {}

  public static void main(String[] args) {
    System.exit(CommandLine.run(args, System.out, System.err));
  }

  /**
   * Checks the job, then builds it, takes the output directory's lock ({@link OutputLock}) and
   * starts it; returns without waiting for it to finish. The job's last step releases the lock.
   *
   * @throws IllegalStateException when another run holds the output directory's lock
   */
  public static PipelineResult run(BatchInferenceOptions options) {
    Pipeline pipeline = Pipeline.create(options);
    OutputLock lock = OutputLock.forRun(options.getOutput(), options.getJobName());
    build(pipeline, options, lock);
    try {
      lock.acquire(options.getBreakLock());
    } catch (OutputLock.HeldException | java.io.IOException e) {
      throw new IllegalStateException(e.getMessage(), e);
    }
    try {
      return pipeline.run();
    } catch (RuntimeException e) {
      lock.release();
      throw e;
    }
  }

  /** Checks the job (before any data is read) and adds its steps to {@code pipeline}. */
  public static void build(Pipeline pipeline, BatchInferenceOptions options) {
    build(pipeline, options, null);
  }

  /**
   * As {@link #build(Pipeline, BatchInferenceOptions)}, and with a {@code lock}, the job's last
   * step releases it (the caller takes it before running the pipeline).
   */
  public static void build(
      Pipeline pipeline, BatchInferenceOptions options, @Nullable OutputLock lock) {
    long startMillis = System.currentTimeMillis();
    JobPlan plan = JobPlan.prepare(options);
    String previousSummary =
        JobPlan.notEmpty(options.getPreviousSummary())
            ? RunComparison.readPrevious(options.getPreviousSummary())
            : null;

    PCollection<RawRecord> readRecords;
    PCollection<Failure> readFailures;
    PCollection<UnreadableFile> unreadableFiles;
    if (JobPlan.readsBigQuery(options)) {
      ReadBigQuery bigQuery =
          JobPlan.notEmpty(options.getInputTable())
              ? ReadBigQuery.table(options.getInputTable())
              : ReadBigQuery.query(options.getInputQuery());
      bigQuery = bigQuery.withMethod(options.getBigQueryReadMethod());
      if (options.getBigQueryServices() != null) {
        bigQuery = bigQuery.withTestServices(options.getBigQueryServices());
      }
      readRecords = pipeline.apply("ReadBigQuery", bigQuery);
      readFailures = pipeline.apply("NoReadFailures", Create.empty(Failure.Coder.of()));
      unreadableFiles =
          pipeline.apply("NoUnreadableFiles", Create.empty(UnreadableFile.Coder.of()));
    } else {
      ReadRecords.Result read =
          pipeline.apply(
              "ReadRecords",
              ReadRecords.from(options.getInput())
                  .withFormat(options.getInputFormat())
                  .withMaxRecordBytes(options.getMaxRecordBytes()));
      readRecords = read.records();
      readFailures = read.failures();
      unreadableFiles = read.unreadableFiles();
    }
    int redistribute = redistributeBuckets(options);
    PCollection<RawRecord> records =
        readRecords.apply(
            "Redistribute",
            redistribute > 0
                ? Reshuffle.<RawRecord>viaRandomKey().withNumBuckets(redistribute)
                : Reshuffle.<RawRecord>viaRandomKey());

    Preprocess<TensorExample> preprocess =
        Preprocess.with(plan.preprocessor)
            .withCarryFields(
                options.getCarryFields() == null ? List.of() : options.getCarryFields());
    if (JobPlan.notEmpty(options.getIdField())) {
      preprocess = preprocess.withIdField(options.getIdField());
    }
    Preprocess.Result<TensorExample> examples = records.apply("Preprocess", preprocess);
    PCollection<KV<RecordMeta, TensorExample>> toPredict = examples.examples();
    PCollection<KV<RecordMeta, Prediction>> carried = null;
    String previous = options.getPreviousPredictions();
    if (JobPlan.notEmpty(previous)) {
      TupleTag<KV<RecordMeta, TensorExample>> remaining =
          new TupleTag<KV<RecordMeta, TensorExample>>() {};
      Map<String, Tensor.DType> outputTypes = new HashMap<>();
      plan.signature.outputs().forEach((name, spec) -> outputTypes.put(name, spec.dtype()));
      PCollectionTuple incremental =
          toPredict.apply(
              "SkipPredicted",
              new SkipPredicted<>(
                  previous,
                  plan.signature.identity().sha256(),
                  plan.settingsSha256,
                  outputTypes,
                  remaining));
      toPredict = incremental.get(remaining);
      carried = incremental.get(SkipPredicted.CARRIED);
    }

    RunInference<TensorExample, TensorExample> runInference =
        RunInference.of(plan.handler, plan.postprocessor)
            .withBatchSize(options.getBatchSize())
            .withMaxBatchWeight(maxBatchWeight(options))
            .withShards(inferenceShards(options));
    List<Long> buckets = lengthBuckets(options);
    if (!buckets.isEmpty()) {
      runInference =
          runInference.withWeightBuckets(buckets.stream().mapToLong(Long::longValue).toArray());
    }
    if (options.getMaxBufferingSeconds() > 0) {
      runInference =
          runInference.withMaxBufferingDuration(
              Duration.standardSeconds(options.getMaxBufferingSeconds()));
    }
    RunInference.Result inference = toPredict.apply("RunInference", runInference);

    String outputDir = plan.outputDir.toString();
    WritePredictions writePredictions =
        new WritePredictions(options, plan.rows, outputDir, plan.inputFiles);
    if (carried != null) {
      writePredictions = writePredictions.withCarriedForward(carried);
    }
    WritePredictions.Result written =
        inference.predictions().apply("WritePredictions", writePredictions);
    PCollection<Failure> refused = written.refused();

    PCollection<Failure> failures =
        PCollectionList.of(readFailures)
            .and(examples.failures())
            .and(inference.failures())
            .and(refused)
            .apply("CollectFailures", Flatten.pCollections());
    int maxFailureChars = options.getMaxFailureChars();
    PCollection<String> failureFiles =
        failures
            .apply(
                "CapFailures",
                MapElements.into(TypeDescriptor.of(Failure.class))
                    .via((Failure f) -> f.capped(maxFailureChars)))
            .setCoder(Failure.Coder.of())
            .apply("WriteFailures", new WriteFailures(options, outputDir));
    PCollection<Long> staleRemoved =
        PCollectionList.of(written.files())
            .and(failureFiles)
            .apply("AllWrittenFiles", Flatten.pCollections())
            .apply("RemoveStaleOutputs", new RemoveStaleOutputs(outputDir));

    PCollectionList<RunStats> stats =
        PCollectionList.of(
                readRecords.apply(
                    "CountRead", Combine.globally(RunStats.<RawRecord>countingReads())))
            .and(
                readFailures.apply(
                    "CountReadFailures", Combine.globally(RunStats.<Failure>countingReads())))
            .and(
                inference
                    .predictions()
                    .apply("SummarizePredictions", Combine.globally(RunStats.ofPredictions())))
            .and(failures.apply("SummarizeFailures", Combine.globally(RunStats.ofFailures())))
            .and(
                refused.apply(
                    "TakeBackRefused", Combine.globally(RunStats.ofUnwrittenPredictions())))
            .and(
                written
                    .accepted()
                    .apply("CountWrittenPredictions", Combine.globally(RunStats.countingWritten())))
            .and(
                written
                    .collapsed()
                    .apply("CountCollapsed", Combine.globally(RunStats.countingCollapsed())))
            .and(
                inference
                    .batches()
                    .apply("SummarizeBatches", Combine.globally(RunStats.ofBatches())))
            .and(
                unreadableFiles.apply(
                    "ListUnreadableFiles", Combine.globally(RunStats.ofUnreadableFiles())));
    if (carried != null) {
      stats =
          stats.and(
              carried.apply(
                  "CountCarriedForward",
                  Combine.globally(RunStats.<KV<RecordMeta, Prediction>>countingSkipped())));
    }
    WriteRunSummary writeSummary =
        new WriteRunSummary(resolve(plan, SUMMARY), jobInfo(options, plan), startMillis)
            .withReport(resolve(plan, REPORT))
            .afterAll(List.of(written.accepted(), failureFiles, staleRemoved));
    if (previousSummary != null) {
      writeSummary =
          writeSummary.withPrevious(
              options.getPreviousSummary(), previousSummary, RunComparison.Thresholds.of(options));
    }
    PCollection<String> summary = stats.apply("WriteRunSummary", writeSummary);
    if (lock != null) {
      pipeline.apply("ReleaseOutputLock", lock.releaseAfter(staleRemoved, summary));
    }
    String summaryTable = options.getSummaryTable();
    if (JobPlan.notEmpty(summaryTable)) {
      summary
          .apply("SummaryRow", MapElements.into(TypeDescriptors.rows()).via(WriteRunSummary::toRow))
          .setRowSchema(WriteRunSummary.ROW_SCHEMA)
          .apply(
              "WriteSummaryTable", Tables.write(options, summaryTable, WriteRunSummary.ROW_SCHEMA));
    }
  }

  /** Texts default to buckets of up to 32, 64, 128 and more tokens; a single 0 turns them off. */
  static List<Long> lengthBuckets(BatchInferenceOptions options) {
    List<Long> buckets = options.getLengthBuckets();
    if (buckets == null) {
      return options.getTask() == BatchInferenceOptions.Task.EMBED
          ? DEFAULT_TEXT_LENGTH_BUCKETS
          : List.of();
    }
    return buckets.equals(List.of(0L)) ? List.of() : buckets;
  }

  public static String resolve(JobPlan plan, String name) {
    return plan.outputDir.resolve(name, StandardResolveOptions.RESOLVE_FILE).toString();
  }

  /** Where {@code name} goes in the output directory the options name. */
  public static String resolve(BatchInferenceOptions options, String name) {
    return FileSystems.matchNewResource(options.getOutput(), true)
        .resolve(name, StandardResolveOptions.RESOLVE_FILE)
        .toString();
  }

  private static RunSummary.Job jobInfo(BatchInferenceOptions options, JobPlan plan) {
    // The other files the job pinned at launch (tokenizer, label files), as tokenizer_sha256 etc.
    Map<String, Object> pinned = new LinkedHashMap<>();
    plan.pinnedSha256.forEach((role, sha256) -> pinned.put(role + "_sha256", sha256));
    return new RunSummary.Job(
        options.getJobName(),
        options.getTask().name(),
        options.getRunner().getSimpleName(),
        JobPlan.inputName(options),
        options.getOutput(),
        options.getOutputTable(),
        new RunSummary.Model(
            plan.signature.identity().name(),
            options.getModel(),
            plan.signature.identity().sha256(),
            plan.signature.byteSize(),
            pinned),
        options.getBatchSize(),
        options.getMaxFailureRate() >= 0 ? options.getMaxFailureRate() : null,
        plan.settingsSha256,
        new LinkedHashMap<>(plan.settings));
  }

  /** For tests and tools: the options interface registered, parsed and validated. */
  public static BatchInferenceOptions parse(String... args) {
    PipelineOptionsFactory.register(BatchInferenceOptions.class);
    return PipelineOptionsFactory.fromArgs(args).withValidation().as(BatchInferenceOptions.class);
  }
}
