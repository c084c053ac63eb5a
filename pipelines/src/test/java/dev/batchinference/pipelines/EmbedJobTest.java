package dev.batchinference.pipelines;

import static org.hamcrest.MatcherAssert.assertThat;
import static org.hamcrest.Matchers.allOf;
import static org.hamcrest.Matchers.closeTo;
import static org.hamcrest.Matchers.containsString;
import static org.hamcrest.Matchers.equalTo;
import static org.hamcrest.Matchers.greaterThan;
import static org.hamcrest.Matchers.hasKey;
import static org.hamcrest.Matchers.is;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.batchinference.pipelines.options.BatchInferenceOptions;
import dev.batchinference.transforms.Prediction;
import dev.batchinference.transforms.RecordMeta;
import dev.batchinference.transforms.model.LoadedModel;
import dev.batchinference.transforms.model.ModelIdentity;
import dev.batchinference.transforms.onnx.OnnxModelHandler;
import dev.batchinference.transforms.postprocess.MeanPooledEmbedding;
import dev.batchinference.transforms.preprocess.TextTokenizer;
import dev.batchinference.transforms.tensor.TensorExample;
import dev.batchinference.transforms.testing.Fortunes;
import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.apache.beam.sdk.testing.TestPipeline;
import org.junit.BeforeClass;
import org.junit.ClassRule;
import org.junit.Rule;
import org.junit.Test;
import org.junit.rules.TemporaryFolder;
import org.junit.runner.RunWith;
import org.junit.runners.JUnit4;

/** The embedding job end to end on the DirectRunner: real fortunes, MiniLM, and bad records. */
@RunWith(JUnit4.class)
public class EmbedJobTest {

  @ClassRule public static final TemporaryFolder TMP = new TemporaryFolder();
  @Rule public final transient TestPipeline pipeline = TestPipeline.create();

  private static final ObjectMapper JSON = new ObjectMapper();
  private static List<Fortunes.Fortune> fortunes;
  private static Path input;

  /** Bad records appended after the fortunes: line text, then the expected stage and message. */
  private static final String[][] BAD = {
    {"not json at all", "parse", "not valid JSON"},
    {"{\"id\":\"no-text\",\"category\":\"x\"}", "preprocess", "record has no 'text' field"},
    {"{\"id\":\"blank\",\"text\":\"   \"}", "preprocess", "field 'text' is empty"},
    {"{\"id\":\"number\",\"text\":42}", "preprocess", "field 'text' must be a string, got number"},
    {"[1,2,3]", "parse", "expected a JSON object, got array"},
    {"{\"text\":\"a text without id\"}", "parse", "record has no id field 'id'"},
    {"{\"id\":\"dup\",\"id\":\"dup2\",\"text\":\"x\"}", "parse", "Duplicate field 'id'"},
  };

  @BeforeClass
  public static void writeInput() throws Exception {
    fortunes = Fortunes.load(3);
    input = TMP.getRoot().toPath().resolve("texts.jsonl");
    Fortunes.writeJsonLines(input, fortunes);
    ByteArrayOutputStream bytes = new ByteArrayOutputStream();
    bytes.write(Files.readAllBytes(input));
    for (String[] bad : BAD) {
      bytes.write((bad[0] + "\n").getBytes(StandardCharsets.UTF_8));
    }
    bytes.write("\n".getBytes(StandardCharsets.UTF_8)); // a blank line is not a record
    bytes.write(
        new byte[] {'{', '"', 'i', 'd', '"', ':', '"', (byte) 0xC3, (byte) 0x28, '"', '}', '\n'});
    Files.write(input, bytes.toByteArray());
  }

  @Test
  public void embedsEveryGoodRecordAndReportsEveryBadOne() throws Exception {
    Path out = TMP.newFolder("embed").toPath();
    BatchInferenceOptions options = pipeline.getOptions().as(BatchInferenceOptions.class);
    options.setInput(input.toString());
    options.setOutput(out.toString());
    options.setCarryFields(List.of("category"));
    options.setBatchSize(16);
    BatchInference.build(pipeline, options);
    pipeline.run().waitUntilFinish();

    JobOutputs outputs = JobOutputs.read(out);
    Map<String, JsonNode> predictions = outputs.predictionsById();
    assertThat("one prediction per fortune", predictions.size(), equalTo(fortunes.size()));
    for (Fortunes.Fortune f : fortunes) {
      assertThat(predictions, hasKey(f.id()));
      JsonNode p = predictions.get(f.id());
      assertThat("carried field of " + f.id(), p.get("category").asText(), equalTo(f.category()));
      assertThat(p.get("source").asText(), equalTo(input.toString()));
      assertThat(p.get("model_name").asText(), equalTo("all-minilm-l6-v2-q"));
      JsonNode embedding = p.get("embedding");
      assertThat(embedding.size(), equalTo(384));
      double norm = 0;
      for (JsonNode v : embedding) {
        norm += v.asDouble() * v.asDouble();
      }
      assertThat("embedding of " + f.id() + " is normalised", Math.sqrt(norm), closeTo(1.0, 1e-4));
    }

    int firstBadIndex = fortunes.size();
    List<JsonNode> failures = outputs.failures;
    assertThat(failures.size(), equalTo(BAD.length + 1));
    for (int i = 0; i < BAD.length; i++) {
      long index = firstBadIndex + i;
      JsonNode f =
          failures.stream().filter(x -> x.get("index").asLong() == index).findFirst().orElseThrow();
      assertThat("stage of bad line " + i, f.get("stage").asText(), equalTo(BAD[i][1]));
      assertThat("message of bad line " + i, f.get("error").asText(), containsString(BAD[i][2]));
      assertThat(
          "bad line " + i + " is kept for replay", f.get("input").asText(), equalTo(BAD[i][0]));
    }
    long utf8Index = firstBadIndex + BAD.length + 1;
    JsonNode utf8 =
        failures.stream()
            .filter(x -> x.get("index").asLong() == utf8Index)
            .findFirst()
            .orElseThrow();
    assertThat(utf8.get("stage").asText(), equalTo("read"));
    assertThat(utf8.get("error").asText(), equalTo("line is not valid UTF-8"));

    JsonNode summary = outputs.summary;
    assertThat(
        summary.get("records_read").asLong(), equalTo((long) fortunes.size() + BAD.length + 1));
    assertThat(summary.get("predictions").asLong(), equalTo((long) fortunes.size()));
    assertThat(summary.get("nothing_lost").asBoolean(), is(true));
    assertThat(summary.get("failures_by_stage").get("parse").asLong(), equalTo(4L));
    assertThat(summary.get("failures_by_stage").get("preprocess").asLong(), equalTo(3L));
    assertThat(summary.get("failures_by_stage").get("read").asLong(), equalTo(1L));
    assertThat(summary.get("batches").asLong(), greaterThan((long) fortunes.size() / 16 - 1));
    assertThat(
        summary.get("prediction_distribution").get("embedding_norm").get("mean").asDouble(),
        closeTo(1.0, 1e-3));
  }

  @Test
  public void embeddingsMatchTheModelRunOnEachTextAlone() throws Exception {
    Path out = TMP.newFolder("alone").toPath();
    BatchInferenceOptions options = pipeline.getOptions().as(BatchInferenceOptions.class);
    options.setInput(input.toString());
    options.setOutput(out.toString());
    options.setBatchSize(32);
    options.setSingleOutputFile(true);
    BatchInference.build(pipeline, options);
    pipeline.run().waitUntilFinish();
    Map<String, JsonNode> predictions = JobOutputs.read(out).predictionsById();
    assertThat(Files.exists(out.resolve("predictions.jsonl")), is(true));

    TextTokenizer tokenizer = TextTokenizer.of("classpath:all-minilm-l6-v2-q-tokenizer.json");
    tokenizer.setup();
    OnnxModelHandler handler =
        OnnxModelHandler.of("classpath:all-minilm-l6-v2-q.onnx")
            .withOutputs(List.of("last_hidden_state"));
    try (LoadedModel<TensorExample, TensorExample> model = handler.load()) {
      for (Fortunes.Fortune f : fortunes.subList(0, 12)) {
        TensorExample example = tokenizer.apply(JSON.createObjectNode().put("text", f.text()));
        TensorExample output = model.run(List.of(example)).get(0);
        Prediction.Builder alone =
            Prediction.builder(RecordMeta.of(f.id(), "-", 0, null), ModelIdentity.of("m", "0"));
        MeanPooledEmbedding.of().fill(example, output, alone);
        float[] expected = alone.build().embedding();
        JsonNode actual = predictions.get(f.id()).get("embedding");
        double cosine = 0;
        for (int d = 0; d < expected.length; d++) {
          cosine += expected[d] * actual.get(d).asDouble();
        }
        // int8 activations are quantized per batch: the same text in another batch differs a
        // little.
        assertThat("cosine of " + f.id() + " batched vs alone", cosine, allOf(greaterThan(0.97)));
      }
    } finally {
      tokenizer.teardown();
    }
  }
}
