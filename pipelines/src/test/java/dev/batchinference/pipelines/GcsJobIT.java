package dev.batchinference.pipelines;

import static org.hamcrest.MatcherAssert.assertThat;
import static org.hamcrest.Matchers.equalTo;
import static org.hamcrest.Matchers.is;
import static org.hamcrest.Matchers.not;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.batchinference.pipelines.options.BatchInferenceOptions;
import dev.batchinference.pipelines.options.InvalidJobException;
import dev.batchinference.transforms.model.ModelFiles;
import dev.batchinference.transforms.testing.BreastCancer;
import dev.batchinference.transforms.testing.Fortunes;
import dev.batchinference.transforms.testing.ParquetFiles;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.channels.Channels;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import org.apache.avro.generic.GenericRecord;
import org.apache.beam.sdk.Pipeline;
import org.apache.beam.sdk.PipelineResult;
import org.apache.beam.sdk.io.FileSystems;
import org.apache.beam.sdk.io.fs.EmptyMatchTreatment;
import org.apache.beam.sdk.io.fs.MatchResult;
import org.apache.beam.sdk.io.fs.ResourceId;
import org.apache.beam.sdk.options.PipelineOptionsFactory;
import org.junit.AfterClass;
import org.junit.BeforeClass;
import org.junit.ClassRule;
import org.junit.Test;
import org.junit.rules.TemporaryFolder;
import org.junit.runner.RunWith;
import org.junit.runners.JUnit4;

/**
 * The job with everything in Cloud Storage (input pattern, output directory, model and tokenizer),
 * against the Cloud Storage emulator in {@code src/test/gcs-emulator} on loopback: Beam's real
 * {@code GcsFileSystem} and Google's client, talking HTTP to an emulator instead of Google.
 *
 * <p>Uses the emulator at {@code $GCS_EMULATOR_ENDPOINT} ({@code .ci/run} starts one), else starts
 * one itself.
 */
@RunWith(JUnit4.class)
public class GcsJobIT {

  @ClassRule public static final TemporaryFolder TMP = new TemporaryFolder();

  private static final ObjectMapper JSON = new ObjectMapper();
  private static final String BUCKET = "gs://nightly-scoring";
  private static final Path REPO = Paths.get(System.getProperty("user.dir")).getParent();
  private static final Path SCRIPT = REPO.resolve("src/test/gcs-emulator/emulator.sh");
  private static final Path EMULATOR_DIR =
      Paths.get(System.getProperty("user.dir"), "target", "gcs-emulator-it");

  private static String endpoint;
  private static boolean startedHere;
  private static List<Fortunes.Fortune> fortunes;

  @BeforeClass
  public static void startEmulatorAndUpload() throws Exception {
    // A model cache of this test's own: the default one in the temporary directory is shared.
    System.setProperty(
        ModelFiles.CACHE_PROPERTY, TMP.getRoot().toPath().resolve("model-cache").toString());
    endpoint = System.getenv("GCS_EMULATOR_ENDPOINT");
    if (endpoint == null || endpoint.isEmpty()) {
      endpoint = emulator("start", "14443").strip();
      startedHere = true;
    }
    FileSystems.setDefaultPipelineOptions(options());

    fortunes = Fortunes.load(8);
    Path local = TMP.getRoot().toPath();
    // Two input files, so the pattern matches more than one object.
    Fortunes.writeJsonLines(local.resolve("a.jsonl"), fortunes.subList(0, fortunes.size() / 2));
    Fortunes.writeJsonLines(
        local.resolve("b.jsonl"), fortunes.subList(fortunes.size() / 2, fortunes.size()));
    upload(Files.readAllBytes(local.resolve("a.jsonl")), BUCKET + "/in/part-a.jsonl");
    upload(Files.readAllBytes(local.resolve("b.jsonl")), BUCKET + "/in/part-b.jsonl");
    upload(
        ModelFiles.readAll("classpath:all-minilm-l6-v2-q.onnx"),
        BUCKET + "/models/minilm-int8.onnx");
    upload(
        ModelFiles.readAll("classpath:all-minilm-l6-v2-q-tokenizer.json"),
        BUCKET + "/models/tokenizer.json");
  }

  @AfterClass
  public static void stopEmulator() throws Exception {
    System.clearProperty(ModelFiles.CACHE_PROPERTY);
    if (startedHere) {
      emulator("stop");
    }
  }

  private static String emulator(String... args) throws Exception {
    List<String> command = new ArrayList<>(List.of("bash", SCRIPT.toString()));
    command.addAll(List.of(args));
    ProcessBuilder pb = new ProcessBuilder(command).redirectErrorStream(true);
    pb.environment().put("GCS_EMULATOR_DIR", EMULATOR_DIR.toString());
    Process p = pb.start();
    String output = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    if (!p.waitFor(5, TimeUnit.MINUTES) || p.exitValue() != 0) {
      throw new IllegalStateException("emulator.sh " + String.join(" ", args) + ": " + output);
    }
    String[] lines = output.strip().split("\n");
    return lines[lines.length - 1];
  }

  private static BatchInferenceOptions options(String... args) {
    List<String> all = new ArrayList<>(List.of(args));
    all.add("--gcsEndpoint=" + endpoint);
    all.add(
        "--credentialFactoryClass=org.apache.beam.sdk.extensions.gcp.auth.NoopCredentialFactory");
    all.add("--project=batch-inference-test");
    all.add("--blockOnRun=false");
    all.add("--targetParallelism=2");
    PipelineOptionsFactory.register(BatchInferenceOptions.class);
    return PipelineOptionsFactory.fromArgs(all.toArray(new String[0]))
        .withValidation()
        .as(BatchInferenceOptions.class);
  }

  private static void upload(byte[] bytes, String uri) throws IOException {
    ResourceId id = FileSystems.matchNewResource(uri, false);
    try (OutputStream out =
        Channels.newOutputStream(FileSystems.create(id, "application/octet-stream"))) {
      out.write(bytes);
    }
  }

  private static byte[] download(ResourceId id) throws IOException {
    try (InputStream in = Channels.newInputStream(FileSystems.open(id))) {
      ByteArrayOutputStream out = new ByteArrayOutputStream();
      in.transferTo(out);
      return out.toByteArray();
    }
  }

  private static List<MatchResult.Metadata> match(String pattern) throws IOException {
    MatchResult result = FileSystems.match(pattern, EmptyMatchTreatment.ALLOW);
    return result.status() == MatchResult.Status.OK ? result.metadata() : List.of();
  }

  private static PipelineResult.State run(BatchInferenceOptions options) {
    // Pipeline.create, not TestPipeline: TestPipeline drops gcsEndpoint from the options.
    Pipeline pipeline = Pipeline.create(options);
    BatchInference.build(pipeline, options);
    return pipeline.run().waitUntilFinish();
  }

  @Test
  public void embedsFromCloudStorageToCloudStorageWithACachedModel() throws Exception {
    String modelUri = BUCKET + "/models/minilm-int8.onnx";
    BatchInferenceOptions options =
        options(
            "--input=" + BUCKET + "/in/*.jsonl",
            "--output=" + BUCKET + "/out/jsonl/",
            "--model=" + modelUri,
            "--tokenizer=" + BUCKET + "/models/tokenizer.json",
            "--carryFields=category");
    assertThat(run(options), equalTo(PipelineResult.State.DONE));

    List<JsonNode> predictions = new ArrayList<>();
    for (MatchResult.Metadata file : match(BUCKET + "/out/jsonl/predictions*.jsonl")) {
      for (String line :
          new String(download(file.resourceId()), StandardCharsets.UTF_8).split("\n")) {
        if (!line.isEmpty()) {
          predictions.add(JSON.readTree(line));
        }
      }
    }
    assertThat(predictions.size(), equalTo(fortunes.size()));
    Set<String> ids = new HashSet<>();
    for (JsonNode p : predictions) {
      ids.add(p.get("id").asText());
      assertThat(p.get("embedding").size(), equalTo(384));
      assertThat(p.get("source").asText().startsWith(BUCKET + "/in/part-"), is(true));
      assertThat(p.get("model_name").asText(), equalTo("minilm-int8"));
    }
    assertThat(ids.size(), equalTo(fortunes.size()));

    JsonNode summary =
        JSON.readTree(
            download(FileSystems.matchNewResource(BUCKET + "/out/jsonl/summary.json", false)));
    assertThat(summary.get("nothing_lost").asBoolean(), is(true));
    assertThat(summary.get("model").get("uri").asText(), equalTo(modelUri));
    String sha = summary.get("model").get("sha256").asText();
    assertThat(
        sha, equalTo(ModelFiles.sha256(ModelFiles.readAll("classpath:all-minilm-l6-v2-q.onnx"))));
    assertThat(
        "the tokenizer is pinned too",
        summary.get("model").get("tokenizer_sha256").asText(),
        equalTo(
            ModelFiles.sha256(ModelFiles.readAll("classpath:all-minilm-l6-v2-q-tokenizer.json"))));

    // The workers read the model from the local cache, checked against the job's hash.
    Path cached = ModelFiles.cached(modelUri, sha);
    assertThat(ModelFiles.sha256(cached), equalTo(sha));
    long cachedAt = Files.getLastModifiedTime(cached).toMillis();

    // A second run, with Parquet output, finds the model in the cache and does not fetch it again.
    BatchInferenceOptions parquet =
        options(
            "--input=" + BUCKET + "/in/*.jsonl",
            "--output=" + BUCKET + "/out/parquet/",
            "--outputFormat=PARQUET",
            "--singleOutputFile=true",
            "--model=" + modelUri,
            "--tokenizer=" + BUCKET + "/models/tokenizer.json");
    assertThat(run(parquet), equalTo(PipelineResult.State.DONE));
    assertThat(Files.getLastModifiedTime(cached).toMillis(), equalTo(cachedAt));

    List<MatchResult.Metadata> files = match(BUCKET + "/out/parquet/predictions*.parquet");
    assertThat(files.size(), equalTo(1));
    Path local = TMP.getRoot().toPath().resolve("predictions.parquet");
    Files.write(local, download(files.get(0).resourceId()));
    List<GenericRecord> rows = ParquetFiles.read(local);
    assertThat(rows.size(), equalTo(fortunes.size()));
    assertThat(((List<?>) rows.get(0).get("embedding")).size(), equalTo(384));
  }

  @Test
  public void aModelReplacedInPlaceIsFetchedAgainAndPinned() throws Exception {
    BreastCancer.Dataset data = BreastCancer.load();
    Path local = TMP.newFolder("binary").toPath();
    BreastCancer.writeJsonLines(
        local.resolve("tumours.jsonl"), data, BreastCancer.TRAINING_RECORDS, data.size());
    upload(Files.readAllBytes(local.resolve("tumours.jsonl")), BUCKET + "/bc/in/tumours.jsonl");
    upload(
        (String.join("\n", BreastCancer.LABELS) + "\n").getBytes(StandardCharsets.UTF_8),
        BUCKET + "/bc/labels.txt");
    String modelUri = BUCKET + "/bc/model.onnx";
    byte[] first = Files.readAllBytes(BreastCancer.trainedClassifier(local));
    upload(first, modelUri);

    Map<String, Integer> before = classify(modelUri, BUCKET + "/bc/out-1/", first);

    // Replaced in place by a model of the same size that predicts the other class everywhere:
    // only the checksum tells the two apart.
    byte[] second = BreastCancer.invertedClassifier();
    assertThat(second.length, equalTo(first.length));
    assertThat(ModelFiles.sha256(second), not(equalTo(ModelFiles.sha256(first))));
    upload(second, modelUri);

    Map<String, Integer> after = classify(modelUri, BUCKET + "/bc/out-2/", second);
    assertThat(after.keySet(), equalTo(before.keySet()));
    for (Map.Entry<String, Integer> e : before.entrySet()) {
      assertThat(
          "the new model's class for " + e.getKey(),
          after.get(e.getKey()),
          equalTo(1 - e.getValue()));
    }

    Path cache = ModelFiles.cacheDirectory();
    assertThat(
        "the cache is private",
        PosixFilePermissions.toString(Files.getPosixFilePermissions(cache)),
        equalTo("rwx------"));
  }

  /**
   * Runs CLASSIFY on the tumours with the model at {@code modelUri}, checks that the job pinned and
   * ran {@code expected}, and returns each record's class index.
   */
  private static Map<String, Integer> classify(String modelUri, String output, byte[] expected)
      throws Exception {
    BatchInferenceOptions options =
        options(
            "--task=CLASSIFY",
            "--input=" + BUCKET + "/bc/in/*.jsonl",
            "--output=" + output,
            "--model=" + modelUri,
            "--classLabels=" + BUCKET + "/bc/labels.txt");
    assertThat(run(options), equalTo(PipelineResult.State.DONE));
    JsonNode summary =
        JSON.readTree(download(FileSystems.matchNewResource(output + "summary.json", false)));
    assertThat(summary.get("nothing_lost").asBoolean(), is(true));
    assertThat(
        "the job pinned the model as it is now",
        summary.get("model").get("sha256").asText(),
        equalTo(ModelFiles.sha256(expected)));
    assertThat(
        summary.get("model").get("class_labels_sha256").asText(),
        equalTo(
            ModelFiles.sha256(
                (String.join("\n", BreastCancer.LABELS) + "\n").getBytes(StandardCharsets.UTF_8))));
    Map<String, Integer> classes = new HashMap<>();
    for (MatchResult.Metadata file : match(output + "predictions*.jsonl")) {
      for (String line :
          new String(download(file.resourceId()), StandardCharsets.UTF_8).split("\n")) {
        if (!line.isEmpty()) {
          JsonNode p = JSON.readTree(line);
          assertThat(p.get("model_sha256").asText(), equalTo(ModelFiles.sha256(expected)));
          classes.put(p.get("id").asText(), p.get("label_index").asInt());
        }
      }
    }
    assertThat(classes.size(), equalTo(569 - BreastCancer.TRAINING_RECORDS));
    return classes;
  }

  @Test
  public void aMissingInputFailsBeforeReading() {
    BatchInferenceOptions options =
        options("--input=" + BUCKET + "/no-such-dir/*.jsonl", "--output=" + BUCKET + "/out/x/");
    try {
      BatchInference.build(Pipeline.create(options), options);
      throw new AssertionError("expected the job to be refused");
    } catch (InvalidJobException e) {
      assertThat(e.getMessage().contains("matches no file"), is(true));
    }
  }
}
