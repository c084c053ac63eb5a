package dev.batchinference.runners.flink;

import static org.hamcrest.MatcherAssert.assertThat;
import static org.hamcrest.Matchers.equalTo;
import static org.hamcrest.Matchers.greaterThan;
import static org.hamcrest.Matchers.is;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.batchinference.transforms.testing.Tabular;
import java.io.BufferedReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.ArrayList;
import java.util.BitSet;
import java.util.List;
import java.util.Locale;
import java.util.Random;
import java.util.concurrent.TimeUnit;
import org.junit.AfterClass;
import org.junit.BeforeClass;
import org.junit.Test;
import org.junit.runner.RunWith;
import org.junit.runners.JUnit4;

/**
 * One big JSON Lines file (1,000,000 small records, about 95 MB) read in parallel on a real Flink
 * session cluster (two TaskManagers of two slots, parallelism 4, the ports of {@link FlinkCluster}:
 * run after {@code FlinkClusterIT}, which stops its cluster, never beside it): every subtask of the
 * read step reads a share (Flink's REST API, per subtask), nothing is lost (the summary's check),
 * and every record comes out once at its own position (its line in the file).
 */
@RunWith(JUnit4.class)
public class FlinkParallelReadIT {

  private static final ObjectMapper JSON = new ObjectMapper();
  private static final Path WORK = Paths.get("target/it-data/parallel-read").toAbsolutePath();
  private static final Path JAR =
      Paths.get(System.getProperty("bundled.jar", "../target/batch-inference-bundled.jar"));
  private static final int RECORDS = 1_000_000;
  private static final int PARALLELISM = 4;
  private static final long SEED = 20261129L;

  private static FlinkCluster cluster;
  private static Path input;
  private static Path model;
  private static Path labels;

  @BeforeClass
  public static void startClusterAndWriteData() throws Exception {
    Files.createDirectories(WORK);
    input = WORK.resolve("records-" + RECORDS + ".jsonl");
    if (!Files.exists(input)) {
      // Record acct-N on line N, as the benchmarks' scale run writes them.
      Tabular.generate(input, RECORDS, new Random(SEED));
    }
    model = WORK.resolve("tabular-logreg.onnx");
    if (!Files.exists(model)) {
      Tabular.train(model, "dev.batchinference.runners.flink");
    }
    labels = Files.write(WORK.resolve("labels.txt"), Tabular.CLASSES, StandardCharsets.UTF_8);
    cluster = new FlinkCluster();
    try {
      cluster.start(2);
    } catch (Exception e) {
      cluster.close();
      throw e;
    }
  }

  @AfterClass
  public static void stopCluster() throws Exception {
    if (cluster != null) {
      cluster.close();
    }
  }

  @Test
  public void oneBigFileIsReadByEveryReadSubtask() throws Exception {
    Path out = WORK.resolve("out");
    Path log = WORK.resolve("job.log");
    List<String> args =
        new ArrayList<>(
            List.of(
                "--task=CLASSIFY",
                "--input=" + input,
                "--model=" + model,
                "--classLabels=" + labels,
                "--idField=id",
                "--output=" + out,
                "--batchSize=256",
                "--progress=false",
                "--runner=FlinkRunner",
                "--flinkMaster=" + cluster.master(),
                "--filesToStage=" + JAR.toAbsolutePath(),
                "--parallelism=" + PARALLELISM,
                "--intraOpThreads=1"));
    // Set to 0 to see the file read by one subtask (the assertion on shares then fails).
    String rangeBytes = System.getProperty("parallelRead.inputRangeBytes");
    if (rangeBytes != null) {
      args.add("--inputRangeBytes=" + rangeBytes);
    }
    long started = System.nanoTime();
    int exit = run(args, log);
    double seconds = (System.nanoTime() - started) / 1e9;
    assertThat("exit status of the job, see " + log, exit, equalTo(0));

    JsonNode summary = JSON.readTree(out.resolve("summary.json").toFile());
    assertThat(summary.get("records_read").asLong(), equalTo((long) RECORDS));
    assertThat(summary.get("predictions").asLong(), equalTo((long) RECORDS));
    assertThat(summary.get("nothing_lost").asBoolean(), is(true));

    // Every record once, at its line: the generated file has record acct-N on line N.
    BitSet positions = new BitSet(RECORDS);
    long predictions = 0;
    try (DirectoryStream<Path> files = Files.newDirectoryStream(out, "predictions*.jsonl")) {
      for (Path file : files) {
        try (BufferedReader reader = Files.newBufferedReader(file, StandardCharsets.UTF_8)) {
          String line;
          while ((line = reader.readLine()) != null) {
            if (line.isEmpty()) {
              continue;
            }
            JsonNode p = JSON.readTree(line);
            long index = p.get("index").asLong();
            assertThat("source of " + line, p.get("source").asText(), equalTo(input.toString()));
            assertThat(
                "position of " + p.get("id").asText(),
                "acct-" + index,
                equalTo(p.get("id").asText()));
            positions.set((int) index);
            predictions++;
          }
        }
      }
    }
    assertThat("predictions written", predictions, equalTo((long) RECORDS));
    assertThat("distinct positions", positions.cardinality(), equalTo(RECORDS));

    List<Long> shares = readShares();
    long sum = shares.stream().mapToLong(Long::longValue).sum();
    System.out.printf(
        Locale.ROOT,
        "parallel read: %,d records in %.1f s (%,.0f records/s end to end); records out of each"
            + " read subtask: %s (sum %,d)%n",
        RECORDS,
        seconds,
        RECORDS / seconds,
        shares,
        sum);
    assertThat("read subtasks", shares.size(), equalTo(PARALLELISM));
    for (int s = 0; s < shares.size(); s++) {
      assertThat(
          "records out of read subtask " + s + " of " + shares, shares.get(s), greaterThan(0L));
    }
  }

  /**
   * Records out ({@code write-records}, Flink's {@code numRecordsOut}) of each subtask of the job
   * vertex that holds the read step ({@code ReadRecords/ReadRanges}), from {@code GET
   * /jobs/ID/vertices/VID}.
   */
  private static List<Long> readShares() throws Exception {
    String jobId = cluster.jobs().get(0).get("jid").asText();
    JsonNode job = cluster.rest("/jobs/" + jobId);
    List<String> names = new ArrayList<>();
    for (JsonNode vertex : job.path("vertices")) {
      String name = vertex.get("name").asText();
      names.add(name);
      if (!name.contains("ReadRanges")) {
        continue;
      }
      JsonNode detail = cluster.rest("/jobs/" + jobId + "/vertices/" + vertex.get("id").asText());
      List<Long> shares = new ArrayList<>();
      for (JsonNode subtask : detail.path("subtasks")) {
        shares.add(subtask.path("metrics").path("write-records").asLong());
      }
      System.out.printf("read vertex: %s%n", name);
      return shares;
    }
    throw new AssertionError("no vertex of the job holds ReadRanges: " + names);
  }

  private static int run(List<String> args, Path log) throws Exception {
    List<String> command =
        new ArrayList<>(List.of("java", "-Xmx2g", "-jar", JAR.toAbsolutePath().toString()));
    command.addAll(args);
    Path out =
        Paths.get(
            args.stream()
                .filter(a -> a.startsWith("--output="))
                .findFirst()
                .get()
                .substring("--output=".length()));
    if (Files.exists(out)) {
      try (var paths = Files.walk(out)) {
        for (Path p : paths.sorted(java.util.Comparator.reverseOrder()).toList()) {
          Files.delete(p);
        }
      }
    }
    ProcessBuilder builder = new ProcessBuilder(command).redirectErrorStream(true);
    builder.environment().put("DJL_OFFLINE", "true");
    builder.environment().put("RUST_FLAVOR", "cpu");
    builder.redirectOutput(log.toFile());
    Process job = builder.start();
    if (!job.waitFor(10, TimeUnit.MINUTES)) {
      job.destroyForcibly();
      throw new AssertionError("the job did not finish in 10 minutes; see " + log);
    }
    return job.exitValue();
  }
}
