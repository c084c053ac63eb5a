package dev.batchinference.runners.flink;

import static org.hamcrest.MatcherAssert.assertThat;
import static org.hamcrest.Matchers.equalTo;
import static org.hamcrest.Matchers.greaterThan;
import static org.hamcrest.Matchers.is;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.BufferedReader;
import java.io.BufferedWriter;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.ArrayList;
import java.util.BitSet;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.TimeUnit;
import org.junit.AfterClass;
import org.junit.BeforeClass;
import org.junit.Test;
import org.junit.runner.RunWith;
import org.junit.runners.JUnit4;
import org.tribuo.ImmutableDataset;
import org.tribuo.ImmutableFeatureMap;
import org.tribuo.ImmutableOutputInfo;
import org.tribuo.MutableDataset;
import org.tribuo.RealInfo;
import org.tribuo.VariableInfo;
import org.tribuo.classification.Label;
import org.tribuo.classification.LabelFactory;
import org.tribuo.classification.sgd.linear.LinearSGDModel;
import org.tribuo.classification.sgd.linear.LinearSGDTrainer;
import org.tribuo.classification.sgd.objectives.LogMulticlass;
import org.tribuo.impl.ArrayExample;
import org.tribuo.math.optimisers.AdaGrad;
import org.tribuo.provenance.SimpleDataSourceProvenance;

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
  private static final int FEATURES = 8;
  private static final List<String> CLASSES = List.of("low", "medium", "high");
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
      generate(input);
    }
    model = WORK.resolve("tabular-logreg.onnx");
    if (!Files.exists(model)) {
      train(model);
    }
    labels = Files.write(WORK.resolve("labels.txt"), CLASSES, StandardCharsets.UTF_8);
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

  /** Record acct-N on line N: 8 features around a class centre, as the benchmarks' scale run. */
  private static void generate(Path file) throws IOException {
    Random random = new Random(SEED);
    Path tmp = file.resolveSibling(file.getFileName() + ".tmp");
    try (BufferedWriter out = Files.newBufferedWriter(tmp, StandardCharsets.UTF_8)) {
      StringBuilder line = new StringBuilder(160);
      for (int i = 0; i < RECORDS; i++) {
        int cls = random.nextInt(CLASSES.size());
        line.setLength(0);
        line.append("{\"id\":\"acct-").append(i).append("\",\"features\":[");
        for (int f = 0; f < FEATURES; f++) {
          double v = centre(cls, f) + random.nextGaussian();
          line.append(f == 0 ? "" : ",").append(String.format(Locale.ROOT, "%.4f", v));
        }
        line.append("]}\n");
        out.append(line);
      }
    }
    Files.move(tmp, file, java.nio.file.StandardCopyOption.REPLACE_EXISTING);
  }

  private static double centre(int cls, int feature) {
    return (cls - 1) * (feature % 2 == 0 ? 1.5 : -0.75);
  }

  /** A logistic regression over the 8 features, trained on 3,000 generated examples. */
  private static void train(Path file) throws IOException {
    LabelFactory factory = new LabelFactory();
    MutableDataset<Label> examples =
        new MutableDataset<>(new SimpleDataSourceProvenance("generated", factory), factory);
    String[] names = new String[FEATURES];
    for (int f = 0; f < FEATURES; f++) {
      names[f] = "f" + f;
    }
    Random random = new Random(SEED);
    double[] values = new double[FEATURES];
    for (int i = 0; i < 3000; i++) {
      int cls = random.nextInt(CLASSES.size());
      for (int f = 0; f < FEATURES; f++) {
        values[f] = centre(cls, f) + random.nextGaussian();
      }
      examples.add(new ArrayExample<>(new Label(CLASSES.get(cls)), names, values));
    }
    List<VariableInfo> features = new ArrayList<>();
    for (String name : names) {
      features.add(new RealInfo(name));
    }
    Map<Label, Integer> ids = new HashMap<>();
    for (int i = 0; i < CLASSES.size(); i++) {
      ids.put(new Label(CLASSES.get(i)), i);
    }
    ImmutableOutputInfo<Label> outputs = factory.constructInfoForExternalModel(ids);
    ImmutableDataset<Label> fixed =
        ImmutableDataset.copyDataset(examples, new ImmutableFeatureMap(features), outputs);
    LinearSGDModel trained =
        new LinearSGDTrainer(
                new LogMulticlass(), new AdaGrad(0.1, 0.1), 5, Integer.MAX_VALUE, 1, SEED)
            .train(fixed);
    Path tmp = file.resolveSibling(file.getFileName() + ".tmp");
    trained.saveONNXModel("dev.batchinference.runners.flink", 1, tmp);
    Files.move(tmp, file, java.nio.file.StandardCopyOption.REPLACE_EXISTING);
  }
}
