package dev.batchinference.transforms;

import dev.batchinference.transforms.io.RawRecord;
import dev.batchinference.transforms.model.ModelIdentity;
import dev.batchinference.transforms.tensor.Tensor;
import dev.batchinference.transforms.tensor.TensorExample;
import java.util.LinkedHashMap;
import java.util.Map;
import org.apache.beam.sdk.testing.CoderProperties;
import org.junit.Test;
import org.junit.runner.RunWith;
import org.junit.runners.JUnit4;

/** Round trips of the coders of the records that flow between steps. */
@RunWith(JUnit4.class)
public class CodersTest {

  private static final ModelIdentity MODEL =
      ModelIdentity.of(
          "classifier", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  private static final RecordMeta META =
      RecordMeta.of("rec-1", "gs://bucket/in.jsonl", 41, "{\"label\":\"Bag\"}");

  @Test
  public void recordMetaCoder() throws Exception {
    CoderProperties.coderDecodeEncodeEqual(RecordMeta.Coder.of(), META);
    CoderProperties.coderDecodeEncodeEqual(
        RecordMeta.Coder.of(), RecordMeta.of("ü-✓", "", 0, null));
    CoderProperties.coderDecodeEncodeEqual(
        RecordMeta.Coder.of(), RecordMeta.of("x", "s", Long.MAX_VALUE, "{}"));
  }

  @Test
  public void rawRecordCoder() throws Exception {
    CoderProperties.coderDecodeEncodeEqual(
        RawRecord.Coder.of(),
        RawRecord.of("/data/in.jsonl", 3, "{\"id\":\"a\",\"text\":\"é\\n\"}"));
    CoderProperties.coderDecodeEncodeEqual(RawRecord.Coder.of(), RawRecord.of("s", 0, ""));
  }

  @Test
  public void batchStatsCoder() throws Exception {
    CoderProperties.coderDecodeEncodeEqual(
        BatchStats.Coder.of(), BatchStats.of(32, 4096, 1234567, "host:1 subtask 2/4"));
    CoderProperties.coderDecodeEncodeEqual(BatchStats.Coder.of(), BatchStats.of(0, 0, 0, ""));
  }

  @Test
  public void failureCoder() throws Exception {
    CoderProperties.coderDecodeEncodeEqual(
        Failure.Coder.of(),
        Failure.of(
            "rec-1", "in.jsonl", 7, Stage.PREPROCESS, "java.lang.X", "bad", "{\"id\":\"rec-1\"}"));
    for (Stage stage : Stage.values()) {
      CoderProperties.coderDecodeEncodeEqual(
          Failure.Coder.of(),
          Failure.of(null, "in.jsonl", 0, stage, new IllegalStateException("boom"), null));
    }
  }

  @Test
  public void predictionCoderWithAnEmbedding() throws Exception {
    Prediction p =
        Prediction.builder(META, MODEL)
            .embedding(new float[] {0.5f, -1f, Float.MIN_VALUE, 3e7f})
            .build();
    CoderProperties.coderDecodeEncodeEqual(Prediction.Coder.of(), p);
    CoderProperties.coderDecodeEncodeEqual(
        Prediction.Coder.of(), Prediction.builder(META, MODEL).embedding(new float[0]).build());
  }

  @Test
  public void predictionCoderWithALabelAndTopK() throws Exception {
    Prediction p =
        Prediction.builder(RecordMeta.of("a", "s", 1, null), MODEL)
            .label("Bag", 8, 0.75f)
            .topK(new String[] {"Bag", "Sandal", "T-shirt/top"}, new float[] {0.75f, 0.2f, 0.05f})
            .build();
    CoderProperties.coderDecodeEncodeEqual(Prediction.Coder.of(), p);
    CoderProperties.coderDecodeEncodeEqual(
        Prediction.Coder.of(), Prediction.builder(META, MODEL).label("only", 0, 1f).build());
  }

  @Test
  public void predictionCoderWithOutputs() throws Exception {
    Map<String, Tensor> outputs = new LinkedHashMap<>();
    outputs.put("logits", Tensor.ofFloats(new float[] {1, 2, 3, 4, 5, 6}, 2, 3));
    outputs.put("ids", Tensor.ofLongs(new long[] {7}));
    Prediction p = Prediction.builder(META, MODEL).outputs(TensorExample.of(outputs)).build();
    CoderProperties.coderDecodeEncodeEqual(Prediction.Coder.of(), p);
    CoderProperties.coderDecodeEncodeEqual(
        Prediction.Coder.of(), Prediction.builder(META, MODEL).build());
  }
}
