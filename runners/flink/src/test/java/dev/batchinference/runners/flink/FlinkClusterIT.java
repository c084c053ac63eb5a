package dev.batchinference.runners.flink;

import static org.hamcrest.MatcherAssert.assertThat;
import static org.hamcrest.Matchers.allOf;
import static org.hamcrest.Matchers.equalTo;
import static org.hamcrest.Matchers.greaterThan;
import static org.hamcrest.Matchers.greaterThanOrEqualTo;
import static org.hamcrest.Matchers.is;
import static org.hamcrest.Matchers.lessThanOrEqualTo;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.batchinference.transforms.testing.FashionMnist;
import dev.batchinference.transforms.testing.Fortunes;
import java.io.IOException;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.AfterClass;
import org.junit.BeforeClass;
import org.junit.Test;
import org.junit.runner.RunWith;
import org.junit.runners.JUnit4;

/**
 * The main job on a real Flink session cluster (a JobManager and two TaskManagers, separate JVMs,
 * started by {@code cluster.sh}), submitted from the bundled jar as a user would, compared with the
 * DirectRunner on the same input; and a TaskManager killed while a job runs.
 */
@RunWith(JUnit4.class)
public class FlinkClusterIT {

  private static final ObjectMapper JSON = new ObjectMapper();
  private static final Path WORK = Paths.get("target/it-data").toAbsolutePath();
  private static final Path JAR =
      Paths.get(System.getProperty("bundled.jar", "../target/batch-inference-bundled.jar"));

  private static FlinkCluster cluster;
  private static Path texts;
  private static Path images;
  private static Path model;
  private static Path labels;
  private static Path fp32Model;
  private static Path fp32Tokenizer;
  private static int textCount;
  private static final int IMAGE_COUNT = 5000;

  @BeforeClass
  public static void startClusterAndWriteData() throws Exception {
    Files.createDirectories(WORK);
    List<Fortunes.Fortune> fortunes = Fortunes.load(60);
    textCount = fortunes.size();
    texts = WORK.resolve("fortunes.jsonl");
    Fortunes.writeJsonLines(texts, fortunes);
    model = FashionMnist.trainedClassifier(WORK, 6000);
    labels = FashionMnist.writeLabels(WORK.resolve("labels.txt"));
    // Full precision, so that batches made differently by the two runners give the same vectors
    // up to float rounding (the int8 default quantizes activations per batch).
    fp32Model = extract("all-minilm-l6-v2.onnx");
    fp32Tokenizer = extract("all-minilm-l6-v2-tokenizer.json");
    images = WORK.resolve("images.jsonl");
    FashionMnist.writeJsonLines(images, FashionMnist.load(false, IMAGE_COUNT), "img-");
    cluster = new FlinkCluster();
    try {
      cluster.start(2);
    } catch (Exception e) {
      cluster.close();
      throw e;
    }
  }

  private static Path extract(String resource) throws IOException {
    Path target = WORK.resolve(resource);
    if (!Files.exists(target)) {
      try (var in = FlinkClusterIT.class.getClassLoader().getResourceAsStream(resource)) {
        Files.copy(in, target);
      }
    }
    return target;
  }

  @AfterClass
  public static void stopCluster() throws Exception {
    if (cluster != null) {
      cluster.close();
    }
  }

  private static List<String> flinkArgs(int parallelism) {
    return List.of(
        "--runner=FlinkRunner",
        "--flinkMaster=" + cluster.master(),
        "--filesToStage=" + JAR.toAbsolutePath(),
        "--parallelism=" + parallelism,
        // Two TaskManagers share two cores: one ONNX Runtime thread per session.
        "--intraOpThreads=1");
  }

  private static List<String> embedArgs(Path out) {
    return List.of(
        "--input=" + texts, "--output=" + out, "--carryFields=category", "--progress=false");
  }

  private static List<String> classifyArgs(Path out) {
    return List.of(
        "--task=CLASSIFY",
        "--model=" + model,
        "--classLabels=" + labels,
        "--input=" + images,
        "--output=" + out,
        "--batchSize=64",
        "--progress=false");
  }

  @Test
  public void embeddingsOnTheClusterMatchTheDirectRunner() throws Exception {
    Path direct = WORK.resolve("embed-direct");
    Path flink = WORK.resolve("embed-flink");
    List<String> fp32 = List.of("--model=" + fp32Model, "--tokenizer=" + fp32Tokenizer);
    List<String> directArgs = new ArrayList<>(embedArgs(direct));
    directArgs.addAll(fp32);
    List<String> flinkJob = new ArrayList<>(embedArgs(flink));
    flinkJob.addAll(fp32);
    runJob(directArgs, List.of(), direct.resolveSibling("embed-direct.log"));
    runJob(flinkJob, flinkArgs(4), flink.resolveSibling("embed-flink.log"));

    Map<String, JsonNode> expected = predictions(direct);
    Map<String, JsonNode> actual = predictions(flink);
    assertThat(actual.size(), equalTo(textCount));
    assertThat(actual.keySet(), equalTo(expected.keySet()));
    double sum = 0;
    for (Map.Entry<String, JsonNode> e : expected.entrySet()) {
      double cosine =
          cosine(e.getValue().get("embedding"), actual.get(e.getKey()).get("embedding"));
      assertThat("cosine of " + e.getKey(), cosine, greaterThan(0.9999));
      sum += cosine;
      assertThat(actual.get(e.getKey()).get("category"), equalTo(e.getValue().get("category")));
    }
    assertThat("mean cosine", sum / expected.size(), greaterThan(0.99999));
    assertNothingLost(flink, textCount);
    assertThat(summary(flink).get("runner").asText(), equalTo("FlinkRunner"));
    assertOneSessionPerTaskManager();
  }

  @Test
  public void labelsOnTheClusterEqualTheDirectRunner() throws Exception {
    Path direct = WORK.resolve("classify-direct");
    Path flink = WORK.resolve("classify-flink");
    runJob(classifyArgs(direct), List.of(), direct.resolveSibling("classify-direct.log"));
    runJob(classifyArgs(flink), flinkArgs(2), flink.resolveSibling("classify-flink.log"));

    Map<String, JsonNode> expected = predictions(direct);
    Map<String, JsonNode> actual = predictions(flink);
    assertThat(actual.size(), equalTo(IMAGE_COUNT));
    assertThat(actual.keySet(), equalTo(expected.keySet()));
    for (Map.Entry<String, JsonNode> e : expected.entrySet()) {
      assertThat(
          "label of " + e.getKey(),
          actual.get(e.getKey()).get("label").asText(),
          equalTo(e.getValue().get("label").asText()));
      assertThat(
          actual.get(e.getKey()).get("score").asDouble(),
          org.hamcrest.Matchers.closeTo(e.getValue().get("score").asDouble(), 1e-5));
    }
    assertNothingLost(flink, IMAGE_COUNT);
  }

  @Test
  public void orderedOutputKeepsTheInputOrderAtParallelismTwo() throws Exception {
    Path in = WORK.resolve("ordered-in");
    Files.createDirectories(in);
    FashionMnist.Dataset data = FashionMnist.load(false, 1500);
    // Three input files, whose names sort in the order of the records they hold.
    for (int f = 0; f < 3; f++) {
      float[][] part = java.util.Arrays.copyOfRange(data.images(), f * 500, (f + 1) * 500);
      int[] partLabels = java.util.Arrays.copyOfRange(data.labels(), f * 500, (f + 1) * 500);
      FashionMnist.writeJsonLines(
          in.resolve("part-" + f + ".jsonl"),
          new FashionMnist.Dataset(part, partLabels),
          "p" + f + "-");
    }
    Path out = WORK.resolve("ordered-flink");
    List<String> args = new ArrayList<>(classifyArgs(out));
    args.removeIf(a -> a.startsWith("--input="));
    args.add("--input=" + in.resolve("*.jsonl"));
    args.add("--orderedOutput=true");
    runJob(args, flinkArgs(2), out.resolveSibling("ordered-flink.log"));

    List<Path> shards;
    try (var listing = Files.list(out)) {
      shards =
          listing
              .filter(p -> p.getFileName().toString().startsWith("predictions-"))
              .sorted()
              .collect(java.util.stream.Collectors.toList());
    }
    assertThat(shards.size(), equalTo(3));
    List<String> ids = new ArrayList<>();
    for (Path shard : shards) {
      for (String line : Files.readAllLines(shard)) {
        ids.add(JSON.readTree(line).get("id").asText());
      }
    }
    List<String> expected = new ArrayList<>();
    for (int f = 0; f < 3; f++) {
      for (int i = 0; i < 500; i++) {
        expected.add("p" + f + "-" + i);
      }
    }
    assertThat("the shards' concatenation is the input order", ids, equalTo(expected));
    assertNothingLost(out, 1500);
  }

  @Test
  public void aJobSurvivesTheLossOfATaskManager() throws Exception {
    Path out = WORK.resolve("fault");
    List<String> args = new ArrayList<>(embedArgs(out));
    args.addAll(flinkArgs(2));
    // The cluster's fixed-delay restart strategy recovers the job (see cluster.sh).
    Process job = startJob(args, WORK.resolve("fault.log"));

    String jobId = waitForRunningJob();
    // Let the tasks deploy and start scoring, then take one TaskManager away.
    Thread.sleep(8000);
    assertThat("the job is still running when the TaskManager dies", job.isAlive(), is(true));
    cluster.killTaskManager(1);
    cluster.addTaskManager();

    assertThat("job exit status", finish(job, WORK.resolve("fault.log")), equalTo(0));
    JsonNode exceptions = cluster.rest("/jobs/" + jobId + "/exceptions");
    int restarts = exceptions.path("exceptionHistory").path("entries").size();
    assertThat(
        "the job restarted after the TaskManager was lost", restarts, greaterThanOrEqualTo(1));

    List<JsonNode> predictions = lines(out, "predictions*.jsonl");
    Map<String, Integer> seen = new HashMap<>();
    for (JsonNode p : predictions) {
      seen.merge(p.get("id").asText(), 1, Integer::sum);
    }
    assertThat("no prediction is duplicated", predictions.size(), equalTo(seen.size()));
    assertThat("no record is lost", seen.size(), equalTo(textCount));
    assertNothingLost(out, textCount);
    System.out.printf(
        "fault test: %d records in, %d predictions out, %d duplicates, %d restart(s)%n",
        textCount, predictions.size(), predictions.size() - seen.size(), restarts);
  }

  /**
   * Every inference subtask gets its share: at parallelism 4 (the cluster's 2 TaskManagers × 2
   * slots), for the classifier and for text (whose records are also split by length into nine
   * buckets, each with its own keys), each subtask handles 15% to 35% of the records, by Flink's
   * own count (REST: the predictions out of each {@code Infer} subtask) and by the run summary's
   * {@code inference_workers}.
   */
  @Test
  public void inferenceIsSpreadOverEverySubtaskAtParallelismFour() throws Exception {
    Path classify = WORK.resolve("balance-classify-4");
    String classifyJob = runFlinkJob(classifyArgs(classify), 4);
    assertNothingLost(classify, IMAGE_COUNT);
    assertBalanced(classifyJob, classify, 4, IMAGE_COUNT);

    Path text = WORK.resolve("balance-text-4");
    String textJob = runFlinkJob(embedArgs(text), 4);
    assertNothingLost(text, textCount);
    assertBalanced(textJob, text, 4, textCount);
  }

  /**
   * At parallelism 8, on 4 TaskManagers × 2 slots (two more join the cluster), every subtask still
   * gets its share of the classifier's records: 0.6 to 1.4 times an eighth, the same relative band
   * as 15% to 35% at parallelism 4. This machine has two cores, so only the balance is checked.
   */
  @Test
  public void inferenceIsSpreadOverEverySubtaskAtParallelismEight() throws Exception {
    // Four fresh TaskManagers. The first two have run every earlier job of this class; after
    // those, one of them spun at full CPU through this job and missed its heartbeats until the
    // job ran out of restarts (seen in CI; not investigated yet).
    cluster.close();
    cluster.start(4);
    Path classify = WORK.resolve("balance-classify-8");
    String job = runFlinkJob(classifyArgs(classify), 8);
    assertNothingLost(classify, IMAGE_COUNT);
    assertBalanced(job, classify, 8, IMAGE_COUNT);
  }

  /** Runs a job on the cluster at {@code parallelism}; returns its Flink job id. */
  private static String runFlinkJob(List<String> jobArgs, int parallelism) throws Exception {
    Path out =
        Paths.get(
            jobArgs.stream()
                .filter(a -> a.startsWith("--output="))
                .findFirst()
                .orElseThrow()
                .substring("--output=".length()));
    long started = System.currentTimeMillis();
    runJob(jobArgs, flinkArgs(parallelism), out.resolveSibling(out.getFileName() + ".log"));
    for (JsonNode job : cluster.jobs()) {
      if (job.get("start-time").asLong() >= started - 1000) {
        return job.get("jid").asText();
      }
    }
    throw new AssertionError("no job started on the cluster after " + started);
  }

  /**
   * Each of the {@code parallelism} subtasks that run inference handled between 0.6 and 1.4 times
   * its even share of {@code records}, by Flink and by the summary.
   */
  private static void assertBalanced(String jobId, Path out, int parallelism, int records)
      throws Exception {
    double low = 0.6 / parallelism;
    double high = 1.4 / parallelism;
    List<Long> shares = inferenceSubtaskRecords(jobId);
    System.out.printf(
        "balance at parallelism %d, %s: records predicted by each inference subtask %s;"
            + " inference_workers %s%n",
        parallelism, out.getFileName(), shares, summary(out).get("inference_workers"));
    assertThat("subtasks", shares.size(), equalTo(parallelism));
    assertThat(
        "records predicted",
        shares.stream().mapToLong(Long::longValue).sum(),
        equalTo((long) records));
    for (long share : shares) {
      assertThat(
          "subtask share of " + records + " in " + shares,
          share / (double) records,
          allOf(greaterThanOrEqualTo(low), lessThanOrEqualTo(high)));
    }
    JsonNode workers = summary(out).get("inference_workers");
    assertThat("inference_workers " + workers, workers.get("count").asInt(), equalTo(parallelism));
    assertThat(
        "inference_workers " + workers,
        workers.get("records_min").asLong() / (double) records,
        greaterThanOrEqualTo(low));
    assertThat(
        "inference_workers " + workers,
        workers.get("records_max").asLong() / (double) records,
        lessThanOrEqualTo(high));
  }

  /**
   * The records each inference subtask predicted, by Flink's own count: the records out of each
   * subtask of the vertex that takes the {@code Infer} step's predictions ({@code write-records} of
   * {@code GET /jobs/ID/vertices/VID}; Beam's batch translation prunes each output of a step in an
   * operator of its own, fed subtask by subtask). Not the records into {@code GroupIntoBatches}:
   * since packing, what goes in are mostly whole batches.
   */
  private static List<Long> inferenceSubtaskRecords(String jobId) throws Exception {
    for (JsonNode vertex : cluster.rest("/jobs/" + jobId).path("vertices")) {
      if (!vertex.path("name").asText().contains("RunInference/Infer.out0")) {
        continue;
      }
      JsonNode detail = cluster.rest("/jobs/" + jobId + "/vertices/" + vertex.get("id").asText());
      List<Long> records = new ArrayList<>();
      for (JsonNode subtask : detail.path("subtasks")) {
        records.add(subtask.path("metrics").path("write-records").asLong());
      }
      return records;
    }
    throw new AssertionError(
        "no RunInference/Infer.out0 vertex in " + cluster.rest("/jobs/" + jobId).path("vertices"));
  }

  /**
   * Beam's metrics in Flink's REST API: after the job, the accumulator {@code __metricscontainers}
   * ({@code GET /jobs/ID/accumulators}) holds Beam's metric results as JSON (monitoring infos with
   * base64 payloads), and must count every record read and inferred. Flink operator metrics named
   * after Beam's ({@code NAMESPACE.NAME}) are looked for while the job runs and reported.
   */
  @Test
  public void beamMetricsAppearInFlinksRestApi() throws Exception {
    Path out = WORK.resolve("metrics-flink");
    Path log = WORK.resolve("metrics-flink.log");
    Process job = startJob(concat(classifyArgs(out), flinkArgs(2)), log);
    String jobId = waitForRunningJob();

    Map<String, String> live = new java.util.TreeMap<>();
    while (job.isAlive()) {
      try {
        live.putAll(operatorMetrics(jobId));
      } catch (IOException e) {
        // the REST API is busy; ask again
      }
      Thread.sleep(1000);
    }
    assertThat("exit status of the job, see " + log, finish(job, log), equalTo(0));
    assertNothingLost(out, IMAGE_COUNT);
    live.putAll(operatorMetrics(jobId));

    JsonNode accumulators = cluster.rest("/jobs/" + jobId + "/accumulators");
    JsonNode metrics = null;
    for (JsonNode a : accumulators.path("user-task-accumulators")) {
      if (a.path("name").asText().equals("__metricscontainers")) {
        metrics = JSON.readTree(a.path("value").asText());
      }
    }
    assertThat("__metricscontainers in " + accumulators, metrics != null, is(true));
    Map<String, Long> counters = counters(metrics);
    System.out.printf("counters in __metricscontainers: %s%n", counters);
    assertThat(
        counters.get("dev.batchinference.transforms.RunInference:num_inferences"),
        equalTo((long) IMAGE_COUNT));
    assertThat(
        counters.get("dev.batchinference.transforms.io.ReadRecords:records_read"),
        equalTo((long) IMAGE_COUNT));
    // Reported, not asserted: on this cluster (Beam 2.62 batch translation, Flink 1.19, the REST
    // metric store refreshed every 10 s) no Beam metric was ever listed among the vertices'
    // operator metrics, while the job ran or after; the accumulator above is what holds them.
    System.out.printf("Beam metrics among Flink operator metrics: %s%n", live);
  }

  /**
   * Every Flink metric of the job's vertices whose id names a Beam metric (namespace {@code
   * dev.batchinference}) with its value, from {@code GET /jobs/ID/vertices/VID/subtasks/metrics}
   * (aggregated over subtasks) and {@code GET /jobs/ID/vertices/VID/metrics} (per subtask).
   */
  private static Map<String, String> operatorMetrics(String jobId)
      throws IOException, InterruptedException {
    Map<String, String> found = new HashMap<>();
    for (JsonNode vertex : cluster.rest("/jobs/" + jobId).path("vertices")) {
      String vertexPath = "/jobs/" + jobId + "/vertices/" + vertex.get("id").asText();
      for (String base : List.of(vertexPath + "/subtasks/metrics", vertexPath + "/metrics")) {
        JsonNode listing = cluster.rest(base);
        for (JsonNode metric : listing) {
          String id = metric.get("id").asText();
          if (!id.contains("dev.batchinference") && !id.contains("num_inferences")) {
            continue;
          }
          String query = java.net.URLEncoder.encode(id, java.nio.charset.StandardCharsets.UTF_8);
          found.put(base + "?get=" + id, cluster.rest(base + "?get=" + query).toString());
        }
      }
    }
    return found;
  }

  /**
   * The user counters in Beam's metric results as JSON, summed over steps, by {@code
   * NAMESPACE:NAME}: each payload is a base64 varint.
   */
  private static Map<String, Long> counters(JsonNode results) {
    Map<String, Long> counters = new HashMap<>();
    for (JsonNode info : results.path("metrics").path("attempted")) {
      if (!info.path("urn").asText().equals("beam:metric:user:sum_int64:v1")) {
        continue;
      }
      byte[] payload = java.util.Base64.getDecoder().decode(info.path("payload").asText());
      long value = 0;
      for (int i = 0, shift = 0; i < payload.length; i++, shift += 7) {
        value |= (long) (payload[i] & 0x7f) << shift;
        if ((payload[i] & 0x80) == 0) {
          break;
        }
      }
      JsonNode labels = info.path("labels");
      counters.merge(
          labels.path("NAMESPACE").asText() + ":" + labels.path("NAME").asText(), value, Long::sum);
    }
    return counters;
  }

  private static List<String> concat(List<String> a, List<String> b) {
    List<String> all = new ArrayList<>(a);
    all.addAll(b);
    return all;
  }

  private static String waitForRunningJob() throws Exception {
    long deadline = System.currentTimeMillis() + 120_000;
    while (System.currentTimeMillis() < deadline) {
      try {
        for (JsonNode j : cluster.jobs()) {
          if ("RUNNING".equals(j.get("state").asText())) {
            return j.get("jid").asText();
          }
        }
      } catch (IOException e) {
        // the REST API is busy; ask again
      }
      Thread.sleep(500);
    }
    throw new AssertionError("no job reached RUNNING on the cluster within 120 s");
  }

  /**
   * Each TaskManager that ran the job opened the model once, however many of the job's subtasks
   * (parallelism 4 on two TaskManagers) it ran.
   */
  private static void assertOneSessionPerTaskManager() throws IOException {
    long total = 0;
    try (DirectoryStream<Path> logs =
        Files.newDirectoryStream(cluster.logDir(), "taskmanager-*.log")) {
      for (Path log : logs) {
        long loads =
            Files.readAllLines(log).stream()
                .filter(l -> l.contains("Loaded shared resource onnx:" + fp32Model))
                .count();
        assertThat("model loads in " + log.getFileName(), loads <= 1, is(true));
        total += loads;
      }
    }
    assertThat("TaskManagers that loaded the model", total, greaterThanOrEqualTo(1L));
  }

  private static void runJob(List<String> jobArgs, List<String> runnerArgs, Path log)
      throws Exception {
    List<String> args = new ArrayList<>(jobArgs);
    args.addAll(runnerArgs);
    assertThat("exit status of the job, see " + log, finish(startJob(args, log), log), equalTo(0));
  }

  private static Process startJob(List<String> args, Path log) throws IOException {
    for (String arg : args) {
      if (arg.startsWith("--output=")) {
        deleteRecursively(Paths.get(arg.substring("--output=".length())));
      }
    }
    List<String> command =
        new ArrayList<>(List.of("java", "-Xmx2g", "-jar", JAR.toAbsolutePath().toString()));
    command.addAll(args);
    ProcessBuilder builder = new ProcessBuilder(command).redirectErrorStream(true);
    builder.environment().put("DJL_OFFLINE", "true");
    builder.environment().put("RUST_FLAVOR", "cpu");
    builder.redirectOutput(log.toFile());
    return builder.start();
  }

  private static void deleteRecursively(Path dir) throws IOException {
    if (Files.exists(dir)) {
      try (var paths = Files.walk(dir)) {
        for (Path p : paths.sorted(java.util.Comparator.reverseOrder()).toList()) {
          Files.delete(p);
        }
      }
    }
  }

  private static int finish(Process job, Path log) throws Exception {
    if (!job.waitFor(10, TimeUnit.MINUTES)) {
      job.destroyForcibly();
      throw new AssertionError("the job did not finish in 10 minutes; see " + log);
    }
    return job.exitValue();
  }

  private static void assertNothingLost(Path out, int records) throws IOException {
    JsonNode summary = summary(out);
    assertThat(summary.get("records_read").asLong(), equalTo((long) records));
    assertThat(summary.get("predictions").asLong(), equalTo((long) records));
    assertThat(summary.get("nothing_lost").asBoolean(), is(true));
  }

  private static JsonNode summary(Path out) throws IOException {
    return JSON.readTree(out.resolve("summary.json").toFile());
  }

  private static Map<String, JsonNode> predictions(Path out) throws IOException {
    Map<String, JsonNode> byId = new HashMap<>();
    for (JsonNode p : lines(out, "predictions*.jsonl")) {
      byId.put(p.get("id").asText(), p);
    }
    return byId;
  }

  private static List<JsonNode> lines(Path dir, String glob) throws IOException {
    List<JsonNode> out = new ArrayList<>();
    try (DirectoryStream<Path> files = Files.newDirectoryStream(dir, glob)) {
      for (Path file : files) {
        for (String line : Files.readAllLines(file)) {
          if (!line.isEmpty()) {
            out.add(JSON.readTree(line));
          }
        }
      }
    }
    return out;
  }

  private static double cosine(JsonNode a, JsonNode b) {
    double dot = 0;
    double na = 0;
    double nb = 0;
    for (int i = 0; i < a.size(); i++) {
      dot += a.get(i).asDouble() * b.get(i).asDouble();
      na += a.get(i).asDouble() * a.get(i).asDouble();
      nb += b.get(i).asDouble() * b.get(i).asDouble();
    }
    return dot / Math.sqrt(na * nb);
  }
}
