package dev.batchinference.pipelines;

import static org.hamcrest.MatcherAssert.assertThat;
import static org.hamcrest.Matchers.containsString;
import static org.hamcrest.Matchers.equalTo;
import static org.hamcrest.Matchers.is;
import static org.hamcrest.Matchers.lessThan;
import static org.hamcrest.Matchers.not;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.batchinference.pipelines.options.BatchInferenceOptions;
import dev.batchinference.transforms.model.ModelFiles;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.stream.Collectors;
import java.util.stream.Stream;
import org.apache.beam.sdk.extensions.gcp.options.GcsOptions;
import org.apache.beam.sdk.testing.TestPipeline;
import org.junit.ClassRule;
import org.junit.Rule;
import org.junit.Test;
import org.junit.rules.TemporaryFolder;
import org.junit.runner.RunWith;
import org.junit.runners.JUnit4;

/**
 * Records that try to steer the job: fields named like options, ids that look like paths and format
 * strings, a huge bad row, and a secret in an option. Locations come only from options, record
 * contents never name a file, and the dead letter and summary stay bounded and clean.
 */
@RunWith(JUnit4.class)
public class HostileInputTest {

  @ClassRule public static final TemporaryFolder TMP = new TemporaryFolder();
  @Rule public final transient TestPipeline pipeline = TestPipeline.create();

  private static final ObjectMapper JSON = new ObjectMapper();

  @Test
  public void recordsCannotSteerTheJobOrFloodTheDeadLetter() throws Exception {
    Path dir = TMP.getRoot().toPath();
    Path elsewhere = TMP.newFolder("elsewhere").toPath();
    StringBuilder in = new StringBuilder();
    for (String id :
        List.of("../../escape", "/tmp/abs", "%s%n%x{}${jndi:ldap://x}", "a\u0000b", "ok")) {
      in.append(
              JSON.createObjectNode()
                  .put("id", id)
                  .put("text", "A perfectly ordinary sentence.")
                  .put("model", elsewhere.resolve("evil.onnx").toString())
                  .put("output", elsewhere.toString())
                  .put("tokenizer", elsewhere.resolve("evil.json").toString())
                  .toString())
          .append('\n');
    }
    // One bad row of a megabyte: it fails, and its failure record is cut.
    in.append("{\"id\":\"huge\",\"text\":").append("[1,".repeat(350_000)).append('\n');
    Path input = Files.writeString(dir.resolve("hostile.jsonl"), in.toString());
    Path out = dir.resolve("out");

    BatchInferenceOptions options = pipeline.getOptions().as(BatchInferenceOptions.class);
    options.setInput(input.toString());
    options.setOutput(out.toString());
    options.setCarryFields(List.of("model", "output"));
    options.setMaxFailureChars(1000);
    options
        .as(GcsOptions.class)
        .setGcsEndpoint("https://user:hunter2-secret@127.0.0.1:1/storage/v1/");
    BatchInference.build(pipeline, options);
    pipeline.run().waitUntilFinish();

    JobOutputs outputs = JobOutputs.read(out);
    assertThat(outputs.predictions.size(), equalTo(5));
    String sha = ModelFiles.sha256(ModelFiles.readAll(options.getModel()));
    for (JsonNode p : outputs.predictions) {
      assertThat(
          "the model is the one the options name", p.get("model_sha256").asText(), equalTo(sha));
      // The record's "output" field is carried as data, nothing more.
      assertThat(p.get("output").asText(), equalTo(elsewhere.toString()));
    }
    try (Stream<Path> files = Files.walk(elsewhere)) {
      assertThat("nothing was written where records pointed", files.count(), equalTo(1L));
    }
    try (Stream<Path> files = Files.list(out)) {
      List<String> names = files.map(f -> f.getFileName().toString()).collect(Collectors.toList());
      for (String name : names) {
        assertThat(name, not(containsString("escape")));
        assertThat(name, not(containsString("%")));
      }
    }
    assertThat(Files.exists(dir.resolve("escape")), is(false));

    JsonNode huge = outputs.failuresByKey().get("#5");
    assertThat(huge.get("stage").asText(), equalTo("parse"));
    assertThat(huge.get("input").asText().length(), lessThan(1100));
    assertThat(huge.get("input").asText(), containsString("[cut: 1050020 characters in all]"));

    String everything =
        Files.readString(out.resolve("summary.json")) + outputs.failures + outputs.predictions;
    assertThat("no secret from the options", everything, not(containsString("hunter2")));
    assertThat(outputs.summary.get("nothing_lost").asBoolean(), is(true));
  }
}
