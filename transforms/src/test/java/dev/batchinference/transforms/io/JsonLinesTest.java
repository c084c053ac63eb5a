package dev.batchinference.transforms.io;

import static org.hamcrest.MatcherAssert.assertThat;
import static org.hamcrest.Matchers.equalTo;
import static org.hamcrest.Matchers.startsWith;

import dev.batchinference.transforms.Failure;
import dev.batchinference.transforms.Prediction;
import dev.batchinference.transforms.RecordMeta;
import dev.batchinference.transforms.Stage;
import dev.batchinference.transforms.model.ModelIdentity;
import dev.batchinference.transforms.tensor.Tensor;
import dev.batchinference.transforms.tensor.TensorExample;
import java.util.LinkedHashMap;
import java.util.Map;
import org.junit.Test;
import org.junit.runner.RunWith;
import org.junit.runners.JUnit4;

/** Tests of {@link JsonLines}. */
@RunWith(JUnit4.class)
public class JsonLinesTest {

  private static final ModelIdentity MODEL = ModelIdentity.of("fashion", "ab12");

  @Test
  public void aClassificationWithItsCarriedFieldsFlattened() {
    RecordMeta meta =
        RecordMeta.of(
            "img-3", "/in/images.jsonl", 3, "{\"category\":\"Bag\",\"extra\":{\"k\":[1,null]}}");
    Prediction p =
        Prediction.builder(meta, MODEL)
            .label("Bag", 8, 0.75f)
            .topK(new String[] {"Bag", "Sandal"}, new float[] {0.75f, 0.25f})
            .build();
    assertThat(
        JsonLines.prediction(p),
        equalTo(
            "{\"id\":\"img-3\",\"source\":\"/in/images.jsonl\",\"index\":3,"
                + "\"category\":\"Bag\",\"extra\":{\"k\":[1,null]},"
                + "\"model_name\":\"fashion\",\"model_sha256\":\"ab12\","
                + "\"label\":\"Bag\",\"label_index\":8,\"score\":0.75,"
                + "\"top_k\":[{\"label\":\"Bag\",\"score\":0.75},{\"label\":\"Sandal\",\"score\":0.25}]}"));
  }

  @Test
  public void carriedNumbersAreWrittenAsTheInputWroteThem() {
    RecordMeta meta =
        RecordMeta.of(
            "r", "/in/a.jsonl", 0, "{\"amount\":12345678901234567.89,\"big\":1e400,\"z\":-0.0}");
    String line =
        JsonLines.prediction(Prediction.builder(meta, MODEL).label("Bag", 8, 0.75f).build());
    assertThat(
        line,
        startsWith(
            "{\"id\":\"r\",\"source\":\"/in/a.jsonl\",\"index\":0,"
                + "\"amount\":12345678901234567.89,\"big\":1e400,\"z\":-0.0,"));
  }

  @Test
  public void anEmbedding() {
    Prediction p =
        Prediction.builder(RecordMeta.of("t", "s", 0, null), MODEL)
            .embedding(new float[] {0.5f, -1f})
            .build();
    assertThat(
        JsonLines.prediction(p),
        equalTo(
            "{\"id\":\"t\",\"source\":\"s\",\"index\":0,\"model_name\":\"fashion\",\"model_sha256\":\"ab12\","
                + "\"embedding\":[0.5,-1.0]}"));
  }

  @Test
  public void rawOutputsAsNestedArrays() {
    Map<String, Tensor> outputs = new LinkedHashMap<>();
    outputs.put("logits", Tensor.ofFloats(new float[] {1, 2, 3, 4, 5, 6}, 2, 3));
    outputs.put("ids", Tensor.ofLongs(new long[] {7, 8}, 2));
    outputs.put("count", Tensor.ofInts(new int[] {5}));
    outputs.put("p", Tensor.ofDoubles(new double[] {0.25}, 1, 1));
    Prediction p =
        Prediction.builder(RecordMeta.of("t", "s", 0, null), MODEL)
            .outputs(TensorExample.of(outputs))
            .build();
    assertThat(
        JsonLines.prediction(p),
        equalTo(
            "{\"id\":\"t\",\"source\":\"s\",\"index\":0,\"model_name\":\"fashion\",\"model_sha256\":\"ab12\","
                + "\"outputs\":{\"logits\":[[1.0,2.0,3.0],[4.0,5.0,6.0]],\"ids\":[7,8],\"count\":5,"
                + "\"p\":[[0.25]]}}"));
  }

  @Test
  public void aFailure() {
    assertThat(
        JsonLines.failure(
            Failure.of(
                "r-1",
                "/in/x.jsonl",
                4,
                Stage.PREPROCESS,
                "E",
                "bad \"text\"",
                "{\"id\":\"r-1\"}")),
        equalTo(
            "{\"id\":\"r-1\",\"source\":\"/in/x.jsonl\",\"index\":4,\"stage\":\"preprocess\","
                + "\"error_class\":\"E\",\"error\":\"bad \\\"text\\\"\",\"input\":\"{\\\"id\\\":\\\"r-1\\\"}\"}"));
    assertThat(
        "unknown id and input are null",
        JsonLines.failure(Failure.of(null, "s", 0, Stage.READ, "E", "m", null)),
        equalTo(
            "{\"id\":null,\"source\":\"s\",\"index\":0,\"stage\":\"read\",\"error_class\":\"E\",\"error\":\"m\","
                + "\"input\":null}"));
  }

  @Test
  public void failureMessagesIncludeTheirCauses() {
    Exception error = new IllegalStateException("outer", new java.io.IOException("disk full"));
    assertThat(Failure.describe(error), equalTo("outer (caused by IOException: disk full)"));
  }
}
