package dev.batchinference.pipelines.summary;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
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
import java.util.List;
import java.util.Map;
import org.apache.beam.sdk.coders.StringUtf8Coder;
import org.apache.beam.sdk.io.FileSystems;
import org.apache.beam.sdk.io.fs.ResourceId;
import org.apache.beam.sdk.schemas.Schema;
import org.apache.beam.sdk.schemas.Schema.FieldType;
import org.apache.beam.sdk.transforms.Combine;
import org.apache.beam.sdk.transforms.DoFn;
import org.apache.beam.sdk.transforms.PTransform;
import org.apache.beam.sdk.transforms.ParDo;
import org.apache.beam.sdk.transforms.Wait;
import org.apache.beam.sdk.values.PCollection;
import org.apache.beam.sdk.values.PCollectionList;
import org.apache.beam.sdk.values.Row;
import org.checkerframework.checker.nullness.qual.Nullable;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Merges the partial {@link RunStats} of a run into its summary, writes it as JSON (and logs it at
 * DEBUG, so that the console keeps to progress, warnings and the result line), and checks that
 * nothing was lost: records read = predictions (as the sink holds them) + failures + predictions
 * carried forward by an incremental run (+ rows a PostgreSQL upsert collapsed because records
 * shared an id). With {@link #afterAll} the summary is written only once every sink has finished. A
 * run that breaks that check fails after writing the summary, so the summary says what went
 * missing. With {@link #withPrevious} the summary compares the run with the previous one and lists
 * drift alerts (each also logged as a warning; they do not fail the job, the command line's exit
 * status says so); with {@link #withReport} an HTML report is written beside it.
 */
public final class WriteRunSummary
    extends PTransform<PCollectionList<RunStats>, PCollection<String>> {

  private static final Logger LOG = LoggerFactory.getLogger(WriteRunSummary.class);
  private static final ObjectMapper JSON = new ObjectMapper();

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
   * @param jobInfo fields describing the job (task, input, model), copied into the summary
   * @param startMillis when the job started, for wall time and throughput
   */
  public WriteRunSummary(String summaryPath, ObjectNode jobInfo, long startMillis) {
    this(summaryPath, jobInfo.toString(), startMillis, null, null, null, null, List.of());
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
  public PCollection<String> expand(PCollectionList<RunStats> partials) {
    PCollection<RunStats> merged =
        partials
            .apply("FlattenStats", org.apache.beam.sdk.transforms.Flatten.pCollections())
            .apply("MergeStats", Combine.globally(RunStats.merging()));
    if (!signals.isEmpty()) {
      merged =
          merged
              .apply("AfterEverySink", Wait.on(signals.toArray(new PCollection<?>[0])))
              .setCoder(merged.getCoder());
    }
    return merged
        .apply("WriteSummary", ParDo.of(new WriteSummaryFn(this)))
        .setCoder(StringUtf8Coder.of());
  }

  /** Renders {@code stats} as the summary JSON object. */
  static ObjectNode toJson(RunStats stats, ObjectNode jobInfo, long startMillis, long endMillis) {
    ObjectNode s = JSON.createObjectNode();
    s.setAll(jobInfo);
    s.put("started_at", Instant.ofEpochMilli(startMillis).toString());
    s.put("finished_at", Instant.ofEpochMilli(endMillis).toString());
    s.put("records_read", stats.read());
    s.put("predictions", stats.predicted());
    s.put("failures", stats.failed());
    s.put("carried_forward", stats.carriedForward());
    if (stats.collapsed() > 0) {
      s.put("collapsed_duplicate_ids", stats.collapsed());
    }
    if (stats.writtenCounted()) {
      // What the sink holds, counted from it once it finished, carried-forward records included.
      s.put("predictions_written", stats.written());
    }
    long accounted =
        stats.predicted() + stats.collapsed() + stats.failed() + stats.carriedForward();
    boolean nothingLost = stats.read() == accounted;
    s.put("nothing_lost", nothingLost);
    s.put(
        "nothing_lost_check",
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
                : ""));
    ObjectNode byStage = s.putObject("failures_by_stage");
    stats.failedByStage().forEach(byStage::put);
    ObjectNode byError = s.putObject("failures_by_error");
    stats.failedByError().forEach(byError::put);

    s.put("batches", stats.batches());
    ObjectNode batchSizes = s.putObject("batch_size");
    long inferred =
        stats.batchSizes().entrySet().stream().mapToLong(e -> e.getKey() * e.getValue()).sum();
    batchSizes.put("mean", stats.batches() == 0 ? 0 : round((double) inferred / stats.batches()));
    ObjectNode histogram = batchSizes.putObject("histogram");
    for (Map.Entry<Long, Long> e : stats.batchSizes().entrySet()) {
      histogram.put(Long.toString(e.getKey()), e.getValue());
    }
    s.put("batch_weight_total", stats.batchWeight());
    s.put("memory_backoffs", stats.memoryBackoffs());
    if (stats.memoryBackoffs() > 0) {
      s.put("batch_size_lowered_to", stats.lowestBackoffLimit());
    }
    ObjectNode latency = s.putObject("inference_batch_latency_ms");
    latency.put("p50", round(stats.latencyQuantileMicros(0.50) / 1000.0));
    latency.put("p95", round(stats.latencyQuantileMicros(0.95) / 1000.0));
    latency.put("p99", round(stats.latencyQuantileMicros(0.99) / 1000.0));
    latency.put("total", round(stats.totalLatencyMicros() / 1000.0));
    long[] latencyBins = stats.latencyHistogramMicros(LATENCY_BINS);
    if (latencyBins.length > 0) {
      ObjectNode latencyHistogram = latency.putObject("histogram");
      latencyHistogram.put("bin_width_ms", round(latencyBins[0] / 1000.0));
      ArrayNode counts = latencyHistogram.putArray("counts");
      for (int i = 1; i < latencyBins.length; i++) {
        counts.add(latencyBins[i]);
      }
    }

    double wallSeconds = Math.max(1, endMillis - startMillis) / 1000.0;
    s.put("wall_seconds", round(wallSeconds));
    s.put("throughput_records_per_second", round(stats.read() / wallSeconds));

    ObjectNode distribution = s.putObject("prediction_distribution");
    if (!stats.classCounts().isEmpty()) {
      ObjectNode classes = distribution.putObject("class_counts");
      stats.classCounts().forEach(classes::put);
      ObjectNode score = distribution.putObject("score");
      moments(score, stats.scores());
      ScoreHistogram topScores = stats.topScores();
      score.put("p05", round(topScores.quantile(0.05)));
      score.put("p50", round(topScores.quantile(0.50)));
      score.put("p95", round(topScores.quantile(0.95)));
      ObjectNode scoreHistogram = score.putObject("histogram");
      scoreHistogram.put("bin_width", 1.0 / ScoreHistogram.BINS);
      ArrayNode counts = scoreHistogram.putArray("counts");
      for (long count : topScores.counts()) {
        counts.add(count);
      }
    }
    if (stats.embeddingNorms().count() > 0) {
      moments(distribution.putObject("embedding_norm"), stats.embeddingNorms());
    }
    double[] centroid = stats.embeddingCentroid().mean();
    if (centroid.length > 0) {
      ObjectNode c = distribution.putObject("embedding_centroid");
      c.put("count", stats.embeddingCentroid().count());
      double norm = 0;
      for (double v : centroid) {
        norm += v * v;
      }
      c.put("norm", round(Math.sqrt(norm)));
      ArrayNode mean = c.putArray("mean");
      for (double v : centroid) {
        mean.add(Math.round(v * 1e6) / 1e6);
      }
    }
    ObjectNode examples = s.putObject("failure_examples");
    stats
        .failureExamples()
        .byError()
        .forEach(
            (error, list) -> {
              ArrayNode array = examples.putArray(error);
              for (FailureExamples.Example e : list) {
                ObjectNode o = array.addObject();
                o.put("id", e.id());
                o.put("source", e.source());
                o.put("index", e.index());
                o.put("error", e.message());
                o.put("input", e.input());
              }
            });
    ArrayNode unreadable = s.putArray("unreadable_files");
    for (UnreadableFile file : stats.unreadableFiles().values()) {
      ObjectNode u = unreadable.addObject();
      u.put("file", file.file());
      u.put("records_read_before_cut", file.recordsRead());
      u.put("error", file.error());
    }
    FailureGate.addTo(s);
    s.putArray("alerts");
    return s;
  }

  private static void moments(ObjectNode node, Moments m) {
    node.put("count", m.count());
    node.put("mean", round(m.mean()));
    node.put("std", round(m.std()));
    node.put("min", round(m.min()));
    node.put("max", round(m.max()));
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
    try {
      JsonNode s = JSON.readTree(summaryJson);
      return Row.withSchema(ROW_SCHEMA)
          .addValues(
              s.path("job").isTextual() ? s.path("job").asText() : null,
              s.path("task").asText(),
              s.path("model").path("name").asText(),
              s.path("model").path("sha256").asText(),
              org.joda.time.Instant.parse(s.path("started_at").asText()),
              org.joda.time.Instant.parse(s.path("finished_at").asText()),
              s.path("records_read").asLong(),
              s.path("predictions").asLong(),
              s.path("failures").asLong(),
              s.path("nothing_lost").asBoolean(),
              s.path("wall_seconds").asDouble(),
              summaryJson)
          .build();
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
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
      ObjectNode jobInfo = (ObjectNode) JSON.readTree(spec.jobInfoJson);
      ObjectNode summary = toJson(stats, jobInfo, spec.startMillis, System.currentTimeMillis());
      JsonNode previous = null;
      if (spec.previousJson != null) {
        previous = JSON.readTree(spec.previousJson);
        ArrayNode alerts = (ArrayNode) summary.get("alerts");
        ObjectNode comparison =
            RunComparison.compare(previous, summary, spec.previousPath, spec.thresholds, alerts);
        summary.set("comparison", comparison);
        if (!comparison.get("comparable").asBoolean()) {
          LOG.warn(
              "Not compared with the previous run ({}): {}",
              spec.previousPath,
              comparison.get("reason").asText());
        }
        for (JsonNode alert : alerts) {
          LOG.warn(
              "DRIFT ALERT: {} (previous run: {})",
              alert.get("message").asText(),
              spec.previousPath);
        }
      }
      String text = JSON.writerWithDefaultPrettyPrinter().writeValueAsString(summary);
      write(spec.summaryPath, "application/json", text + "\n");
      if (spec.reportPath != null) {
        write(spec.reportPath, "text/html", RunReport.render(summary, previous));
      }
      // The console is for people (progress, warnings, the result line); the whole summary is in
      // summary.json, and in the log only for whoever turns this logger's DEBUG on.
      if (LOG.isDebugEnabled()) {
        LOG.debug("Run summary ({}): {}", spec.summaryPath, forLog(summary));
      }
      if (!summary.get("nothing_lost").asBoolean()) {
        throw new IllegalStateException(
            "Nothing-lost check failed: "
                + summary.get("nothing_lost_check").asText()
                + ". See "
                + spec.summaryPath);
      }
      out.output(summary.toString());
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
