package dev.batchinference.templates;

import static org.hamcrest.MatcherAssert.assertThat;
import static org.hamcrest.Matchers.empty;
import static org.hamcrest.Matchers.equalTo;
import static org.hamcrest.Matchers.is;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.batchinference.pipelines.options.BatchInferenceOptions;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.Set;
import java.util.TreeSet;
import java.util.regex.Pattern;
import org.apache.beam.model.jobmanagement.v1.JobApi;
import org.apache.beam.sdk.options.PipelineOptionsFactory;
import org.junit.Test;
import org.junit.runner.RunWith;
import org.junit.runners.JUnit4;

/** The committed Flex Template metadata names every option of the job, and nothing else. */
@RunWith(JUnit4.class)
public class TemplateMetadataTest {

  private static final ObjectMapper JSON = new ObjectMapper();
  private static final Path FILE = Paths.get(System.getProperty("metadataFile", "metadata.json"));

  private static JsonNode committed() throws Exception {
    return JSON.readTree(Files.readString(FILE, StandardCharsets.UTF_8));
  }

  /** The job's options as Beam itself describes them (not through the generator). */
  private static Set<String> optionNames() {
    Set<String> names = new TreeSet<>();
    for (JobApi.PipelineOptionDescriptor d :
        PipelineOptionsFactory.describe(Set.of(BatchInferenceOptions.class))) {
      // The job's options come in groups, one per interface it is composed of; Beam's are not.
      if (d.getGroup().startsWith("dev.batchinference.")) {
        names.add(camelCase(d.getName()));
      }
    }
    return names;
  }

  /** Beam describes options in snake case (batch_size); the command line uses batchSize. */
  private static String camelCase(String snake) {
    StringBuilder b = new StringBuilder();
    boolean upper = false;
    for (char c : snake.toCharArray()) {
      if (c == '_') {
        upper = true;
      } else {
        b.append(upper ? Character.toUpperCase(c) : c);
        upper = false;
      }
    }
    return b.toString();
  }

  @Test
  public void everyOptionIsAParameterAndEveryParameterAnOption() throws Exception {
    Set<String> parameters = new TreeSet<>();
    for (JsonNode p : committed().get("parameters")) {
      parameters.add(p.get("name").asText());
    }
    Set<String> options = optionNames();
    options.remove("bigQueryServices"); // @Hidden, for tests: not settable from a command line.
    Set<String> missing = new TreeSet<>(options);
    missing.removeAll(parameters);
    Set<String> unknown = new TreeSet<>(parameters);
    unknown.removeAll(options);
    assertThat(
        "options without a template parameter (all options: " + options + ")", missing, empty());
    assertThat("template parameters that name no option", unknown, empty());
  }

  @Test
  public void theCommittedFileIsTheGeneratedOne() throws Exception {
    assertThat(
        "templates/metadata.json is stale: run mvn -q -pl templates exec:java",
        Files.readString(FILE, StandardCharsets.UTF_8),
        equalTo(TemplateMetadata.render()));
  }

  @Test
  public void parametersHaveLabelsHelpAndValidRegexes() throws Exception {
    for (JsonNode p : committed().get("parameters")) {
      String name = p.get("name").asText();
      assertThat(name + " label", p.get("label").asText().isEmpty(), is(false));
      assertThat(name + " help", p.get("helpText").asText().length() > 10, is(true));
      assertThat(name + " optional", p.get("isOptional").asBoolean(), is(true));
      if (p.has("regexes")) {
        for (JsonNode regex : p.get("regexes")) {
          Pattern.compile(regex.asText());
        }
      }
      if (p.has("enumOptions")) {
        Pattern regex = Pattern.compile(p.get("regexes").get(0).asText());
        for (JsonNode option : p.get("enumOptions")) {
          assertThat(
              name + " enum value",
              regex.matcher(option.get("value").asText()).matches(),
              is(true));
        }
      }
    }
    JsonNode table = parameter("outputTable");
    Pattern tableRegex = Pattern.compile(table.get("regexes").get(0).asText());
    assertThat(tableRegex.matcher("my-project:nightly.embeddings").matches(), is(true));
    assertThat(tableRegex.matcher("nightly.embeddings").matches(), is(true));
    assertThat(tableRegex.matcher("embeddings").matches(), is(false));
    Pattern buckets = Pattern.compile(parameter("lengthBuckets").get("regexes").get(0).asText());
    assertThat(buckets.matcher("32,64,128").matches(), is(true));
    assertThat(buckets.matcher("32,,64").matches(), is(false));
  }

  private static JsonNode parameter(String name) throws Exception {
    for (JsonNode p : committed().get("parameters")) {
      if (p.get("name").asText().equals(name)) {
        return p;
      }
    }
    throw new AssertionError("no parameter " + name);
  }
}
