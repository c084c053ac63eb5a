package dev.batchinference.pipelines.summary;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.batchinference.transforms.io.UnreadableFile;
import dev.batchinference.transforms.stats.FailureExamples;
import dev.batchinference.transforms.stats.Moments;
import dev.batchinference.transforms.stats.RunStats;
import dev.batchinference.transforms.stats.ScoreHistogram;
import java.io.IOException;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.nio.channels.Channels;
import java.nio.charset.StandardCharsets;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.apache.beam.sdk.coders.SerializableCoder;
import org.apache.beam.sdk.coders.StringUtf8Coder;
import org.apache.beam.sdk.io.FileSystems;
import org.apache.beam.sdk.io.fs.ResourceId;
import org.apache.beam.sdk.schemas.Schema;
import org.apache.beam.sdk.schemas.Schema.FieldType;
import org.apache.beam.sdk.transforms.Combine;
import org.apache.beam.sdk.transforms.DoFn;
import org.apache.beam.sdk.transforms.PTransform;
import org.apache.beam.sdk.transforms.ParDo;
import org.apache.beam.sdk.transforms.display.DisplayData;
import org.apache.beam.sdk.values.PCollection;
import org.apache.beam.sdk.values.PCollectionList;
import org.apache.beam.sdk.values.Row;
import org.checkerframework.checker.nullness.qual.Nullable;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Merges the partial {@link RunStats} of a run (at least one) into its summary, writes it as JSON
 * (and logs it at DEBUG, so that the console keeps to progress, warnings and the result line), and
 * checks that nothing was lost: records read = predictions (as the sink holds them) + failures +
 * predictions carried forward by an incremental run (+ rows a PostgreSQL upsert collapsed because
 * records shared an id). With {@link #afterAll} the summary is written only once every sink has
 * finished. A run that breaks that check fails after writing the summary, so the summary says what
 * went missing. With {@link #withPrevious} the summary compares the run with the previous one and
 * lists drift alerts (each also logged as a warning; they do not fail the job, the command line's
 * exit status says so); with {@link #withReport} an HTML report is written beside it.
 */
public final class WriteRunSummary
    extends PTransform<PCollectionList<RunStats>, PCollection<String>> {

  private static final Logger LOG = LoggerFactory.getLogger(WriteRunSummary.class);

  private final String summaryPath;
  private final String jobInfoJson;
  private final long startMillis;
  private final @Nullable String reportPath;
  private final @Nullable String previousPath;
  private final @Nullable String previousJson;
  private final RunComparison.Thresholds thresholds;

  /** Graph construction only (the write function holds this transform, never these). */
  private final transient List<PCollection<?>> signals;

  /**
   * @param summaryPath where the summary JSON goes
   * @param job what describes the job (task, input, model), copied into the summary
   * @param startMillis when the job started, for wall time and throughput
   */
  public WriteRunSummary(String summaryPath, RunSummary.Job job, long startMillis) {
    this(summaryPath, toJson(job), startMillis, null, null, null, null, List.of());
  }

  /** The job described by JSON fields (tests give only those they look at). */
  WriteRunSummary(String summaryPath, ObjectNode job, long startMillis) {
    this(summaryPath, job.toString(), startMillis, null, null, null, null, List.of());
  }

  private static String toJson(RunSummary.Job job) {
    try {
      // Carried as JSON: the transform is serialized with the pipeline, the record is not.
      return RunSummary.JSON.writeValueAsString(job);
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  private WriteRunSummary(
      String summaryPath,
      String jobInfoJson,
      long startMillis,
      @Nullable String reportPath,
      @Nullable String previousPath,
      @Nullable String previousJson,
      RunComparison.@Nullable Thresholds thresholds,
      List<PCollection<?>> signals) {
    this.signals = List.copyOf(signals);
    this.summaryPath = summaryPath;
    this.jobInfoJson = jobInfoJson;
    this.startMillis = startMillis;
    this.reportPath = reportPath;
    this.previousPath = previousPath;
    this.previousJson = previousJson;
    this.thresholds = thresholds == null ? RunComparison.Thresholds.defaults() : thresholds;
  }

  /** Also writes the run report, an HTML page, to {@code reportPath}. */
  public WriteRunSummary withReport(String reportPath) {
    return new WriteRunSummary(
        summaryPath,
        jobInfoJson,
        startMillis,
        reportPath,
        previousPath,
        previousJson,
        thresholds,
        signals);
  }

  /**
   * Compares the run with the previous run's summary ({@code previousJson}, read from {@code
   * previousPath} before the job started) and adds the comparison and its alerts to the summary.
   */
  public WriteRunSummary withPrevious(
      String previousPath, String previousJson, RunComparison.Thresholds thresholds) {
    return new WriteRunSummary(
        summaryPath,
        jobInfoJson,
        startMillis,
        reportPath,
        previousPath,
        previousJson,
        thresholds,
        signals);
  }

  /**
   * Writes the summary only once each of {@code sinks} is complete (every sink's output or signal),
   * so that the summary describes what was written, never what was about to be.
   */
  public WriteRunSummary afterAll(List<PCollection<?>> sinks) {
    return new WriteRunSummary(
        summaryPath,
        jobInfoJson,
        startMillis,
        reportPath,
        previousPath,
        previousJson,
        thresholds,
        sinks);
  }

  @Override
  public void populateDisplayData(DisplayData.Builder builder) {
    super.populateDisplayData(builder);
    builder
        .add(DisplayData.item("summary", summaryPath).withLabel("Run summary"))
        .addIfNotNull(DisplayData.item("report", reportPath).withLabel("Run report"))
        .addIfNotNull(DisplayData.item("previousSummary", previousPath).withLabel("Compared with"));
  }

  @Override
  public PCollection<String> expand(PCollectionList<RunStats> partials) {
    // Each sink's signal joins the merge as a collection of nothing: the merge is a combine of the
    // whole run, so it cannot end before every collection it takes is complete, and the summary
    // comes after it. (Wait.on does the same through a side input per signal: about twelve steps
    // each.)
    PCollectionList<RunStats> all = partials;
    for (int i = 0; i < signals.size(); i++) {
      all =
          all.and(
              signals
                  .get(i)
                  .apply("AfterSink" + i, ParDo.of(new NothingFn<>()))
                  .setCoder(SerializableCoder.of(RunStats.class)));
    }
    return all.apply("FlattenStats", org.apache.beam.sdk.transforms.Flatten.pCollections())
        // Without Combine's default for an empty input (a side input and five more steps): the
        // partials always hold one element at least, what the folds make of nothing
        // (RunStatsFolds#partials).
        .apply("MergeStats", Combine.globally(RunStats.merging()).withoutDefaults())
        .apply("WriteSummary", ParDo.of(new WriteSummaryFn(this)))
        .setCoder(StringUtf8Coder.of());
  }

  /** Outputs nothing: its input only has to be complete. */
  static final class NothingFn<T> extends DoFn<T, RunStats> {
    @ProcessElement
    public void processElement() {}
  }

  /** The summary of a run whose merged statistics are {@code stats}. */
  static RunSummary toSummary(
      RunStats stats, RunSummary.Job job, long startMillis, long endMillis) {
    long accounted =
        stats.predicted() + stats.collapsed() + stats.failed() + stats.carriedForward();
    boolean nothingLost = stats.read() == accounted;
    String nothingLostCheck =
        "read "
            + stats.read()
            + (nothingLost ? " = " : " != ")
            + stats.predicted()
            + " predictions"
            + (stats.collapsed() > 0 ? " + " + stats.collapsed() + " collapsed duplicate ids" : "")
            + " + "
            + stats.failed()
            + " failures"
            + (stats.carriedForward() > 0
                ? " + " + stats.carriedForward() + " carried forward"
                : "");

    long inferred =
        stats.batchSizes().entrySet().stream().mapToLong(e -> e.getKey() * e.getValue()).sum();
    Map<String, Long> batchSizeHistogram = new LinkedHashMap<>();
    for (Map.Entry<Long, Long> e : stats.batchSizes().entrySet()) {
      batchSizeHistogram.put(Long.toString(e.getKey()), e.getValue());
    }
    RunSummary.BatchSizes batchSizes =
        new RunSummary.BatchSizes(
            stats.batches() == 0 ? 0 : round((double) inferred / stats.batches()),
            batchSizeHistogram);

    long[] latencyBins = stats.latencyHistogramMicros(LATENCY_BINS);
    RunSummary.Latency latency =
        new RunSummary.Latency(
            round(stats.latencyQuantileMicros(0.50) / 1000.0),
            round(stats.latencyQuantileMicros(0.95) / 1000.0),
            round(stats.latencyQuantileMicros(0.99) / 1000.0),
            round(stats.totalLatencyMicros() / 1000.0),
            latencyBins.length == 0
                ? null
                : new RunSummary.LatencyHistogram(
                    round(latencyBins[0] / 1000.0),
                    Arrays.copyOfRange(latencyBins, 1, latencyBins.length)));

    double wallSeconds = Math.max(1, endMillis - startMillis) / 1000.0;

    Map<String, Long> classCounts = null;
    RunSummary.Score score = null;
    if (!stats.classCounts().isEmpty()) {
      classCounts = new LinkedHashMap<>(stats.classCounts());
      Moments m = stats.scores();
      ScoreHistogram topScores = stats.topScores();
      score =
          new RunSummary.Score(
              m.count(),
              round(m.mean()),
              round(m.std()),
              round(m.min()),
              round(m.max()),
              round(topScores.quantile(0.05)),
              round(topScores.quantile(0.50)),
              round(topScores.quantile(0.95)),
              new RunSummary.ScoreHistogram(1.0 / ScoreHistogram.BINS, topScores.counts()));
    }
    RunSummary.Moments embeddingNorm =
        stats.embeddingNorms().count() > 0 ? moments(stats.embeddingNorms()) : null;
    double[] mean = stats.embeddingCentroid().mean();
    RunSummary.Centroid centroid = null;
    if (mean.length > 0) {
      double norm = 0;
      double[] rounded = new double[mean.length];
      for (int i = 0; i < mean.length; i++) {
        norm += mean[i] * mean[i];
        rounded[i] = Math.round(mean[i] * 1e6) / 1e6;
      }
      centroid =
          new RunSummary.Centroid(
              stats.embeddingCentroid().count(), round(Math.sqrt(norm)), rounded);
    }

    Map<String, List<RunSummary.FailureExample>> examples = new LinkedHashMap<>();
    stats
        .failureExamples()
        .byError()
        .forEach(
            (error, list) -> {
              List<RunSummary.FailureExample> out = new ArrayList<>();
              for (FailureExamples.Example e : list) {
                out.add(
                    new RunSummary.FailureExample(
                        e.id(), e.source(), e.index(), e.message(), e.input()));
              }
              examples.put(error, out);
            });
    List<RunSummary.UnreadableFile> unreadable = new ArrayList<>();
    for (UnreadableFile file : stats.unreadableFiles().values()) {
      unreadable.add(new RunSummary.UnreadableFile(file.file(), file.recordsRead(), file.error()));
    }
    Map<String, Long> failuresByError = new LinkedHashMap<>(stats.failedByError());
    FailureGate gate =
        FailureGate.of(
            stats.read(), stats.failed(), job.maxFailureRate(), failuresByError, examples);
    return new RunSummary(
        job.job(),
        job.task(),
        job.runner(),
        job.input(),
        job.output(),
        job.outputTable(),
        job.model(),
        job.batchSizeLimit(),
        job.batching(),
        job.maxFailureRate(),
        job.settingsSha256(),
        job.predictionSettings(),
        Instant.ofEpochMilli(startMillis).toString(),
        Instant.ofEpochMilli(endMillis).toString(),
        stats.read(),
        stats.predicted(),
        stats.failed(),
        stats.carriedForward(),
        stats.collapsed() > 0 ? stats.collapsed() : null,
        // What the sink holds, counted from it once it finished, carried-forward records included.
        stats.writtenCounted() ? stats.written() : null,
        nothingLost,
        nothingLostCheck,
        new LinkedHashMap<>(stats.failedByStage()),
        failuresByError,
        stats.batches(),
        batchSizes,
        stats.batchWeight(),
        stats.memoryBackoffs(),
        stats.memoryBackoffs() > 0 ? (long) stats.lowestBackoffLimit() : null,
        latency,
        RunSummary.InferenceWorkers.of(stats.workerCounts().values()),
        round(wallSeconds),
        round(stats.read() / wallSeconds),
        new RunSummary.Distribution(classCounts, score, embeddingNorm, centroid),
        examples,
        unreadable,
        gate.rate(),
        gate.result(),
        List.of(),
        null);
  }

  private static RunSummary.Moments moments(Moments m) {
    return new RunSummary.Moments(
        m.count(), round(m.mean()), round(m.std()), round(m.min()), round(m.max()));
  }

  /** The run summary as one row of a BigQuery table: the headline figures and the whole JSON. */
  public static final Schema ROW_SCHEMA =
      Schema.builder()
          .addNullableField("job", FieldType.STRING)
          .addStringField("task")
          .addStringField("model_name")
          .addStringField("model_sha256")
          .addDateTimeField("started_at")
          .addDateTimeField("finished_at")
          .addInt64Field("records_read")
          .addInt64Field("predictions")
          .addInt64Field("failures")
          .addBooleanField("nothing_lost")
          .addDoubleField("wall_seconds")
          .addStringField("summary")
          .build();

  public static Row toRow(String summaryJson) {
    RunSummary s = RunSummary.parse(summaryJson);
    return Row.withSchema(ROW_SCHEMA)
        .addValues(
            s.job(),
            s.task(),
            s.model().name(),
            s.model().sha256(),
            org.joda.time.Instant.parse(s.startedAt()),
            org.joda.time.Instant.parse(s.finishedAt()),
            s.recordsRead(),
            s.predictions(),
            s.failures(),
            s.nothingLost(),
            s.wallSeconds(),
            summaryJson)
        .build();
  }

  private static double round(double v) {
    return Math.round(v * 10000.0) / 10000.0;
  }

  /** Bins of the latency histogram in the summary and the report. */
  static final int LATENCY_BINS = 20;

  static final class WriteSummaryFn extends DoFn<RunStats, String> {
    private final WriteRunSummary spec;

    WriteSummaryFn(WriteRunSummary spec) {
      this.spec = spec;
    }

    @ProcessElement
    public void processElement(@Element RunStats stats, OutputReceiver<String> out)
        throws IOException {
      RunSummary.Job job = RunSummary.JSON.readValue(spec.jobInfoJson, RunSummary.Job.class);
      RunSummary summary = toSummary(stats, job, spec.startMillis, System.currentTimeMillis());
      RunSummary previous = null;
      if (spec.previousJson != null) {
        previous = RunSummary.parse(spec.previousJson);
        List<RunSummary.Alert> alerts = new ArrayList<>();
        RunSummary.Comparison comparison =
            RunComparison.compare(previous, summary, spec.previousPath, spec.thresholds, alerts);
        summary = summary.withComparison(comparison, alerts);
        if (!comparison.comparable()) {
          LOG.warn(
              "Not compared with the previous run ({}): {}",
              spec.previousPath,
              comparison.reason());
        }
        for (RunSummary.Alert alert : alerts) {
          LOG.warn("DRIFT ALERT: {} (previous run: {})", alert.message(), spec.previousPath);
        }
      }
      String text = summary.toPrettyJson();
      write(spec.summaryPath, "application/json", text + "\n");
      if (spec.reportPath != null) {
        write(spec.reportPath, "text/html", RunReport.render(summary, previous));
      }
      // The console is for people (progress, warnings, the result line); the whole summary is in
      // summary.json, and in the log only for whoever turns this logger's DEBUG on.
      if (LOG.isDebugEnabled()) {
        LOG.debug("Run summary ({}): {}", spec.summaryPath, forLog(summary.toTree()));
      }
      if (!summary.nothingLost()) {
        throw new IllegalStateException(
            "Nothing-lost check failed: "
                + summary.nothingLostCheck()
                + ". See "
                + spec.summaryPath);
      }
      out.output(summary.toJson());
    }

    private static void write(String path, String mimeType, String text) throws IOException {
      ResourceId target = FileSystems.matchNewResource(path, false);
      try (OutputStream os = Channels.newOutputStream(FileSystems.create(target, mimeType))) {
        os.write(text.getBytes(StandardCharsets.UTF_8));
      }
    }
  }

  /**
   * The summary for one log line: without the embedding centroid's vector (hundreds of numbers;
   * summary.json keeps it) and the per-failure examples.
   */
  static ObjectNode forLog(ObjectNode summary) {
    ObjectNode copy = summary.deepCopy();
    JsonNode centroid = copy.path("prediction_distribution").path("embedding_centroid");
    if (centroid instanceof ObjectNode) {
      ((ObjectNode) centroid).remove("mean");
    }
    copy.remove("failure_examples");
    return copy;
  }
}
