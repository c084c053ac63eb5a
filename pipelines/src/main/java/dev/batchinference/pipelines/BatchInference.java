package dev.batchinference.pipelines;

import dev.batchinference.pipelines.cli.CommandLine;
import dev.batchinference.pipelines.options.BatchInferenceOptions;
import dev.batchinference.pipelines.sinks.RemoveStaleOutputs;
import dev.batchinference.pipelines.sinks.Sink;
import dev.batchinference.pipelines.sinks.Tables;
import dev.batchinference.pipelines.sinks.WriteFailures;
import dev.batchinference.pipelines.sinks.WritePredictions;
import dev.batchinference.pipelines.summary.RunSummary;
import dev.batchinference.pipelines.summary.WriteRunSummary;
import dev.batchinference.transforms.Failure;
import dev.batchinference.transforms.Prediction;
import dev.batchinference.transforms.RecordMeta;
import dev.batchinference.transforms.RunInference;
import dev.batchinference.transforms.io.RawRecord;
import dev.batchinference.transforms.io.ReadRecords;
import dev.batchinference.transforms.io.UnreadableFile;
import dev.batchinference.transforms.model.BatchMode;
import dev.batchinference.transforms.preprocess.Preprocess;
import dev.batchinference.transforms.stats.RunStats;
import dev.batchinference.transforms.stats.RunStatsFolds;
import dev.batchinference.transforms.tensor.Tensor;
import dev.batchinference.transforms.tensor.TensorExample;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import org.apache.beam.sdk.Pipeline;
import org.apache.beam.sdk.PipelineResult;
import org.apache.beam.sdk.options.PipelineOptionsFactory;
import org.apache.beam.sdk.transforms.Flatten;
import org.apache.beam.sdk.transforms.MapElements;
import org.apache.beam.sdk.transforms.Reshuffle;
import org.apache.beam.sdk.values.KV;
import org.apache.beam.sdk.values.PCollection;
import org.apache.beam.sdk.values.PCollectionList;
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

  public static final String PREDICTIONS = Sink.PREDICTIONS;
  public static final String FAILURES = Sink.FAILURES;
  public static final String SUMMARY = "summary.json";
  public static final String REPORT = "report.html";

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
    JobPlan plan = JobPlan.from(options);
    OutputLock lock = OutputLock.forRun(plan.output(), plan.jobName());
    build(pipeline, plan, lock);
    try {
      lock.acquire(plan.breakLock());
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

  /**
   * Checks the job (before any data is read) and adds its steps to {@code pipeline}: {@link
   * JobPlan#from} then {@link #build(Pipeline, JobPlan)}.
   */
  public static void build(Pipeline pipeline, BatchInferenceOptions options) {
    build(pipeline, JobPlan.from(options), null);
  }

  /** Adds the steps of the job {@code plan} decided to {@code pipeline}. */
  public static void build(Pipeline pipeline, JobPlan plan) {
    build(pipeline, plan, null);
  }

  /**
   * As {@link #build(Pipeline, JobPlan)}, and with a {@code lock}, the job's last step releases it
   * (the caller takes it before running the pipeline).
   */
  public static void build(Pipeline pipeline, JobPlan plan, @Nullable OutputLock lock) {
    long startMillis = System.currentTimeMillis();
    ModelPlan model = plan.model();
    Batching batching = plan.batching();

    Preprocess<TensorExample> preprocess =
        Preprocess.with(model.preprocessor()).withCarryFields(plan.carryFields());
    if (plan.idField().isPresent()) {
      preprocess = preprocess.withIdField(plan.idField().get());
    }
    PCollection<Failure> readFailures;
    PCollection<Long> readCounts;
    PCollection<UnreadableFile> unreadableFiles;
    PCollection<KV<RecordMeta, TensorExample>> toPredict;
    PCollection<Failure> preprocessFailures;
    if (plan.source() instanceof Source.Files files
        && files.readsInParallel()
        && !batching.redistributes(files)) {
      // Parsed and preprocessed in the step that reads them: no hop, and on Flink no
      // serialization, between reading a record and making its example.
      ReadRecords.ThenResult<KV<RecordMeta, TensorExample>> read =
          files.readThen(pipeline, preprocess.asRecordFn());
      readFailures = read.failures();
      readCounts = read.readCounts();
      unreadableFiles = read.unreadableFiles();
      toPredict = read.outputs();
      preprocessFailures = read.thenFailures();
    } else {
      Source.Read read = plan.source().read(pipeline);
      readFailures = read.failures();
      readCounts = read.readCounts();
      unreadableFiles = read.unreadableFiles();
      PCollection<RawRecord> records = read.records();
      if (batching.redistributes(plan.source())) {
        records =
            records.apply(
                "Redistribute",
                batching.redistributeBuckets() > 0
                    ? Reshuffle.<RawRecord>viaRandomKey()
                        .withNumBuckets(batching.redistributeBuckets())
                    : Reshuffle.<RawRecord>viaRandomKey());
      }
      Preprocess.Result<TensorExample> examples = records.apply("Preprocess", preprocess);
      toPredict = examples.examples();
      preprocessFailures = examples.failures();
    }
    PCollection<KV<RecordMeta, Prediction>> carried = null;
    if (plan.previousPredictions().isPresent()) {
      Map<String, Tensor.DType> outputTypes = new HashMap<>();
      model.signature().outputs().forEach((name, spec) -> outputTypes.put(name, spec.dtype()));
      SkipPredicted.Result<TensorExample> incremental =
          toPredict.apply(
              "SkipPredicted",
              new SkipPredicted<TensorExample>(
                  plan.previousPredictions().get(),
                  model.signature().identity().sha256(),
                  plan.settingsSha256(),
                  outputTypes));
      toPredict = incremental.remaining();
      carried = incremental.carried();
    }

    RunInference<TensorExample, TensorExample> runInference =
        RunInference.of(model.handler(), model.postprocessor())
            .withBatchSize(batching.batchSize())
            .withMaxBatchWeight(batching.maxBatchWeight())
            .withShards(batching.inferenceShards());
    if (batching.keyPlacement().isPresent()) {
      runInference =
          runInference.withKeyPlacement(batching.inferenceWorkers(), batching.keyPlacement().get());
    }
    if (!batching.weightBuckets().isEmpty()) {
      runInference =
          runInference.withWeightBuckets(
              batching.weightBuckets().stream().mapToLong(Long::longValue).toArray());
    }
    if (batching.maxBufferingSeconds() > 0) {
      runInference =
          runInference.withMaxBufferingDuration(
              Duration.standardSeconds(batching.maxBufferingSeconds()));
    }
    RunInference.Result inference = toPredict.apply("RunInference", runInference);

    WritePredictions writePredictions = new WritePredictions(plan.predictions(), plan.rows());
    if (carried != null) {
      writePredictions = writePredictions.withCarriedForward(carried);
    }
    WritePredictions.Result written =
        inference.predictions().apply("WritePredictions", writePredictions);
    Optional<PCollection<Failure>> refused = written.refused();

    PCollectionList<Failure> allFailures =
        PCollectionList.of(readFailures).and(preprocessFailures).and(inference.failures());
    if (refused.isPresent()) {
      allFailures = allFailures.and(refused.get());
    }
    PCollection<Failure> failures = allFailures.apply("CollectFailures", Flatten.pCollections());
    int maxFailureChars = plan.maxFailureChars();
    PCollection<String> failureFiles =
        failures
            .apply(
                "CapFailures",
                MapElements.into(TypeDescriptor.of(Failure.class))
                    .via((Failure f) -> f.capped(maxFailureChars)))
            .setCoder(Failure.Coder.of())
            .apply("WriteFailures", new WriteFailures(plan.failures()));
    PCollection<Long> staleRemoved =
        PCollectionList.of(written.files())
            .and(failureFiles)
            .apply("AllWrittenFiles", Flatten.pCollections())
            .apply("RemoveStaleOutputs", new RemoveStaleOutputs(plan.outputDirectory()));

    // Each collection folded where it is made, one step each; WriteRunSummary merges them.
    RunStatsFolds folds =
        new RunStatsFolds()
            .fold("CountRead", readCounts, RunStats.summingReads())
            .fold("CountReadFailures", readFailures, RunStats.<Failure>countingReads())
            .fold("SummarizePredictions", inference.predictions(), RunStats.ofPredictions())
            .fold("SummarizeFailures", failures, RunStats.ofFailures())
            .fold("CountWrittenPredictions", written.accepted(), RunStats.countingWritten())
            .fold("SummarizeBatches", inference.batches(), RunStats.ofBatches())
            .fold("ListUnreadableFiles", unreadableFiles, RunStats.ofUnreadableFiles());
    if (refused.isPresent()) {
      folds.fold("TakeBackRefused", refused.get(), RunStats.ofUnwrittenPredictions());
    }
    if (written.collapsed().isPresent()) {
      folds.fold("CountCollapsed", written.collapsed().get(), RunStats.countingCollapsed());
    }
    if (carried != null) {
      folds.fold(
          "CountCarriedForward", carried, RunStats.<KV<RecordMeta, Prediction>>countingSkipped());
    }
    PCollectionList<RunStats> stats = folds.partials(pipeline, "StatsOfNothing");
    WriteRunSummary writeSummary =
        new WriteRunSummary(plan.resolve(SUMMARY), jobInfo(plan), startMillis)
            .withReport(plan.resolve(REPORT))
            // The predictions' sink is waited for through its count, folded above; the removal of
            // stale files comes after both file writes (and a table's signal).
            .afterAll(List.of(staleRemoved));
    if (plan.drift().isPresent()) {
      JobPlan.Drift drift = plan.drift().get();
      writeSummary =
          writeSummary.withPrevious(
              drift.previousSummary(), drift.previousJson(), drift.thresholds());
    }
    PCollection<String> summary = stats.apply("WriteRunSummary", writeSummary);
    if (lock != null) {
      // The summary is written after every sink and the removal of stale outputs.
      summary.apply("ReleaseOutputLock", lock.releaseAtEnd());
    }
    if (plan.summaryTable().isPresent()) {
      summary
          .apply("SummaryRow", MapElements.into(TypeDescriptors.rows()).via(WriteRunSummary::toRow))
          .setRowSchema(WriteRunSummary.ROW_SCHEMA)
          .apply(
              "WriteSummaryTable",
              Tables.write(plan.summaryTable().get(), WriteRunSummary.ROW_SCHEMA));
    }
  }

  private static RunSummary.Job jobInfo(JobPlan plan) {
    // The other files the job pinned at launch (tokenizer, label files), as tokenizer_sha256 etc.
    Map<String, Object> pinned = new LinkedHashMap<>();
    plan.model().pinnedSha256().forEach((role, sha256) -> pinned.put(role + "_sha256", sha256));
    return new RunSummary.Job(
        plan.jobName(),
        plan.model().task().task().name(),
        plan.runnerName(),
        plan.source().describe(),
        plan.output(),
        plan.predictions() instanceof Sink.BigQueryTable
            ? ((Sink.BigQueryTable) plan.predictions()).table()
            : null,
        new RunSummary.Model(
            plan.model().signature().identity().name(),
            plan.model().uri(),
            plan.model().signature().identity().sha256(),
            plan.model().signature().byteSize(),
            pinned),
        plan.batching().batchSize(),
        // How the model takes records: "dynamic", "fixed N" or "one record per run".
        BatchMode.of(plan.model().signature()).toString(),
        plan.maxFailureRate() >= 0 ? plan.maxFailureRate() : null,
        plan.settingsSha256(),
        new LinkedHashMap<>(plan.settings()));
  }

  /** For tests and tools: the options interface registered, parsed and validated. */
  public static BatchInferenceOptions parse(String... args) {
    PipelineOptionsFactory.register(BatchInferenceOptions.class);
    return PipelineOptionsFactory.fromArgs(args).withValidation().as(BatchInferenceOptions.class);
  }
}
