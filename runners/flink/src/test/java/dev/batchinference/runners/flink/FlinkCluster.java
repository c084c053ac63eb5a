package dev.batchinference.runners.flink;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.File;
import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

/**
 * Drives {@code runners/flink/cluster.sh} for the end-to-end tests: a real multi-process Flink
 * session cluster on loopback, with its own ports and folder so that it never meets a cluster a
 * user started.
 */
final class FlinkCluster implements AutoCloseable {

  static final int REST_PORT = 18081;
  static final int RPC_PORT = 16123;

  private static final ObjectMapper JSON = new ObjectMapper();
  private final Path script = Paths.get(System.getProperty("cluster.script", "cluster.sh"));
  private final Path dir = Paths.get(System.getProperty("cluster.dir", "target/it-cluster"));
  private final HttpClient http = HttpClient.newHttpClient();

  /** Starts the cluster; a start that fails is cleaned up and tried once more. */
  FlinkCluster start(int taskManagers) throws Exception {
    try {
      script("start", Integer.toString(taskManagers));
    } catch (IllegalStateException first) {
      script("stop");
      script("start", Integer.toString(taskManagers));
    }
    return this;
  }

  void addTaskManager() throws Exception {
    script("add-taskmanager");
  }

  void killTaskManager(int n) throws Exception {
    script("kill-taskmanager", Integer.toString(n));
  }

  String master() {
    return "localhost:" + REST_PORT;
  }

  Path logDir() {
    return dir.resolve("log");
  }

  @Override
  public void close() throws Exception {
    script("stop");
  }

  JsonNode rest(String path) throws IOException, InterruptedException {
    HttpResponse<String> response =
        http.send(
            HttpRequest.newBuilder(URI.create("http://localhost:" + REST_PORT + path))
                .timeout(Duration.ofSeconds(10))
                .build(),
            HttpResponse.BodyHandlers.ofString());
    return JSON.readTree(response.body());
  }

  /** The jobs the cluster knows, newest first. */
  List<JsonNode> jobs() throws IOException, InterruptedException {
    List<JsonNode> jobs = new ArrayList<>();
    rest("/jobs/overview").get("jobs").forEach(jobs::add);
    jobs.sort((a, b) -> Long.compare(b.get("start-time").asLong(), a.get("start-time").asLong()));
    return jobs;
  }

  private void script(String... args) throws Exception {
    List<String> command = new ArrayList<>();
    command.add("bash");
    command.add(script.toString());
    command.addAll(List.of(args));
    ProcessBuilder builder = new ProcessBuilder(command).redirectErrorStream(true);
    Map<String, String> env = builder.environment();
    env.put("CLUSTER_DIR", dir.toString());
    env.put("FLINK_REST_PORT", Integer.toString(REST_PORT));
    env.put("FLINK_RPC_PORT", Integer.toString(RPC_PORT));
    env.put("FLINK_SLOTS", "2");
    Files.createDirectories(dir);
    File log = dir.resolve("cluster-script.log").toFile();
    builder.redirectOutput(ProcessBuilder.Redirect.appendTo(log));
    Process process = builder.start();
    if (!process.waitFor(3, TimeUnit.MINUTES)) {
      process.destroyForcibly();
      throw new IllegalStateException(
          "cluster.sh " + String.join(" ", args) + " timed out; see " + log);
    }
    if (process.exitValue() != 0) {
      throw new IllegalStateException(
          "cluster.sh "
              + String.join(" ", args)
              + " failed (exit "
              + process.exitValue()
              + "); see "
              + log
              + " and "
              + logDir());
    }
  }
}
