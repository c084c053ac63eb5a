package dev.batchinference.transforms.postprocess;

import static org.hamcrest.MatcherAssert.assertThat;
import static org.hamcrest.Matchers.closeTo;
import static org.hamcrest.Matchers.containsString;
import static org.hamcrest.Matchers.equalTo;
import static org.junit.Assert.assertThrows;

import dev.batchinference.transforms.Prediction;
import dev.batchinference.transforms.RecordMeta;
import dev.batchinference.transforms.model.ModelIdentity;
import dev.batchinference.transforms.onnx.OnnxModelHandler;
import dev.batchinference.transforms.preprocess.TextTokenizer;
import dev.batchinference.transforms.tensor.Tensor;
import dev.batchinference.transforms.tensor.TensorExample;
import dev.batchinference.transforms.testing.TestModels;
import org.junit.Test;
import org.junit.runner.RunWith;
import org.junit.runners.JUnit4;

/** Tests of {@link MeanPooledEmbedding}. */
@RunWith(JUnit4.class)
public class MeanPooledEmbeddingTest {

  /** Four positions of two dimensions, as a batch padded to four tokens gives them. */
  private static final TensorExample HIDDEN =
      TensorExample.of(
          MeanPooledEmbedding.DEFAULT_OUTPUT,
          Tensor.ofFloats(new float[] {1, 2, 3, 4, 100, 100, -50, 7}, 4, 2));

  private static TensorExample mask(long... mask) {
    return TensorExample.of(TextTokenizer.ATTENTION_MASK, Tensor.vector(mask));
  }

  private static float[] embed(
      MeanPooledEmbedding pooling, TensorExample example, TensorExample outputs) {
    Prediction.Builder b =
        Prediction.builder(RecordMeta.of("r", "s", 0, null), ModelIdentity.of("m", "0"));
    pooling.fill(example, outputs, b);
    return b.build().embedding();
  }

  @Test
  public void averagesOnlyTheTokensTheMaskKeeps() {
    MeanPooledEmbedding raw = MeanPooledEmbedding.of().withNormalize(false);
    assertThat(
        "the record's two tokens; the padding beyond its mask is left out",
        embed(raw, mask(1, 1), HIDDEN),
        equalTo(new float[] {2, 3}));
    assertThat(
        "masked positions inside",
        embed(raw, mask(1, 0, 1, 0), HIDDEN),
        equalTo(new float[] {50.5f, 51}));
    IllegalStateException e =
        assertThrows(IllegalStateException.class, () -> embed(raw, mask(0, 0, 0, 0), HIDDEN));
    assertThat(e.getMessage(), equalTo("attention mask keeps no token"));
  }

  @Test
  public void normalisesByDefault() {
    float[] e = embed(MeanPooledEmbedding.of(), mask(1, 1), HIDDEN);
    assertThat((double) e[0], closeTo(2 / Math.sqrt(13), 1e-6));
    assertThat((double) e[1], closeTo(3 / Math.sqrt(13), 1e-6));
  }

  @Test
  public void takesAPooledOutputAsItIs() {
    TensorExample pooled =
        TensorExample.of("sentence_embedding", Tensor.vector(new float[] {3, 4}));
    MeanPooledEmbedding pooling = MeanPooledEmbedding.of().withOutput("sentence_embedding");
    assertThat(embed(pooling, mask(1), pooled), equalTo(new float[] {0.6f, 0.8f}));
    assertThat(embed(pooling.withNormalize(false), mask(1), pooled), equalTo(new float[] {3, 4}));
  }

  @Test
  public void checkWantsAFloatTokenOrPooledOutput() throws Exception {
    MeanPooledEmbedding.of().check(OnnxModelHandler.of(TestModels.MINILM).inspect());
    IllegalArgumentException e =
        assertThrows(
            IllegalArgumentException.class,
            () ->
                MeanPooledEmbedding.of()
                    .check(OnnxModelHandler.of(TestModels.classifier().toString()).inspect()));
    assertThat(
        e.getMessage(),
        containsString("has no output 'last_hidden_state'; its outputs are [output]"));
  }
}
