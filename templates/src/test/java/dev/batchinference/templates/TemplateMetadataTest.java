package dev.batchinference.templates;

import static org.hamcrest.MatcherAssert.assertThat;
import static org.hamcrest.Matchers.containsString;
import static org.hamcrest.Matchers.empty;
import static org.hamcrest.Matchers.equalTo;
import static org.hamcrest.Matchers.hasItems;
import static org.hamcrest.Matchers.is;
import static org.hamcrest.Matchers.notNullValue;
import static org.junit.Assert.assertThrows;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.batchinference.pipelines.options.BatchInferenceOptions;
import dev.batchinference.pipelines.options.TemplateParameter;
import dev.batchinference.transforms.io.WritePostgres;
import java.lang.reflect.Method;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.Set;
import java.util.TreeSet;
import java.util.regex.Pattern;
import org.apache.beam.model.jobmanagement.v1.JobApi;
import org.apache.beam.sdk.options.Description;
import org.apache.beam.sdk.options.PipelineOptions;
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

  /** Names around the edges of what the job takes as a PostgreSQL table. */
  private static final List<String> TABLE_NAMES =
      List.of(
          "predictions",
          "public.predictions",
          "_t1",
          "Predictions_2024",
          "_",
          "a1.b2",
          "x".repeat(63),
          "s." + "x".repeat(63),
          "a.b.c",
          "1abc",
          "public.1abc",
          "my-table",
          "",
          ".",
          "a.",
          ".a",
          "a..b",
          "x".repeat(64),
          "a b",
          "t;drop",
          "\"quoted\"",
          "proj:ds.t",
          "schéma.t");

  @Test
  public void postgresTableParametersAcceptExactlyTheNamesTheJobAccepts() throws Exception {
    List<String> names = new ArrayList<>(TABLE_NAMES);
    // And strings made of the characters that decide, in every order.
    Random random = new Random(14);
    String alphabet = "aZ_9.-: ";
    for (int i = 0; i < 5000; i++) {
      StringBuilder name = new StringBuilder();
      for (int n = random.nextInt(7); n > 0; n--) {
        name.append(alphabet.charAt(random.nextInt(alphabet.length())));
      }
      names.add(name.toString());
    }
    for (String option : List.of("predictionsDbTable", "failuresDbTable")) {
      Pattern regex = regex(option);
      for (String name : names) {
        assertThat(
            option + " template regex on '" + name + "' (the job's WritePostgres.isTableName)",
            regex.matcher(name).matches(),
            equalTo(WritePostgres.isTableName(name)));
      }
    }
  }

  /** Whole numbers as people write them; the job takes each. */
  private static final List<String> WHOLE_NUMBERS = List.of("0", "7", "32", "8388608", "007");

  /** Decimals as people write them; the job takes each (the thresholds turn off below 0). */
  private static final List<String> DECIMALS =
      List.of("0", "1", "0.25", ".5", "5.", "-1", "-0.5", "+1", "1e-3", "1E3", "2.5e+2");

  /** Not numbers: the job refuses each, so the template does too. */
  private static final List<String> GARBAGE =
      List.of("", "abc", "1,5", "0.1.2", "--1", "1e", "e3", "0x10", "twelve", "1 000");

  /**
   * Java's own spellings of a double, which the job takes: the template refuses them, as no
   * threshold anyone means is written so.
   */
  private static final List<String> ONLY_THE_JOB_TAKES =
      List.of("NaN", "Infinity", "-Infinity", "1d", "1f", " 1");

  @Test
  public void numericParametersAcceptTheNumbersTheJobAcceptsAndRefuseGarbage() throws Exception {
    Random random = new Random(14);
    List<String> numberish = new ArrayList<>();
    for (int i = 0; i < 2000; i++) {
      StringBuilder s = new StringBuilder();
      for (int n = 1 + random.nextInt(6); n > 0; n--) {
        s.append("0123456789.eE+-".charAt(random.nextInt(15)));
      }
      numberish.add(s.toString());
    }
    Set<String> checked = new TreeSet<>();
    for (String name : optionNames()) {
      Class<?> type = getter(name).getReturnType();
      boolean decimal = type == double.class || type == Double.class;
      boolean whole =
          type == int.class || type == long.class || type == Integer.class || type == Long.class;
      if (!decimal && !whole) {
        continue;
      }
      checked.add(name);
      Pattern regex = regex(name);
      for (String value : decimal ? DECIMALS : WHOLE_NUMBERS) {
        assertThat(name + "=" + value + " by the job", jobTakes(name, value), is(true));
        assertThat(
            name + "=" + value + " by the template", regex.matcher(value).matches(), is(true));
      }
      for (String value : GARBAGE) {
        assertThat(name + "=" + value + " by the job", jobTakes(name, value), is(false));
        assertThat(
            name + "=" + value + " by the template", regex.matcher(value).matches(), is(false));
      }
      if (decimal) {
        for (String value : ONLY_THE_JOB_TAKES) {
          assertThat(name + "=" + value + " by the job", jobTakes(name, value), is(true));
          assertThat(
              name + "=" + value + " by the template", regex.matcher(value).matches(), is(false));
        }
      }
      // Whatever the template lets through, the job can read.
      for (String value : numberish) {
        if (regex.matcher(value).matches()) {
          assertThat(name + "=" + value + " passes the template", jobTakes(name, value), is(true));
        }
      }
    }
    assertThat(
        "numeric options checked",
        checked,
        hasItems(
            "maxBatchWeight",
            "batchSize",
            "maxFailureRate",
            "maxPsi",
            "maxScoreShift",
            "maxCentroidShift",
            "maxFailureRateIncrease",
            "maxThroughputDrop"));
  }

  @Test
  public void everyOptionTheTemplateExposesDeclaresItsParameter() throws Exception {
    Set<String> options = optionNames();
    options.remove("bigQueryServices"); // @Hidden, for tests: not a template parameter.
    Set<String> undeclared = new TreeSet<>();
    for (String name : options) {
      if (!getter(name).isAnnotationPresent(TemplateParameter.class)) {
        undeclared.add(name);
      }
    }
    assertThat("options without @TemplateParameter", undeclared, empty());
  }

  /** An option whose template parameter nobody declared, named as if it were a BigQuery table. */
  public interface UndeclaredOptions extends PipelineOptions {
    @Description("Some table.")
    String getSomethingTable();

    void setSomethingTable(String value);
  }

  /** An option that declares a kind its type cannot hold. */
  public interface MisdeclaredOptions extends PipelineOptions {
    @Description("A label, declared a number.")
    @TemplateParameter(TemplateParameter.Kind.WHOLE_NUMBER)
    String getBatchLabel();

    void setBatchLabel(String value);
  }

  @Test
  public void anOptionWithoutADeclaredParameterIsAnErrorNotAGuess() {
    IllegalStateException undeclared =
        assertThrows(
            IllegalStateException.class, () -> TemplateMetadata.metadata(UndeclaredOptions.class));
    assertThat(undeclared.getMessage(), containsString("getSomethingTable"));
    IllegalStateException misdeclared =
        assertThrows(
            IllegalStateException.class, () -> TemplateMetadata.metadata(MisdeclaredOptions.class));
    assertThat(misdeclared.getMessage(), containsString("getBatchLabel returns String"));
  }

  /** Whether the job's own parser takes {@code --name=value}. */
  private static boolean jobTakes(String name, String value) throws Exception {
    try {
      BatchInferenceOptions options =
          PipelineOptionsFactory.fromArgs("--" + name + "=" + value)
              .as(BatchInferenceOptions.class);
      getter(name).invoke(options);
      return true;
    } catch (IllegalArgumentException e) {
      return false;
    }
  }

  private static Method getter(String name) throws NoSuchMethodException {
    return BatchInferenceOptions.class.getMethod(
        "get" + Character.toUpperCase(name.charAt(0)) + name.substring(1));
  }

  private static Pattern regex(String name) throws Exception {
    JsonNode regexes = parameter(name).get("regexes");
    assertThat(name + " has a regex", regexes, notNullValue());
    return Pattern.compile(regexes.get(0).asText());
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
