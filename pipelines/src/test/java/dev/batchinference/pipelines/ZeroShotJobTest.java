package dev.batchinference.pipelines;

import static org.hamcrest.MatcherAssert.assertThat;
import static org.hamcrest.Matchers.containsString;
import static org.hamcrest.Matchers.equalTo;
import static org.hamcrest.Matchers.greaterThan;
import static org.hamcrest.Matchers.is;

import com.fasterxml.jackson.databind.JsonNode;
import dev.batchinference.pipelines.options.BatchInferenceOptions;
import dev.batchinference.transforms.testing.Fortunes;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.List;
import java.util.Set;
import java.util.stream.Collectors;
import org.apache.beam.sdk.testing.TestPipeline;
import org.junit.ClassRule;
import org.junit.Rule;
import org.junit.Test;
import org.junit.rules.TemporaryFolder;
import org.junit.runner.RunWith;
import org.junit.runners.JUnit4;

/**
 * Zero-shot labels on a corpus with known categories: fortunes of ten topics (one topic per fortune
 * file), labelled by the closest topic description (src/samples/fortune-topics.txt).
 */
@RunWith(JUnit4.class)
public class ZeroShotJobTest {

  @ClassRule public static final TemporaryFolder TMP = new TemporaryFolder();
  @Rule public final transient TestPipeline pipeline = TestPipeline.create();

  private static final Path TOPICS =
      Paths.get(System.getProperty("user.dir"))
          .getParent()
          .resolve("src/samples/fortune-topics.txt");

  @Test
  public void labelsFortunesByTopicFarAboveChance() throws Exception {
    List<String> topics =
        Files.readAllLines(TOPICS).stream()
            .filter(l -> !l.isBlank())
            .map(l -> l.substring(0, l.indexOf(':')))
            .collect(Collectors.toList());
    Set<String> wanted = Set.copyOf(topics);
    List<Fortunes.Fortune> fortunes =
        Fortunes.load(30).stream()
            .filter(f -> wanted.contains(f.category()))
            .collect(Collectors.toList());
    Path input = TMP.getRoot().toPath().resolve("topics.jsonl");
    Fortunes.writeJsonLines(input, fortunes);
    Path out = TMP.newFolder("out").toPath();

    BatchInferenceOptions options = pipeline.getOptions().as(BatchInferenceOptions.class);
    options.setInput(input.toString());
    options.setOutput(out.toString());
    options.setCarryFields(List.of("category"));
    options.setZeroShotLabels(TOPICS.toString());
    options.setTopK(3);
    BatchInference.build(pipeline, options);
    pipeline.run().waitUntilFinish();

    JobOutputs outputs = JobOutputs.read(out);
    assertThat(outputs.predictions.size(), equalTo(fortunes.size()));
    int top1 = 0;
    int top3 = 0;
    for (JsonNode p : outputs.predictions) {
      String truth = p.get("category").asText();
      assertThat(p.get("embedding").size(), equalTo(384));
      assertThat(topics.contains(p.get("label").asText()), is(true));
      JsonNode topK = p.get("top_k");
      assertThat(topK.size(), equalTo(3));
      assertThat(topK.get(0).get("score").asDouble(), equalTo(p.get("score").asDouble()));
      top1 += truth.equals(p.get("label").asText()) ? 1 : 0;
      for (JsonNode k : topK) {
        top3 += truth.equals(k.get("label").asText()) ? 1 : 0;
      }
    }
    double accuracy = top1 / (double) fortunes.size();
    double top3Accuracy = top3 / (double) fortunes.size();
    double chance = 1.0 / topics.size();
    System.out.printf(
        "zero-shot on %d fortunes, %d topics: top-1 %.3f, top-3 %.3f (chance %.3f, %.3f)%n",
        fortunes.size(), topics.size(), accuracy, top3Accuracy, chance, 3 * chance);
    assertThat("top-1 accuracy well above chance", accuracy, greaterThan(2.5 * chance));
    assertThat(top3Accuracy, greaterThan(accuracy));
    assertThat(
        outputs.summary.get("prediction_distribution").get("class_counts").toString(),
        containsString("computers"));
  }
}
