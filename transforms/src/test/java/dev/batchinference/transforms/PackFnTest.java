package dev.batchinference.transforms;

import static org.hamcrest.MatcherAssert.assertThat;
import static org.hamcrest.Matchers.equalTo;
import static org.hamcrest.Matchers.lessThanOrEqualTo;

import dev.batchinference.transforms.onnx.OnnxModelHandler;
import dev.batchinference.transforms.tensor.Tensor;
import dev.batchinference.transforms.tensor.TensorExample;
import dev.batchinference.transforms.testing.Outputs;
import dev.batchinference.transforms.testing.TestModels;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Random;
import java.util.Set;
import org.apache.beam.sdk.options.PipelineOptions;
import org.apache.beam.sdk.options.PipelineOptionsFactory;
import org.apache.beam.sdk.transforms.windowing.BoundedWindow;
import org.apache.beam.sdk.transforms.windowing.GlobalWindow;
import org.apache.beam.sdk.values.KV;
import org.apache.beam.sdk.values.TupleTag;
import org.joda.time.Instant;
import org.junit.Test;
import org.junit.runner.RunWith;
import org.junit.runners.JUnit4;

/**
 * {@link RunInference.PackFn}, called directly as its {@code ParDo} calls it, one bundle at a time:
 * full batches are made within the bundle, and only what is left at its end goes on record by
 * record.
 */
@RunWith(JUnit4.class)
public class PackFnTest {

  private static final TupleTag<KV<Integer, List<KV<RecordMeta, TensorExample>>>> FULL =
      new TupleTag<KV<Integer, List<KV<RecordMeta, TensorExample>>>>() {};
  private static final TupleTag<KV<Integer, List<KV<RecordMeta, TensorExample>>>> REST =
      new TupleTag<KV<Integer, List<KV<RecordMeta, TensorExample>>>>() {};

  /** A text of {@code tokens} tokens, as the tokenizer's three inputs would weigh it. */
  private static KV<RecordMeta, TensorExample> text(int index, int tokens) {
    return KV.of(
        RecordMeta.of("t" + index, "texts.jsonl", index, null),
        TensorExample.of("input_ids", Tensor.ofLongs(new long[tokens], 1, tokens)));
  }

  /** Runs one bundle of {@code records} through {@code fn}; returns {full batches, rest}. */
  private static List<List<KV<Integer, List<KV<RecordMeta, TensorExample>>>>> bundle(
      RunInference.PackFn<TensorExample, TensorExample> fn,
      List<KV<RecordMeta, TensorExample>> records) {
    Outputs outputs = new Outputs();
    fn.startBundle();
    for (KV<RecordMeta, TensorExample> record : records) {
      fn.processElement(record, BoundedWindow.TIMESTAMP_MIN_VALUE, GlobalWindow.INSTANCE, outputs);
    }
    List<KV<Integer, List<KV<RecordMeta, TensorExample>>>> full = new ArrayList<>(outputs.of(FULL));
    List<KV<Integer, List<KV<RecordMeta, TensorExample>>>> rest = new ArrayList<>();
    fn.finishBundle(
        fn.new FinishBundleContext() {
          @Override
          public PipelineOptions getPipelineOptions() {
            return PipelineOptionsFactory.create();
          }

          @Override
          public void output(
              KV<Integer, List<KV<RecordMeta, TensorExample>>> output,
              Instant timestamp,
              BoundedWindow window) {
            full.add(output);
          }

          @Override
          @SuppressWarnings("unchecked")
          public <T> void output(
              TupleTag<T> tag, T output, Instant timestamp, BoundedWindow window) {
            (tag.getId().equals(FULL.getId()) ? full : rest)
                .add((KV<Integer, List<KV<RecordMeta, TensorExample>>>) output);
          }
        });
    return List.of(full, rest);
  }

  private static RunInference.PackFn<TensorExample, TensorExample> pack(
      int batchSize, long maxBatchWeight, long[] buckets, int shards) {
    int slots = (buckets == null ? 1 : buckets.length + 1) * shards;
    int[] keys = new int[slots];
    for (int i = 0; i < slots; i++) {
      keys[i] = i;
    }
    return new RunInference.PackFn<>(
        OnnxModelHandler.of(TestModels.MINILM),
        batchSize,
        maxBatchWeight,
        shards,
        buckets,
        keys,
        FULL,
        REST);
  }

  @Test
  public void fixedSizeRecordsMakeFullBatchesInTheirOrderAndLeaveTheRestOneByOne() {
    List<KV<RecordMeta, TensorExample>> records = new ArrayList<>();
    for (int i = 0; i < 50; i++) {
      records.add(text(i, 10));
    }
    var out = bundle(pack(8, 0, null, 2), records);
    assertThat("full batches", out.get(0).size(), equalTo(6));
    int next = 0;
    for (KV<Integer, List<KV<RecordMeta, TensorExample>>> batch : out.get(0)) {
      assertThat(batch.getValue().size(), equalTo(8));
      for (KV<RecordMeta, TensorExample> record : batch.getValue()) {
        assertThat("in arrival order", record.getKey().index(), equalTo((long) next++));
      }
    }
    assertThat("left over, one by one", out.get(1).size(), equalTo(2));
    for (KV<Integer, List<KV<RecordMeta, TensorExample>>> single : out.get(1)) {
      assertThat(single.getValue().size(), equalTo(1));
    }
  }

  @Test
  public void textsAreSortedWithinTheWindowSoBatchesHoldNeighbours() {
    // Lengths from 5 to 15 tokens, all in the bucket up to 16, in random order.
    Random random = new Random(3);
    List<KV<RecordMeta, TensorExample>> records = new ArrayList<>();
    for (int i = 0; i < 1_000; i++) {
      records.add(text(i, 5 + random.nextInt(11)));
    }
    var out = bundle(pack(8, 0, new long[] {16, 64}, 2), records);
    Set<Long> seen = new HashSet<>();
    int full = 0;
    for (KV<Integer, List<KV<RecordMeta, TensorExample>>> batch : out.get(0)) {
      long min = Long.MAX_VALUE;
      long max = 0;
      for (KV<RecordMeta, TensorExample> record : batch.getValue()) {
        long tokens = record.getValue().get("input_ids").size();
        min = Math.min(min, tokens);
        max = Math.max(max, tokens);
        assertThat("once", seen.add(record.getKey().index()), equalTo(true));
      }
      assertThat("batch size", batch.getValue().size(), equalTo(8));
      // In arrival order, a batch of 8 would span most of 5..15; sorted, neighbours.
      assertThat("tokens from " + min + " to " + max, max - min, lessThanOrEqualTo(1L));
      full++;
    }
    for (KV<Integer, List<KV<RecordMeta, TensorExample>>> single : out.get(1)) {
      assertThat(seen.add(single.getValue().get(0).getKey().index()), equalTo(true));
    }
    assertThat("every record once", seen.size(), equalTo(1_000));
    assertThat("1,000 texts in full batches of 8", full, equalTo(125));
    assertThat("none left over", out.get(1).size(), equalTo(0));
  }

  @Test
  public void batchesNeverMixBucketsNorPassTheWeightLimit() {
    List<KV<RecordMeta, TensorExample>> records = new ArrayList<>();
    for (int i = 0; i < 300; i++) {
      records.add(text(i, i % 3 == 0 ? 40 : 6));
    }
    var out = bundle(pack(16, 200, new long[] {16}, 1), records);
    int total = 0;
    for (KV<Integer, List<KV<RecordMeta, TensorExample>>> batch : out.get(0)) {
      long weight = 0;
      Set<Boolean> longTexts = new HashSet<>();
      for (KV<RecordMeta, TensorExample> record : batch.getValue()) {
        long tokens = record.getValue().get("input_ids").size();
        weight += tokens;
        longTexts.add(tokens > 16);
      }
      assertThat("one bucket", longTexts.size(), equalTo(1));
      assertThat("weight limit", weight, lessThanOrEqualTo(200L));
      assertThat("key is the bucket's", batch.getKey(), equalTo(longTexts.contains(true) ? 1 : 0));
      total += batch.getValue().size();
    }
    total += out.get(1).size();
    assertThat(total, equalTo(300));
  }
}
