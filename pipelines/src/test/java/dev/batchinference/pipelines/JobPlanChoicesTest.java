package dev.batchinference.pipelines;

import static org.hamcrest.MatcherAssert.assertThat;
import static org.hamcrest.Matchers.contains;
import static org.hamcrest.Matchers.endsWith;
import static org.hamcrest.Matchers.equalTo;
import static org.hamcrest.Matchers.instanceOf;

import dev.batchinference.pipelines.options.BatchInferenceOptions;
import dev.batchinference.pipelines.options.BigQueryIoOptions.TableWriteMethod;
import dev.batchinference.pipelines.sinks.Sink;
import dev.batchinference.transforms.io.ReadRecords;
import dev.batchinference.transforms.model.ModelFiles;
import dev.batchinference.transforms.testing.FashionMnist;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import org.apache.beam.sdk.io.gcp.testing.FakeBigQueryServices;
import org.apache.beam.sdk.io.gcp.testing.FakeDatasetService;
import org.apache.beam.sdk.io.gcp.testing.FakeJobService;
import org.apache.beam.sdk.options.PipelineOptionsFactory;
import org.junit.BeforeClass;
import org.junit.ClassRule;
import org.junit.Test;
import org.junit.rules.TemporaryFolder;
import org.junit.runner.RunWith;
import org.junit.runners.JUnit4;

/**
 * The plan decides once what every step does: which source, which sinks, which batching, which
 * settings go into a prediction. The steps only follow it.
 */
@RunWith(JUnit4.class)
public class JobPlanChoicesTest {

  @ClassRule public static final TemporaryFolder TMP = new TemporaryFolder();

  private static Path classifier;
  private static Path input;

  @BeforeClass
  public static void setUp() throws Exception {
    classifier = FashionMnist.trainedClassifier(TMP.getRoot().toPath(), 1000);
    Path dir = TMP.newFolder("in").toPath();
    input = dir.resolve("b.jsonl");
    Files.writeString(input, "{\"id\":\"a\",\"text\":\"hello\"}\n");
    Files.writeString(dir.resolve("a.jsonl"), "{\"id\":\"b\",\"text\":\"world\"}\n");
  }

  private static JobPlan plan(String... args) throws Exception {
    BatchInferenceOptions options =
        PipelineOptionsFactory.fromArgs(args).as(BatchInferenceOptions.class);
    if (List.of(args).stream().noneMatch(a -> a.startsWith("--input="))) {
      options.setInput(input.toString());
    }
    options.setOutput(TMP.newFolder().toString());
    return JobPlan.from(options);
  }

  @Test
  public void byDefaultFilesAreReadAndJsonLinesWrittenIntoTheOutputDirectory() throws Exception {
    JobPlan plan = plan();
    assertThat(
        plan.source(),
        equalTo(
            new Source.Files(
                input.toString(),
                ReadRecords.Format.JSONL,
                8L << 20,
                ReadRecords.DEFAULT_RANGE_BYTES,
                // The DirectRunner's: a range per core.
                Math.max(2, Runtime.getRuntime().availableProcessors()))));
    assertThat(plan.outputDirectory(), endsWith("/"));
    assertThat(
        plan.predictions(),
        equalTo(new Sink.JsonLinesFiles(plan.outputDirectory(), "predictions", false)));
    assertThat(
        plan.failures(),
        equalTo(new Sink.JsonLinesFiles(plan.outputDirectory(), "failures", false)));
    assertThat(plan.fileExtension(), equalTo("jsonl"));
    assertThat(plan.summaryTable().isPresent(), equalTo(false));
    assertThat(plan.previousPredictions().isPresent(), equalTo(false));
  }

  @Test
  public void parquetIsChosenForPredictionsAndFailures() throws Exception {
    JobPlan plan = plan("--outputFormat=PARQUET", "--singleOutputFile=true");
    assertThat(
        plan.predictions(),
        equalTo(new Sink.ParquetFiles(plan.outputDirectory(), "predictions", true)));
    assertThat(
        plan.failures(), equalTo(new Sink.ParquetFiles(plan.outputDirectory(), "failures", true)));
    assertThat(plan.fileExtension(), equalTo("parquet"));
  }

  @Test
  public void orderedOutputListsTheInputFilesByName() throws Exception {
    JobPlan plan = plan("--input=" + input.getParent() + "/*.jsonl", "--orderedOutput=true");
    assertThat(plan.predictions(), instanceOf(Sink.OrderedJsonLinesFiles.class));
    List<String> files = ((Sink.OrderedJsonLinesFiles) plan.predictions()).inputFiles();
    assertThat(files.size(), equalTo(2));
    assertThat(files.get(0), endsWith("a.jsonl"));
    assertThat(files.get(1), endsWith("b.jsonl"));
    // Failures keep no order.
    assertThat(plan.failures(), instanceOf(Sink.JsonLinesFiles.class));
  }

  @Test
  public void bigQueryTablesCarryTheirWriteSettings() throws Exception {
    BatchInferenceOptions options =
        PipelineOptionsFactory.fromArgs(
                "--outputTable=my-project:results.predictions",
                "--summaryTable=my-project:results.runs",
                "--bigQueryWriteMethod=STORAGE_WRITE_API")
            .as(BatchInferenceOptions.class);
    options.setInput(input.toString());
    options.setOutput(TMP.newFolder().toString());
    options.setBigQueryServices(
        new FakeBigQueryServices()
            .withDatasetService(new FakeDatasetService())
            .withJobService(new FakeJobService()));
    JobPlan plan = JobPlan.from(options);
    Sink.BigQueryTable table = (Sink.BigQueryTable) plan.predictions();
    assertThat(table.table(), equalTo("my-project:results.predictions"));
    assertThat(table.method(), equalTo(TableWriteMethod.STORAGE_WRITE_API));
    assertThat(table.loadTempLocation(), endsWith(".bigquery-load"));
    assertThat(plan.summaryTable().get().table(), equalTo("my-project:results.runs"));
    // Without --failuresTable, failures stay files in the output directory.
    assertThat(plan.failures(), instanceOf(Sink.JsonLinesFiles.class));
  }

  /**
   * The prediction settings, and so their hash in every prediction, are what they were before the
   * plan was split by task: an incremental run keeps reusing predictions written by older versions.
   */
  @Test
  public void textSettingsAreTheOptionsThatChangeAnEmbedding() throws Exception {
    JobPlan plan = plan("--carryFields=category");
    Map<String, String> expected = new TreeMap<>();
    expected.put("task", "EMBED");
    expected.put("outputs", "null");
    expected.put("carryFields", "[category]");
    expected.put(
        "tokenizer_sha256",
        ModelFiles.currentSha256("classpath:all-minilm-l6-v2-q-tokenizer.json"));
    expected.put("textField", "text");
    expected.put("maxSequenceLength", "256");
    expected.put("truncate", "true");
    expected.put("normalize", "true");
    expected.put("embeddingOutput", "last_hidden_state");
    assertThat(plan.settings(), equalTo(expected));
    assertThat(plan.settingsSha256(), equalTo(JobPlan.settingsSha256(expected)));
    assertThat(plan.rows().settingsSha256(), equalTo(plan.settingsSha256()));
  }

  @Test
  public void classifierSettingsAreTheOptionsThatChangeAClass() throws Exception {
    JobPlan plan =
        plan("--task=CLASSIFY", "--model=" + classifier, "--topK=2", "--activation=SOFTMAX");
    Map<String, String> expected = new TreeMap<>();
    expected.put("task", "CLASSIFY");
    expected.put("outputs", "null");
    expected.put("carryFields", "null");
    expected.put("featuresField", "features");
    expected.put("featureColumns", "null");
    expected.put("activation", "SOFTMAX");
    expected.put("topK", "2");
    assertThat(plan.settings(), equalTo(expected));
  }

  @Test
  public void batchingDefaultsFollowTheTask() throws Exception {
    JobPlan text = plan("--batchSize=16");
    assertThat(text.batching().maxBatchWeight(), equalTo(512L));
    assertThat(text.batching().weightBuckets(), contains(16L, 24L, 32L, 48L, 64L, 96L, 128L, 192L));
    JobPlan classify = plan("--task=CLASSIFY", "--model=" + classifier, "--batchSize=16");
    assertThat(classify.batching().maxBatchWeight(), equalTo(0L));
    assertThat(classify.batching().weightBuckets(), equalTo(List.of()));
  }

  @Test
  public void workersInThisJvmShareTheCoresBetweenTheirSessions() {
    int cores = Runtime.getRuntime().availableProcessors();
    int workers = Math.max(2, cores);
    assertThat(
        ModelPlan.sessionConfig(options("--runner=DirectRunner")).intraOpThreads(),
        equalTo(Math.max(1, cores / workers)));
    // Set by the user: taken as it is.
    assertThat(
        ModelPlan.sessionConfig(options("--runner=DirectRunner", "--intraOpThreads=3"))
            .intraOpThreads(),
        equalTo(3));
    // A GPU session, or workers elsewhere (unknown runner here): ONNX Runtime's own default.
    assertThat(
        ModelPlan.sessionConfig(options("--runner=DirectRunner", "--executionProvider=CUDA"))
            .intraOpThreads(),
        equalTo(0));
  }

  private static BatchInferenceOptions options(String... args) {
    return PipelineOptionsFactory.fromArgs(args).as(BatchInferenceOptions.class);
  }
}
