package dev.batchinference.templates;

import static org.hamcrest.MatcherAssert.assertThat;
import static org.hamcrest.Matchers.containsString;
import static org.hamcrest.Matchers.equalTo;
import static org.hamcrest.Matchers.is;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.BufferedWriter;
import java.io.File;
import java.nio.charset.StandardCharsets;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.Rule;
import org.junit.Test;
import org.junit.rules.TemporaryFolder;
import org.junit.runner.RunWith;
import org.junit.runners.JUnit4;

/**
 * Runs the job the way the Flex Template launcher does: {@code java -cp
 * $FLEX_TEMPLATE_JAVA_CLASSPATH $FLEX_TEMPLATE_JAVA_MAIN_CLASS}, with the environment the container
 * file sets, the launcher's own options (project, region, job name, staging and temp locations,
 * labels, service account) and the template parameters as {@code --name=value}, but with {@code
 * --runner=DirectRunner} instead of Dataflow. The bundled jar stands in for the container's copy of
 * it.
 */
@RunWith(JUnit4.class)
public class LauncherTest {

  @Rule public final TemporaryFolder tmp = new TemporaryFolder();

  private static final ObjectMapper JSON = new ObjectMapper();
  private static final Path DOCKERFILE =
      Paths.get(System.getProperty("metadataFile", "metadata.json"))
          .toAbsolutePath()
          .getParent()
          .resolve("Dockerfile");

  /** The ENV lines of the template's container file. */
  private static Map<String, String> containerEnv() throws Exception {
    Map<String, String> env = new HashMap<>();
    Matcher m =
        Pattern.compile("(?m)^ENV\\s+(\\w+)=\"?([^\"\\n]*)\"?$")
            .matcher(Files.readString(DOCKERFILE, StandardCharsets.UTF_8));
    while (m.find()) {
      env.put(m.group(1), m.group(2));
    }
    return env;
  }

  @Test
  public void theMainClassRunsWithTheLaunchersEnvironmentAndArguments() throws Exception {
    Map<String, String> env = containerEnv();
    String mainClass = env.get("FLEX_TEMPLATE_JAVA_MAIN_CLASS");
    String classpath = env.get("FLEX_TEMPLATE_JAVA_CLASSPATH");
    assertThat(mainClass, equalTo("dev.batchinference.pipelines.BatchInference"));
    assertThat(classpath, equalTo("/template/batch-inference-bundled.jar"));
    Path jar = Paths.get(System.getProperty("bundledJar"));
    assertThat("the bundled jar is built before this module", Files.isRegularFile(jar), is(true));

    Path input = tmp.getRoot().toPath().resolve("tickets.jsonl");
    try (BufferedWriter w = Files.newBufferedWriter(input, StandardCharsets.UTF_8)) {
      for (int i = 0; i < 60; i++) {
        w.write(
            JSON.createObjectNode()
                .put("id", "t" + i)
                .put("queue", i % 2 == 0 ? "billing" : "shipping")
                .put("text", "Ticket " + i + ": my order arrived late and the box was damaged.")
                .toString());
        w.write('\n');
      }
      w.write("{\"id\":\"broken\"}\n");
    }
    Path out = tmp.getRoot().toPath().resolve("out");

    List<String> command = new ArrayList<>();
    command.add(Paths.get(System.getProperty("java.home"), "bin", "java").toString());
    command.add("-cp");
    command.add(jar.toString()); // the container's /template/batch-inference-bundled.jar
    command.add(mainClass);
    // What the launcher adds of its own (with the runner swapped for the DirectRunner).
    command.add("--runner=DirectRunner");
    command.add("--project=batch-inference-test");
    command.add("--region=us-central1");
    command.add("--jobName=batch-inference-20261128-020000");
    command.add("--stagingLocation=" + tmp.newFolder("staging"));
    command.add("--tempLocation=" + tmp.newFolder("temp"));
    command.add("--serviceAccount=batch-inference@batch-inference-test.iam.gserviceaccount.com");
    command.add("--labels={\"goog-dataflow-provided-template-type\":\"flex\"}");
    // The template parameters a user gave.
    command.add("--input=" + input);
    command.add("--output=" + out);
    command.add("--carryFields=queue");
    command.add("--singleOutputFile=true");

    ProcessBuilder pb = new ProcessBuilder(command).redirectErrorStream(true);
    pb.environment().putAll(env);
    pb.environment().put("DJL_OFFLINE", "true");
    pb.environment().put("RUST_FLAVOR", "cpu");
    File log = tmp.getRoot().toPath().resolve("launcher.log").toFile();
    pb.redirectOutput(log);
    Process process = pb.start();
    boolean finished = process.waitFor(5, TimeUnit.MINUTES);
    String output = Files.readString(log.toPath(), StandardCharsets.UTF_8);
    assertThat(output, finished, is(true));
    assertThat(output, process.exitValue(), equalTo(0));
    assertThat(output, containsString("OK: 61 records read, 60 predicted, 1 failed"));

    List<JsonNode> predictions = new ArrayList<>();
    try (DirectoryStream<Path> files = Files.newDirectoryStream(out, "predictions*.jsonl")) {
      for (Path f : files) {
        for (String line : Files.readAllLines(f)) {
          predictions.add(JSON.readTree(line));
        }
      }
    }
    assertThat(predictions.size(), equalTo(60));
    assertThat(predictions.get(0).get("embedding").size(), equalTo(384));
    assertThat(predictions.get(0).has("queue"), is(true));
    JsonNode summary = JSON.readTree(out.resolve("summary.json").toFile());
    assertThat(summary.get("job").asText(), equalTo("batch-inference-20261128-020000"));
    assertThat(summary.get("nothing_lost").asBoolean(), is(true));
  }
}
