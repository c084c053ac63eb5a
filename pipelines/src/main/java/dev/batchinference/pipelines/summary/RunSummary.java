package dev.batchinference.pipelines.summary;

import com.fasterxml.jackson.annotation.JsonAnyGetter;
import com.fasterxml.jackson.annotation.JsonCreator;
import com.fasterxml.jackson.annotation.JsonIgnoreProperties;
import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.annotation.JsonInclude.Include;
import com.fasterxml.jackson.annotation.JsonProperty;
import com.fasterxml.jackson.annotation.JsonValue;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.util.Collection;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.LongSummaryStatistics;
import java.util.Map;
import org.checkerframework.checker.nullness.qual.Nullable;

/**
 * A run's {@code summary.json} as a type: {@link WriteRunSummary} builds and writes it, the run
 * comparison, the report, the exit status ({@link RunStatus}) and the command line read it. Field
 * names are the JSON's (snake_case). Unknown fields are ignored and absent ones read as null, empty
 * or 0, so summaries written by older (or newer) versions still load. Fields the JSON leaves out
 * when they do not apply (say {@code collapsed_duplicate_ids}) are null here.
 */
@JsonIgnoreProperties(ignoreUnknown = true)
@JsonInclude(Include.NON_NULL)
public record RunSummary(
    @JsonProperty("job") @JsonInclude(Include.ALWAYS) @Nullable String job,
    @JsonProperty("task") @Nullable String task,
    @JsonProperty("runner") @Nullable String runner,
    @JsonProperty("input") @Nullable String input,
    @JsonProperty("output") @Nullable String output,
    @JsonProperty("output_table") @Nullable String outputTable,
    @JsonProperty("model") @Nullable Model model,
    @JsonProperty("batch_size_limit") @Nullable Long batchSizeLimit,
    @JsonProperty("batching") @Nullable String batching,
    @JsonProperty("max_failure_rate") @JsonInclude(Include.ALWAYS) @Nullable Double maxFailureRate,
    @JsonProperty("settings_sha256") @Nullable String settingsSha256,
    @JsonProperty("prediction_settings") @Nullable Map<String, String> predictionSettings,
    @JsonProperty("started_at") @Nullable String startedAt,
    @JsonProperty("finished_at") @Nullable String finishedAt,
    @JsonProperty("records_read") long recordsRead,
    @JsonProperty("predictions") long predictions,
    @JsonProperty("failures") long failures,
    @JsonProperty("carried_forward") long carriedForward,
    @JsonProperty("collapsed_duplicate_ids") @Nullable Long collapsedDuplicateIds,
    @JsonProperty("predictions_written") @Nullable Long predictionsWritten,
    @JsonProperty("nothing_lost") boolean nothingLost,
    @JsonProperty("nothing_lost_check") @Nullable String nothingLostCheck,
    @JsonProperty("failures_by_stage") Map<String, Long> failuresByStage,
    @JsonProperty("failures_by_error") Map<String, Long> failuresByError,
    @JsonProperty("batches") long batches,
    @JsonProperty("batch_size") @Nullable BatchSizes batchSize,
    @JsonProperty("batch_weight_total") long batchWeightTotal,
    @JsonProperty("memory_backoffs") long memoryBackoffs,
    @JsonProperty("batch_size_lowered_to") @Nullable Long batchSizeLoweredTo,
    @JsonProperty("inference_batch_latency_ms") @Nullable Latency inferenceBatchLatencyMs,
    @JsonProperty("inference_workers") @Nullable InferenceWorkers inferenceWorkers,
    @JsonProperty("wall_seconds") double wallSeconds,
    @JsonProperty("throughput_records_per_second") double throughputRecordsPerSecond,
    @JsonProperty("prediction_distribution") Distribution predictionDistribution,
    @JsonProperty("failure_examples") Map<String, List<FailureExample>> failureExamples,
    @JsonProperty("unreadable_files") List<UnreadableFile> unreadableFiles,
    @JsonProperty("failure_rate") @Nullable Double failureRate,
    @JsonProperty("failure_gate") @Nullable FailureGateResult failureGate,
    @JsonProperty("alerts") List<Alert> alerts,
    @JsonProperty("comparison") @Nullable Comparison comparison) {

  /** Reads and writes summaries; the one place their JSON form is configured. */
  static final ObjectMapper JSON =
      new ObjectMapper()
          .disable(DeserializationFeature.FAIL_ON_UNKNOWN_PROPERTIES)
          .disable(SerializationFeature.FAIL_ON_EMPTY_BEANS);

  /** Absent collections read as empty, so readers need no null checks. */
  public RunSummary {
    failuresByStage = failuresByStage == null ? Map.of() : failuresByStage;
    failuresByError = failuresByError == null ? Map.of() : failuresByError;
    predictionDistribution =
        predictionDistribution == null
            ? new Distribution(null, null, null, null)
            : predictionDistribution;
    failureExamples = failureExamples == null ? Map.of() : failureExamples;
    unreadableFiles = unreadableFiles == null ? List.of() : unreadableFiles;
    alerts = alerts == null ? List.of() : alerts;
  }

  /** Parses summary JSON. */
  public static RunSummary parse(String json) {
    try {
      return JSON.readValue(json, RunSummary.class);
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  /** A summary already read as a JSON tree. */
  public static RunSummary of(JsonNode json) {
    try {
      return JSON.treeToValue(json, RunSummary.class);
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  /** The JSON as {@code summary.json} holds it (pretty-printed). */
  public String toPrettyJson() {
    try {
      return JSON.writerWithDefaultPrettyPrinter().writeValueAsString(this);
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  /** The JSON on one line. */
  public String toJson() {
    try {
      return JSON.writeValueAsString(this);
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  /** The JSON as a tree. */
  public ObjectNode toTree() {
    return JSON.valueToTree(this);
  }

  /** This summary with its comparison and alerts. */
  public RunSummary withComparison(Comparison comparison, List<Alert> alerts) {
    return new RunSummary(
        job,
        task,
        runner,
        input,
        output,
        outputTable,
        model,
        batchSizeLimit,
        batching,
        maxFailureRate,
        settingsSha256,
        predictionSettings,
        startedAt,
        finishedAt,
        recordsRead,
        predictions,
        failures,
        carriedForward,
        collapsedDuplicateIds,
        predictionsWritten,
        nothingLost,
        nothingLostCheck,
        failuresByStage,
        failuresByError,
        batches,
        batchSize,
        batchWeightTotal,
        memoryBackoffs,
        batchSizeLoweredTo,
        inferenceBatchLatencyMs,
        inferenceWorkers,
        wallSeconds,
        throughputRecordsPerSecond,
        predictionDistribution,
        failureExamples,
        unreadableFiles,
        failureRate,
        failureGate,
        List.copyOf(alerts),
        comparison);
  }

  /** Whether the run failed the failure gate (false for summaries from before the gate). */
  public boolean failureGateExceeded() {
    return failureGate != null && failureGate.exceeded();
  }

  /**
   * What describes the job, fixed when it is launched (the first fields of the summary): {@link
   * WriteRunSummary} copies it into the summary.
   */
  @JsonIgnoreProperties(ignoreUnknown = true)
  @JsonInclude(Include.NON_NULL)
  public record Job(
      @JsonProperty("job") @JsonInclude(Include.ALWAYS) @Nullable String job,
      @JsonProperty("task") String task,
      @JsonProperty("runner") String runner,
      @JsonProperty("input") String input,
      @JsonProperty("output") String output,
      @JsonProperty("output_table") @Nullable String outputTable,
      @JsonProperty("model") Model model,
      @JsonProperty("batch_size_limit") long batchSizeLimit,
      @JsonProperty("batching") String batching,
      @JsonProperty("max_failure_rate") @JsonInclude(Include.ALWAYS)
          @Nullable Double maxFailureRate,
      @JsonProperty("settings_sha256") String settingsSha256,
      @JsonProperty("prediction_settings") Map<String, String> predictionSettings) {}

  /**
   * The model: its name, URI, SHA-256 and size, and the SHA-256 of the other files the job pinned
   * at launch (tokenizer, label files), written as {@code tokenizer_sha256} etc.
   */
  @JsonInclude(Include.NON_NULL)
  public record Model(
      @JsonProperty("name") @Nullable String name,
      @JsonProperty("uri") @Nullable String uri,
      @JsonProperty("sha256") @Nullable String sha256,
      @JsonProperty("bytes") @Nullable Long bytes,
      @JsonAnyGetter Map<String, Object> pinnedSha256) {

    public Model {
      pinnedSha256 = pinnedSha256 == null ? Map.of() : pinnedSha256;
    }

    // Records take no @JsonAnySetter (Jackson 2.15): the pinned files come from the whole object.
    @JsonCreator(mode = JsonCreator.Mode.DELEGATING)
    static Model fromJson(Map<String, Object> fields) {
      Map<String, Object> pinned = new LinkedHashMap<>(fields);
      Object name = pinned.remove("name");
      Object uri = pinned.remove("uri");
      Object sha256 = pinned.remove("sha256");
      Object bytes = pinned.remove("bytes");
      return new Model(
          name == null ? null : name.toString(),
          uri == null ? null : uri.toString(),
          sha256 == null ? null : sha256.toString(),
          bytes instanceof Number ? ((Number) bytes).longValue() : null,
          pinned);
    }
  }

  /** Batches by size: the mean and how many batches had each size. */
  public record BatchSizes(
      @JsonProperty("mean") double mean, @JsonProperty("histogram") Map<String, Long> histogram) {
    public BatchSizes {
      histogram = histogram == null ? Map.of() : histogram;
    }
  }

  /**
   * How the model runs were spread: the worker threads (a JVM's thread, or a Flink subtask) that
   * ran batches, and the fewest and most records and batches one of them ran. One busy worker of
   * many shows as a {@code records_max} close to all the records.
   */
  public record InferenceWorkers(
      @JsonProperty("count") int count,
      @JsonProperty("records_min") long recordsMin,
      @JsonProperty("records_max") long recordsMax,
      @JsonProperty("batches_min") long batchesMin,
      @JsonProperty("batches_max") long batchesMax) {

    /** From each worker's {@code [records, batches]}; null when no batch ran. */
    public static @Nullable InferenceWorkers of(Collection<List<Long>> perWorker) {
      if (perWorker.isEmpty()) {
        return null;
      }
      LongSummaryStatistics records =
          perWorker.stream().mapToLong(w -> w.get(0)).summaryStatistics();
      LongSummaryStatistics batches =
          perWorker.stream().mapToLong(w -> w.get(1)).summaryStatistics();
      return new InferenceWorkers(
          perWorker.size(), records.getMin(), records.getMax(), batches.getMin(), batches.getMax());
    }
  }

  /** Inference latency of a batch, in milliseconds. */
  @JsonInclude(Include.NON_NULL)
  public record Latency(
      @JsonProperty("p50") double p50,
      @JsonProperty("p95") double p95,
      @JsonProperty("p99") double p99,
      @JsonProperty("total") double total,
      @JsonProperty("histogram") @Nullable LatencyHistogram histogram) {}

  /** Batches per latency bin, from 0 in bins of {@code bin_width_ms}. */
  public record LatencyHistogram(
      @JsonProperty("bin_width_ms") double binWidthMs, @JsonProperty("counts") long[] counts) {}

  /**
   * What was predicted: class counts and top-score statistics for classifiers, embedding norms and
   * centroid for embeddings (each absent where it does not apply).
   */
  @JsonInclude(Include.NON_NULL)
  public record Distribution(
      @JsonProperty("class_counts") @Nullable Map<String, Long> classCounts,
      @JsonProperty("score") @Nullable Score score,
      @JsonProperty("embedding_norm") @Nullable Moments embeddingNorm,
      @JsonProperty("embedding_centroid") @Nullable Centroid embeddingCentroid) {}

  /** Count, mean, standard deviation, minimum and maximum of a figure. */
  public record Moments(
      @JsonProperty("count") long count,
      @JsonProperty("mean") double mean,
      @JsonProperty("std") double std,
      @JsonProperty("min") double min,
      @JsonProperty("max") double max) {}

  /**
   * The top score: its moments, quantiles and histogram (quantiles and histogram absent in older
   * summaries).
   */
  @JsonInclude(Include.NON_NULL)
  public record Score(
      @JsonProperty("count") long count,
      @JsonProperty("mean") @Nullable Double mean,
      @JsonProperty("std") @Nullable Double std,
      @JsonProperty("min") @Nullable Double min,
      @JsonProperty("max") @Nullable Double max,
      @JsonProperty("p05") @Nullable Double p05,
      @JsonProperty("p50") @Nullable Double p50,
      @JsonProperty("p95") @Nullable Double p95,
      @JsonProperty("histogram") @Nullable ScoreHistogram histogram) {}

  /** Predictions per top-score bin, bins of {@code bin_width} over 0..1. */
  public record ScoreHistogram(
      @JsonProperty("bin_width") double binWidth, @JsonProperty("counts") long[] counts) {}

  /** The mean embedding, its norm, and how many embeddings it averages. */
  public record Centroid(
      @JsonProperty("count") long count,
      @JsonProperty("norm") double norm,
      @JsonProperty("mean") double[] mean) {
    public Centroid {
      mean = mean == null ? new double[0] : mean;
    }
  }

  /** One failed record, an example of its error. */
  @JsonInclude(Include.ALWAYS)
  @JsonIgnoreProperties(ignoreUnknown = true)
  public record FailureExample(
      @JsonProperty("id") @Nullable String id,
      @JsonProperty("source") @Nullable String source,
      @JsonProperty("index") long index,
      @JsonProperty("error") @Nullable String error,
      @JsonProperty("input") @Nullable String input) {}

  /** A file that could not be read to its end. */
  @JsonIgnoreProperties(ignoreUnknown = true)
  public record UnreadableFile(
      @JsonProperty("file") String file,
      @JsonProperty("records_read_before_cut") long recordsReadBeforeCut,
      @JsonProperty("error") @Nullable String error) {}

  /** The failure gate's verdict ({@link FailureGate}). */
  @JsonInclude(Include.NON_NULL)
  @JsonIgnoreProperties(ignoreUnknown = true)
  public record FailureGateResult(
      @JsonProperty("max_failure_rate") @JsonInclude(Include.ALWAYS)
          @Nullable Double maxFailureRate,
      @JsonProperty("exceeded") boolean exceeded,
      @JsonProperty("message") @Nullable String message) {}

  /** A drift figure past its threshold. */
  @JsonIgnoreProperties(ignoreUnknown = true)
  public record Alert(
      @JsonProperty("metric") String metric,
      @JsonProperty("value") double value,
      @JsonProperty("threshold") double threshold,
      @JsonProperty("message") String message) {}

  /** The comparison with the previous run ({@link RunComparison}). */
  @JsonInclude(Include.NON_NULL)
  @JsonIgnoreProperties(ignoreUnknown = true)
  public record Comparison(
      @JsonProperty("previous_summary") @Nullable String previousSummary,
      @JsonProperty("previous_started_at") @JsonInclude(Include.ALWAYS)
          @Nullable String previousStartedAt,
      @JsonProperty("comparable") boolean comparable,
      @JsonProperty("reason") @Nullable String reason,
      @JsonProperty("notes") @Nullable List<String> notes,
      @JsonProperty("metrics") @Nullable Map<String, Metric> metrics,
      @JsonProperty("class_distribution") @Nullable Map<String, ClassShare> classDistribution) {}

  /**
   * One drift figure: before and now (for shifts), its value (null when it cannot be computed),
   * threshold (null when off) and whether it is an alert.
   */
  @JsonIgnoreProperties(ignoreUnknown = true)
  public record Metric(
      @JsonProperty("previous") @Nullable Double previous,
      @JsonProperty("current") @Nullable Double current,
      @JsonProperty("value") @Nullable Double value,
      @JsonProperty("threshold") @Nullable Double threshold,
      @JsonProperty("alert") boolean alert,
      @JsonProperty("sampling_allowance") @Nullable Double samplingAllowance) {

    /**
     * Written by hand for one reason: a figure that cannot be computed has no threshold field at
     * all, one whose check is off has {@code "threshold": null}, as summaries always had.
     */
    @JsonValue
    Map<String, Object> toJson() {
      Map<String, Object> m = new LinkedHashMap<>();
      if (previous != null) {
        m.put("previous", previous);
        m.put("current", current);
      }
      m.put("value", value);
      if (value != null) {
        m.put("threshold", threshold);
      }
      m.put("alert", alert);
      if (samplingAllowance != null) {
        m.put("sampling_allowance", samplingAllowance);
      }
      return m;
    }
  }

  /** One class in both runs: counts and shares. */
  public record ClassShare(
      @JsonProperty("previous") long previous,
      @JsonProperty("current") long current,
      @JsonProperty("previous_share") double previousShare,
      @JsonProperty("current_share") double currentShare) {}
}
