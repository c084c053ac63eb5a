package dev.batchinference.transforms.preprocess;

import static dev.batchinference.transforms.testing.DisplayItems.hasDisplayItem;
import static org.hamcrest.MatcherAssert.assertThat;
import static org.hamcrest.Matchers.equalTo;
import static org.hamcrest.Matchers.not;
import static org.hamcrest.Matchers.startsWith;

import dev.batchinference.transforms.Failure;
import dev.batchinference.transforms.RecordMeta;
import dev.batchinference.transforms.Stage;
import dev.batchinference.transforms.io.RawRecord;
import dev.batchinference.transforms.model.ModelIdentity;
import dev.batchinference.transforms.model.ModelSignature;
import dev.batchinference.transforms.tensor.Tensor;
import dev.batchinference.transforms.tensor.TensorExample;
import dev.batchinference.transforms.tensor.TensorSpec;
import dev.batchinference.transforms.testing.Metas;
import dev.batchinference.transforms.testing.TestModels;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.apache.beam.sdk.testing.PAssert;
import org.apache.beam.sdk.testing.TestPipeline;
import org.apache.beam.sdk.transforms.Create;
import org.apache.beam.sdk.transforms.display.DisplayData;
import org.apache.beam.sdk.values.KV;
import org.apache.beam.sdk.values.PCollection;
import org.junit.Rule;
import org.junit.Test;
import org.junit.runner.RunWith;
import org.junit.runners.JUnit4;

/** Tests of {@link Preprocess}: ids, carried fields, and parse and preprocess failures. */
@RunWith(JUnit4.class)
public class PreprocessTest {

  @Rule public final transient TestPipeline pipeline = TestPipeline.create();

  private static final String SOURCE = "/data/in.jsonl";
  private static final String INVALID = InvalidRecordException.class.getName();

  private PCollection<RawRecord> lines(String... texts) {
    RawRecord[] records = new RawRecord[texts.length];
    for (int i = 0; i < texts.length; i++) {
      records[i] = RawRecord.of(SOURCE, i, texts[i]);
    }
    return pipeline.apply(Create.of(List.of(records)).withCoder(RawRecord.Coder.of()));
  }

  @Test
  public void theContentHashIsTheSha256OfTheRecordAsRead() {
    String line = "{\"id\":\"a\",\"features\":[1]}";
    Preprocess.Result<TensorExample> result =
        lines(line).apply(Preprocess.with(FeatureVector.of("input", 1)).withIdField("id"));
    PAssert.that(result.examples())
        .containsInAnyOrder(
            KV.of(
                RecordMeta.of(
                    "a",
                    SOURCE,
                    0,
                    null,
                    dev.batchinference.transforms.model.ModelFiles.sha256(
                        line.getBytes(java.nio.charset.StandardCharsets.UTF_8))),
                features(1)));
    pipeline.run().waitUntilFinish();
  }

  private static TensorExample features(float... values) {
    return TensorExample.of("input", Tensor.vector(values));
  }

  private static Failure failure(String id, long index, Stage stage, String message, String input) {
    return Failure.of(id, SOURCE, index, stage, INVALID, message, input);
  }

  @Test
  public void idsComeFromAStringOrIntegerField() {
    Preprocess.Result<TensorExample> result =
        lines(
                "{\"id\":\"a\",\"features\":[1,2,3]}",
                "{\"features\":[4,5,6],\"id\":42}",
                "{\"id\":-7,\"features\":[\"0.5\",\" 1e-3 \",0]}")
            .apply(Preprocess.with(FeatureVector.of("input", 3)).withIdField("id"));
    PAssert.that(Metas.withoutHashes(result.examples()))
        .containsInAnyOrder(
            KV.of(RecordMeta.of("a", SOURCE, 0, null), features(1, 2, 3)),
            KV.of(RecordMeta.of("42", SOURCE, 1, null), features(4, 5, 6)),
            KV.of(RecordMeta.of("-7", SOURCE, 2, null), features(0.5f, 1e-3f, 0)));
    PAssert.that(result.failures()).empty();
    pipeline.run().waitUntilFinish();
  }

  @Test
  public void withoutAnIdFieldIdsAreSourceAndIndex() {
    Preprocess.Result<TensorExample> result =
        lines("{\"id\":\"ignored\",\"features\":[1]}", "{\"features\":[2]}")
            .apply(Preprocess.with(FeatureVector.of("input", 1)));
    PAssert.that(Metas.withoutHashes(result.examples()))
        .containsInAnyOrder(
            KV.of(RecordMeta.of(SOURCE + ":0", SOURCE, 0, null), features(1)),
            KV.of(RecordMeta.of(SOURCE + ":1", SOURCE, 1, null), features(2)));
    pipeline.run().waitUntilFinish();
  }

  @Test
  public void withCarryFieldsCopiesFieldsAndNullsForMissingOnes() {
    Preprocess.Result<TensorExample> result =
        lines(
                "{\"id\":\"a\",\"label\":\"Bag\",\"meta\":{\"k\":[1,2]},\"features\":[1]}",
                "{\"id\":\"b\",\"features\":[2],\"label\":null}")
            .apply(
                Preprocess.with(FeatureVector.of("input", 1))
                    .withIdField("id")
                    .withCarryFields(List.of("label", "meta")));
    PAssert.that(Metas.withoutHashes(result.examples()))
        .containsInAnyOrder(
            KV.of(
                RecordMeta.of("a", SOURCE, 0, "{\"label\":\"Bag\",\"meta\":{\"k\":[1,2]}}"),
                features(1)),
            KV.of(RecordMeta.of("b", SOURCE, 1, "{\"label\":null,\"meta\":null}"), features(2)));
    pipeline.run().waitUntilFinish();
  }

  @Test
  public void recordsThatAreNotIdentifiableObjectsAreParseFailures() {
    String[] lines = {
      "{\"id\":\"a\",\"features\":[1]",
      "[{\"id\":\"a\"}]",
      "{\"id\":\"a\",\"id\":\"b\",\"features\":[1]}",
      "{\"features\":[1]}",
      "{\"id\":{\"n\":1},\"features\":[1]}",
      "{\"id\":\"\",\"features\":[1]}",
      "{\"id\":1.5,\"features\":[1]}",
      "{\"id\":\"x\",\"features\":[1]} {\"id\":\"y\",\"features\":[2]}",
      "{\"id\":\"ok\",\"features\":[1]}"
    };
    Preprocess.Result<TensorExample> result =
        lines(lines).apply(Preprocess.with(FeatureVector.of("input", 1)).withIdField("id"));
    PAssert.that(Metas.withoutHashes(result.examples()))
        .containsInAnyOrder(KV.of(RecordMeta.of("ok", SOURCE, 8, null), features(1)));
    PAssert.that(result.failures())
        .satisfies(
            failures -> {
              Map<Long, Failure> byIndex = new HashMap<>();
              failures.forEach(f -> byIndex.put(f.index(), f));
              assertThat("failures", byIndex.size(), equalTo(8));
              for (Failure f : failures) {
                assertThat("stage of " + f, f.stage(), equalTo(Stage.PARSE));
                assertThat("id of " + f, f.id(), equalTo(null));
                assertThat("error class of " + f, f.errorClass(), equalTo(INVALID));
                assertThat("input of " + f, f.input(), equalTo(lines[(int) f.index()]));
              }
              assertThat(
                  byIndex.get(0L).message(), startsWith("not valid JSON: Unexpected end-of-input"));
              assertThat(byIndex.get(1L).message(), equalTo("expected a JSON object, got array"));
              assertThat(
                  byIndex.get(2L).message(), equalTo("not valid JSON: Duplicate field 'id'"));
              assertThat(byIndex.get(3L).message(), equalTo("record has no id field 'id'"));
              assertThat(
                  byIndex.get(4L).message(),
                  equalTo("id field 'id' must be a non-empty string or an integer, got {\"n\":1}"));
              assertThat(
                  byIndex.get(5L).message(),
                  equalTo("id field 'id' must be a non-empty string or an integer, got \"\""));
              assertThat(
                  byIndex.get(6L).message(),
                  equalTo("id field 'id' must be a non-empty string or an integer, got 1.5"));
              assertThat(byIndex.get(7L).message(), startsWith("not valid JSON: Trailing token"));
              return null;
            });
    pipeline.run().waitUntilFinish();
  }

  @Test
  public void textTheTokenizerRejectsIsAPreprocessFailure() {
    String[] lines = {
      "{\"id\":\"missing\"}",
      "{\"id\":\"number\",\"text\":12}",
      "{\"id\":\"blank\",\"text\":\" \\n\\t\"}",
      "{\"id\":\"ok\",\"text\":\"Hello world\"}"
    };
    Preprocess.Result<TensorExample> result =
        lines(lines)
            .apply(
                Preprocess.with(TextTokenizer.of(TestModels.MINILM_TOKENIZER)).withIdField("id"));
    PAssert.that(result.failures())
        .containsInAnyOrder(
            failure("missing", 0, Stage.PREPROCESS, "record has no 'text' field", lines[0]),
            failure(
                "number",
                1,
                Stage.PREPROCESS,
                "field 'text' must be a string, got number",
                lines[1]),
            failure("blank", 2, Stage.PREPROCESS, "field 'text' is empty", lines[2]));
    PAssert.that(Metas.withoutHashes(result.examples()))
        .containsInAnyOrder(
            KV.of(
                RecordMeta.of("ok", SOURCE, 3, null),
                TextTokenizerTest.tokens(new long[] {101, 7592, 2088, 102})));
    pipeline.run().waitUntilFinish();
  }

  @Test
  public void featuresTheVectorRejectsArePreprocessFailures() {
    String[] lines = {
      "{\"id\":\"short\",\"features\":[1,2]}",
      "{\"id\":\"nan\",\"features\":[1,\"NaN\",3]}",
      "{\"id\":\"word\",\"features\":[1,2,\"three\"]}",
      "{\"id\":\"nested\",\"features\":[1,{\"v\":2},3]}",
      "{\"id\":\"scalar\",\"features\":1}",
      "{\"id\":\"infinite\",\"features\":[1,2,1e39]}",
      "{\"id\":\"none\"}"
    };
    Preprocess.Result<TensorExample> result =
        lines(lines).apply(Preprocess.with(FeatureVector.of("input", 3)).withIdField("id"));
    PAssert.that(result.failures())
        .containsInAnyOrder(
            failure(
                "short",
                0,
                Stage.PREPROCESS,
                "field 'features' has 2 values; the model takes 3",
                lines[0]),
            failure(
                "nan",
                1,
                Stage.PREPROCESS,
                "features[1] is NaN; features must be finite",
                lines[1]),
            failure(
                "word", 2, Stage.PREPROCESS, "features[2] is not a number: \"three\"", lines[2]),
            failure(
                "nested",
                3,
                Stage.PREPROCESS,
                "features[1] must be a number, got object",
                lines[3]),
            failure(
                "scalar",
                4,
                Stage.PREPROCESS,
                "field 'features' must be an array of numbers, got number",
                lines[4]),
            failure(
                "infinite",
                5,
                Stage.PREPROCESS,
                "features[2] is Infinity; features must be finite",
                lines[5]),
            failure("none", 6, Stage.PREPROCESS, "record has no 'features' field", lines[6]));
    PAssert.that(Metas.withoutHashes(result.examples())).empty();
    pipeline.run().waitUntilFinish();
  }

  @Test
  public void tensorsTheRawPreprocessorRejectsArePreprocessFailures() {
    ModelSignature signature =
        ModelSignature.of(
            ModelIdentity.of("points", "0".repeat(64)),
            0,
            Map.of("points", TensorSpec.of(Tensor.DType.FLOAT, -1, -1, 2)),
            Map.of());
    String[] lines = {
      "{\"id\":\"ragged\",\"points\":[[1,2],[3]]}",
      "{\"id\":\"wide\",\"points\":[[1,2,3]]}",
      "{\"id\":\"flat\",\"points\":[1,2]}",
      "{\"id\":\"ok\",\"points\":[[1,2],[3,4],[5,6]]}"
    };
    Preprocess.Result<TensorExample> result =
        lines(lines).apply(Preprocess.with(RawTensors.forModel(signature)).withIdField("id"));
    PAssert.that(result.failures())
        .containsInAnyOrder(
            failure(
                "ragged",
                0,
                Stage.PREPROCESS,
                "field 'points' is ragged: expected 2 elements at depth 1, got 1",
                lines[0]),
            failure(
                "wide",
                1,
                Stage.PREPROCESS,
                "field 'points' has shape [1, 3]; the model input is FLOAT[-1, -1, 2] (with the batch dimension)",
                lines[1]),
            failure(
                "flat",
                2,
                Stage.PREPROCESS,
                "field 'points' has shape [2]; the model input is FLOAT[-1, -1, 2] (with the batch dimension)",
                lines[2]));
    PAssert.that(Metas.withoutHashes(result.examples()))
        .containsInAnyOrder(
            KV.of(
                RecordMeta.of("ok", SOURCE, 3, null),
                TensorExample.of("points", Tensor.ofFloats(new float[] {1, 2, 3, 4, 5, 6}, 3, 2))));
    pipeline.run().waitUntilFinish();
  }

  @Test
  public void displayDataShowsThePreprocessorAndFields() {
    DisplayData data =
        DisplayData.from(
            Preprocess.with(FeatureVector.of("input", 3))
                .withIdField("id")
                .withCarryFields(List.of("label", "split")));
    assertThat(data, hasDisplayItem("preprocessor", FeatureVector.class));
    assertThat(data, hasDisplayItem("idField", "id"));
    assertThat(data, hasDisplayItem("carryFields", "label,split"));

    DisplayData defaults = DisplayData.from(Preprocess.with(FeatureVector.of("input", 3)));
    assertThat(defaults, not(hasDisplayItem("idField")));
    assertThat(defaults, not(hasDisplayItem("carryFields")));
  }
}
