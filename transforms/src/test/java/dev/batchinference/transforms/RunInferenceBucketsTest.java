package dev.batchinference.transforms;

import static org.hamcrest.MatcherAssert.assertThat;
import static org.hamcrest.Matchers.equalTo;
import static org.hamcrest.Matchers.is;
import static org.junit.Assert.assertThrows;

import com.fasterxml.jackson.databind.ObjectMapper;
import dev.batchinference.transforms.onnx.OnnxModelHandler;
import dev.batchinference.transforms.postprocess.MeanPooledEmbedding;
import dev.batchinference.transforms.preprocess.TextTokenizer;
import dev.batchinference.transforms.tensor.TensorExample;
import dev.batchinference.transforms.tensor.TensorExampleCoder;
import dev.batchinference.transforms.testing.TestModels;
import java.util.ArrayList;
import java.util.List;
import org.apache.beam.sdk.coders.KvCoder;
import org.apache.beam.sdk.testing.PAssert;
import org.apache.beam.sdk.testing.TestPipeline;
import org.apache.beam.sdk.transforms.Create;
import org.apache.beam.sdk.values.KV;
import org.junit.BeforeClass;
import org.junit.Rule;
import org.junit.Test;
import org.junit.runner.RunWith;
import org.junit.runners.JUnit4;

/** {@link RunInference#withWeightBuckets}: batches hold texts of one length bucket. */
@RunWith(JUnit4.class)
public class RunInferenceBucketsTest {

  @Rule public final transient TestPipeline pipeline = TestPipeline.create();

  private static final List<KV<RecordMeta, TensorExample>> TEXTS = new ArrayList<>();

  @BeforeClass
  public static void tokenize() throws Exception {
    TextTokenizer tokenizer = TextTokenizer.of(TestModels.MINILM_TOKENIZER);
    tokenizer.setup();
    ObjectMapper json = new ObjectMapper();
    try {
      for (int i = 0; i < 6; i++) {
        // 4 or 5 tokens with [CLS] and [SEP]
        add(tokenizer, json, i, "short text " + i);
        // more than 16 tokens
        add(
            tokenizer,
            json,
            100 + i,
            "a much longer text that keeps going on and on about nothing in particular, number "
                + i);
      }
    } finally {
      tokenizer.teardown();
    }
  }

  private static void add(TextTokenizer tokenizer, ObjectMapper json, int index, String text)
      throws Exception {
    TEXTS.add(
        KV.of(
            RecordMeta.of("t" + index, "texts", index, null),
            tokenizer.apply(json.createObjectNode().put("text", text))));
  }

  private RunInference.Result run(RunInference<TensorExample, TensorExample> transform) {
    return pipeline
        .apply(
            Create.of(TEXTS).withCoder(KvCoder.of(RecordMeta.Coder.of(), TensorExampleCoder.of())))
        .apply(transform);
  }

  private static RunInference<TensorExample, TensorExample> embed() {
    return RunInference.of(
            OnnxModelHandler.of(TestModels.MINILM).withOutputs(List.of("last_hidden_state")),
            MeanPooledEmbedding.of())
        .withBatchSize(4)
        .withShards(1);
  }

  @Test
  public void bucketsKeepShortAndLongTextsInSeparateBatches() {
    RunInference.Result result = run(embed().withWeightBuckets(8, 16));
    // 6 short texts and 6 long ones, batches of 4 within a bucket: 2 + 2 batches.
    PAssert.that(result.batches())
        .satisfies(
            batches -> {
              int count = 0;
              for (BatchStats b : batches) {
                count++;
                double meanTokens = (double) b.weight() / b.size();
                assertThat(
                    "batch " + b + " mixes buckets", meanTokens <= 8 || meanTokens > 16, is(true));
              }
              assertThat(count, equalTo(4));
              return null;
            });
    PAssert.that(result.failures()).empty();
    pipeline.run().waitUntilFinish();
  }

  @Test
  public void withoutBucketsBatchesMixLengths() {
    RunInference.Result result = run(embed());
    PAssert.that(result.batches())
        .satisfies(
            batches -> {
              int count = 0;
              for (BatchStats ignored : batches) {
                count++;
              }
              assertThat("12 texts in batches of 4", count, equalTo(3));
              return null;
            });
    pipeline.run().waitUntilFinish();
  }

  @Test
  public void bucketBoundsMustIncrease() {
    IllegalArgumentException e =
        assertThrows(IllegalArgumentException.class, () -> embed().withWeightBuckets(64, 32));
    assertThat(
        e.getMessage(),
        equalTo("weight bucket bounds must be positive and increasing, got [64, 32]"));
    pipeline.enableAbandonedNodeEnforcement(false);
  }
}
