package dev.batchinference.pipelines;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.batchinference.transforms.Prediction;
import dev.batchinference.transforms.RecordMeta;
import dev.batchinference.transforms.TupleOutput;
import dev.batchinference.transforms.io.RawRecord;
import dev.batchinference.transforms.io.ReadRecords;
import dev.batchinference.transforms.tensor.Tensor;
import java.io.IOException;
import java.util.HashMap;
import java.util.Map;
import org.apache.beam.sdk.coders.Coder;
import org.apache.beam.sdk.coders.KvCoder;
import org.apache.beam.sdk.coders.StringUtf8Coder;
import org.apache.beam.sdk.metrics.Counter;
import org.apache.beam.sdk.metrics.Metrics;
import org.apache.beam.sdk.transforms.DoFn;
import org.apache.beam.sdk.transforms.PTransform;
import org.apache.beam.sdk.transforms.ParDo;
import org.apache.beam.sdk.transforms.WithKeys;
import org.apache.beam.sdk.transforms.display.DisplayData;
import org.apache.beam.sdk.transforms.join.CoGbkResult;
import org.apache.beam.sdk.transforms.join.CoGroupByKey;
import org.apache.beam.sdk.transforms.join.KeyedPCollectionTuple;
import org.apache.beam.sdk.values.KV;
import org.apache.beam.sdk.values.PCollection;
import org.apache.beam.sdk.values.PCollectionTuple;
import org.apache.beam.sdk.values.TupleTag;
import org.apache.beam.sdk.values.TupleTagList;
import org.apache.beam.sdk.values.TypeDescriptors;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Incremental runs: finds the records that a previous run already predicted under the same settings
 * from the same content — same id, same {@code input_sha256} (the record as read), same {@code
 * model_sha256} and same {@code settings_sha256} (every option that changes a prediction, see
 * {@link JobPlan#predictionSettings}) — so that a daily run scores only new or changed records, and
 * a run after one with failures retries only what has no prediction. The previous predictions are
 * files (JSON Lines or Parquet, by extension) matching a pattern; they are joined with this run's
 * records by id. Those records are not scored again: their previous predictions are carried
 * forward, unchanged, into this run's output, which so holds a prediction of every record.
 *
 * <p>The previous files may be in this run's own output directory: the join (a {@link
 * CoGroupByKey}) reads all of them before anything downstream, the writing and renaming of this
 * run's files included, can start.
 *
 * <p>Its {@link Result}: the records still to predict, and, for each record skipped, the record and
 * the previous prediction carried forward.
 */
public final class SkipPredicted<ExampleT>
    extends PTransform<PCollection<KV<RecordMeta, ExampleT>>, SkipPredicted.Result<ExampleT>> {

  /** Each skipped record with the previous prediction carried forward for it. */
  private static final TupleTag<KV<RecordMeta, Prediction>> CARRIED =
      new TupleTag<KV<RecordMeta, Prediction>>() {};

  /** The records still to predict, and the records skipped with their previous predictions. */
  public static final class Result<ExampleT> extends TupleOutput {
    private final TupleTag<KV<RecordMeta, ExampleT>> remaining;

    private Result(PCollectionTuple tuple, TupleTag<KV<RecordMeta, ExampleT>> remaining) {
      super(tuple);
      this.remaining = remaining;
    }

    /** The records no previous prediction stands for: to be scored by this run. */
    public PCollection<KV<RecordMeta, ExampleT>> remaining() {
      return tuple.get(remaining);
    }

    /** Each skipped record with the previous prediction carried forward for it. */
    public PCollection<KV<RecordMeta, Prediction>> carried() {
      return tuple.get(CARRIED);
    }
  }

  private final String previousPattern;
  private final String modelSha256;
  private final String settingsSha256;
  private final Map<String, Tensor.DType> outputTypes;
  private final TupleTag<KV<RecordMeta, ExampleT>> remaining =
      new TupleTag<KV<RecordMeta, ExampleT>>() {};

  /**
   * @param settingsSha256 the hash of this run's prediction settings; previous predictions under
   *     other settings (or without one) are not reused
   * @param outputTypes the model's output element types, to read raw outputs back as written
   */
  SkipPredicted(
      String previousPattern,
      String modelSha256,
      String settingsSha256,
      Map<String, Tensor.DType> outputTypes) {
    this.previousPattern = previousPattern;
    this.modelSha256 = modelSha256;
    this.settingsSha256 = settingsSha256;
    this.outputTypes = new HashMap<>(outputTypes);
  }

  @Override
  public void populateDisplayData(DisplayData.Builder builder) {
    super.populateDisplayData(builder);
    builder
        .add(
            DisplayData.item("previousPredictions", previousPattern)
                .withLabel("Previous predictions"))
        .add(DisplayData.item("modelSha256", modelSha256).withLabel("Model SHA-256"))
        .add(DisplayData.item("settingsSha256", settingsSha256).withLabel("Settings SHA-256"));
  }

  /** The format of prediction files, by extension. */
  static ReadRecords.Format formatOf(String pattern) {
    return pattern.endsWith(".parquet") ? ReadRecords.Format.PARQUET : ReadRecords.Format.JSONL;
  }

  @Override
  public Result<ExampleT> expand(PCollection<KV<RecordMeta, ExampleT>> records) {
    Coder<KV<RecordMeta, ExampleT>> recordCoder = records.getCoder();
    TupleTag<KV<String, String>> previousTag = new TupleTag<>();
    TupleTag<KV<RecordMeta, ExampleT>> currentTag = new TupleTag<>();

    PCollection<KV<String, KV<String, String>>> previous =
        records
            .getPipeline()
            .apply(
                "ReadPrevious",
                ReadRecords.from(previousPattern).withFormat(formatOf(previousPattern)))
            .records()
            .apply("PreviousKeys", ParDo.of(new PreviousKeyFn(modelSha256, settingsSha256)))
            .setCoder(
                KvCoder.of(
                    StringUtf8Coder.of(), KvCoder.of(StringUtf8Coder.of(), StringUtf8Coder.of())));
    PCollection<KV<String, KV<RecordMeta, ExampleT>>> current =
        records
            .apply(
                "ById",
                WithKeys.<String, KV<RecordMeta, ExampleT>>of(r -> r.getKey().id())
                    .withKeyType(TypeDescriptors.strings()))
            .setCoder(KvCoder.of(StringUtf8Coder.of(), recordCoder));

    PCollectionTuple out =
        KeyedPCollectionTuple.of(previousTag, previous)
            .and(currentTag, current)
            .apply("JoinById", CoGroupByKey.create())
            .apply(
                "Skip",
                ParDo.of(new SkipFn<ExampleT>(previousTag, currentTag, remaining, outputTypes))
                    .withOutputTags(remaining, TupleTagList.of(CARRIED)));
    out.get(remaining).setCoder(recordCoder);
    out.get(CARRIED).setCoder(KvCoder.of(RecordMeta.Coder.of(), Prediction.Coder.of()));
    return new Result<>(out, remaining);
  }

  /**
   * A previous prediction by the same model under the same settings as {@code id → (input_sha256,
   * the prediction as read)}.
   */
  static final class PreviousKeyFn extends DoFn<RawRecord, KV<String, KV<String, String>>> {
    private static final ObjectMapper JSON = new ObjectMapper();
    private final String modelSha256;
    private final String settingsSha256;

    PreviousKeyFn(String modelSha256, String settingsSha256) {
      this.modelSha256 = modelSha256;
      this.settingsSha256 = settingsSha256;
    }

    @ProcessElement
    public void processElement(
        @Element RawRecord prediction, OutputReceiver<KV<String, KV<String, String>>> out)
        throws Exception {
      JsonNode p = JSON.readTree(prediction.text());
      JsonNode id = p.get("id");
      JsonNode content = p.get("input_sha256");
      JsonNode model = p.get("model_sha256");
      JsonNode settings = p.get("settings_sha256");
      if (id != null
          && content != null
          && !content.isNull()
          && model != null
          && modelSha256.equals(model.asText())
          && settings != null
          && settingsSha256.equals(settings.asText())) {
        out.output(KV.of(id.asText(), KV.of(content.asText(), prediction.text())));
      }
    }
  }

  static final class SkipFn<ExampleT>
      extends DoFn<KV<String, CoGbkResult>, KV<RecordMeta, ExampleT>> {
    private static final Logger LOG = LoggerFactory.getLogger(SkipPredicted.class);
    private final TupleTag<KV<String, String>> previousTag;
    private final TupleTag<KV<RecordMeta, ExampleT>> currentTag;
    private final TupleTag<KV<RecordMeta, ExampleT>> remaining;
    private final Map<String, Tensor.DType> outputTypes;
    private final Counter skipped = Metrics.counter(SkipPredicted.class, "carried_forward");

    SkipFn(
        TupleTag<KV<String, String>> previousTag,
        TupleTag<KV<RecordMeta, ExampleT>> currentTag,
        TupleTag<KV<RecordMeta, ExampleT>> remaining,
        Map<String, Tensor.DType> outputTypes) {
      this.previousTag = previousTag;
      this.currentTag = currentTag;
      this.remaining = remaining;
      this.outputTypes = outputTypes;
    }

    @ProcessElement
    public void processElement(@Element KV<String, CoGbkResult> joined, MultiOutputReceiver out) {
      Map<String, String> byContent = new HashMap<>();
      for (KV<String, String> previous : joined.getValue().getAll(previousTag)) {
        byContent.putIfAbsent(previous.getKey(), previous.getValue());
      }
      for (KV<RecordMeta, ExampleT> record : joined.getValue().getAll(currentTag)) {
        String previous = byContent.get(record.getKey().contentSha256());
        Prediction carried = null;
        if (previous != null) {
          try {
            carried = PreviousPredictions.parse(previous, outputTypes);
          } catch (IOException | RuntimeException e) {
            // Unreadable as a prediction: scoring the record again loses nothing.
            LOG.warn(
                "Scoring {} again: its previous prediction does not read: {}", joined.getKey(), e);
          }
        }
        if (carried != null) {
          skipped.inc();
          out.get(CARRIED).output(KV.of(record.getKey(), carried));
        } else {
          out.get(remaining).output(record);
        }
      }
    }
  }
}
