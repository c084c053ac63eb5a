package dev.batchinference.pipelines;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.batchinference.transforms.RecordMeta;
import dev.batchinference.transforms.io.RawRecord;
import dev.batchinference.transforms.io.ReadRecords;
import java.util.HashSet;
import java.util.Set;
import org.apache.beam.sdk.coders.Coder;
import org.apache.beam.sdk.coders.KvCoder;
import org.apache.beam.sdk.coders.StringUtf8Coder;
import org.apache.beam.sdk.metrics.Counter;
import org.apache.beam.sdk.metrics.Metrics;
import org.apache.beam.sdk.transforms.DoFn;
import org.apache.beam.sdk.transforms.PTransform;
import org.apache.beam.sdk.transforms.ParDo;
import org.apache.beam.sdk.transforms.WithKeys;
import org.apache.beam.sdk.transforms.join.CoGbkResult;
import org.apache.beam.sdk.transforms.join.CoGroupByKey;
import org.apache.beam.sdk.transforms.join.KeyedPCollectionTuple;
import org.apache.beam.sdk.values.KV;
import org.apache.beam.sdk.values.PCollection;
import org.apache.beam.sdk.values.PCollectionTuple;
import org.apache.beam.sdk.values.TupleTag;
import org.apache.beam.sdk.values.TupleTagList;
import org.apache.beam.sdk.values.TypeDescriptors;

/**
 * Incremental runs: drops the records that a previous run already predicted with the same model
 * from the same content — same id, same {@code input_sha256} (the record as read), same {@code
 * model_sha256} — so that a daily run scores only new or changed records, and a run after one with
 * failures retries only what has no prediction. The previous predictions are files (JSON Lines or
 * Parquet, by extension) matching a pattern; they are joined with this run's records by id.
 *
 * <p>Outputs: the records still to predict, and the records skipped.
 */
final class SkipPredicted<ExampleT>
    extends PTransform<PCollection<KV<RecordMeta, ExampleT>>, PCollectionTuple> {

  static final TupleTag<RecordMeta> SKIPPED = new TupleTag<RecordMeta>() {};

  private final String previousPattern;
  private final String modelSha256;
  private final TupleTag<KV<RecordMeta, ExampleT>> remaining;

  SkipPredicted(
      String previousPattern, String modelSha256, TupleTag<KV<RecordMeta, ExampleT>> remaining) {
    this.previousPattern = previousPattern;
    this.modelSha256 = modelSha256;
    this.remaining = remaining;
  }

  /** The format of prediction files, by extension. */
  static ReadRecords.Format formatOf(String pattern) {
    return pattern.endsWith(".parquet") ? ReadRecords.Format.PARQUET : ReadRecords.Format.JSONL;
  }

  @Override
  public PCollectionTuple expand(PCollection<KV<RecordMeta, ExampleT>> records) {
    Coder<KV<RecordMeta, ExampleT>> recordCoder = records.getCoder();
    TupleTag<String> previousTag = new TupleTag<>();
    TupleTag<KV<RecordMeta, ExampleT>> currentTag = new TupleTag<>();

    PCollection<KV<String, String>> previous =
        records
            .getPipeline()
            .apply(
                "ReadPrevious",
                ReadRecords.from(previousPattern).withFormat(formatOf(previousPattern)))
            .records()
            .apply("PreviousKeys", ParDo.of(new PreviousKeyFn(modelSha256)))
            .setCoder(KvCoder.of(StringUtf8Coder.of(), StringUtf8Coder.of()));
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
                ParDo.of(new SkipFn<ExampleT>(previousTag, currentTag, remaining))
                    .withOutputTags(remaining, TupleTagList.of(SKIPPED)));
    out.get(remaining).setCoder(recordCoder);
    out.get(SKIPPED).setCoder(RecordMeta.Coder.of());
    return out;
  }

  /** A previous prediction by the same model as {@code id → input_sha256}. */
  static final class PreviousKeyFn extends DoFn<RawRecord, KV<String, String>> {
    private static final ObjectMapper JSON = new ObjectMapper();
    private final String modelSha256;

    PreviousKeyFn(String modelSha256) {
      this.modelSha256 = modelSha256;
    }

    @ProcessElement
    public void processElement(
        @Element RawRecord prediction, OutputReceiver<KV<String, String>> out) throws Exception {
      JsonNode p = JSON.readTree(prediction.text());
      JsonNode id = p.get("id");
      JsonNode content = p.get("input_sha256");
      JsonNode model = p.get("model_sha256");
      if (id != null && content != null && model != null && modelSha256.equals(model.asText())) {
        out.output(KV.of(id.asText(), content.asText()));
      }
    }
  }

  static final class SkipFn<ExampleT>
      extends DoFn<KV<String, CoGbkResult>, KV<RecordMeta, ExampleT>> {
    private final TupleTag<String> previousTag;
    private final TupleTag<KV<RecordMeta, ExampleT>> currentTag;
    private final TupleTag<KV<RecordMeta, ExampleT>> remaining;
    private final Counter skipped = Metrics.counter(SkipPredicted.class, "skipped_unchanged");

    SkipFn(
        TupleTag<String> previousTag,
        TupleTag<KV<RecordMeta, ExampleT>> currentTag,
        TupleTag<KV<RecordMeta, ExampleT>> remaining) {
      this.previousTag = previousTag;
      this.currentTag = currentTag;
      this.remaining = remaining;
    }

    @ProcessElement
    public void processElement(@Element KV<String, CoGbkResult> joined, MultiOutputReceiver out) {
      Set<String> predictedContent = new HashSet<>();
      for (String sha : joined.getValue().getAll(previousTag)) {
        predictedContent.add(sha);
      }
      for (KV<RecordMeta, ExampleT> record : joined.getValue().getAll(currentTag)) {
        if (predictedContent.contains(record.getKey().contentSha256())) {
          skipped.inc();
          out.get(SKIPPED).output(record.getKey());
        } else {
          out.get(remaining).output(record);
        }
      }
    }
  }
}
