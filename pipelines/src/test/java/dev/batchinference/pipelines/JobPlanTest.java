package dev.batchinference.pipelines;

import static org.hamcrest.MatcherAssert.assertThat;
import static org.hamcrest.Matchers.containsString;
import static org.hamcrest.Matchers.emptyArray;
import static org.hamcrest.Matchers.equalTo;
import static org.junit.Assert.assertThrows;

import dev.batchinference.pipelines.options.BatchInferenceOptions;
import dev.batchinference.pipelines.options.InvalidJobException;
import dev.batchinference.transforms.onnx.SessionConfig;
import dev.batchinference.transforms.testing.BreastCancer;
import dev.batchinference.transforms.testing.FashionMnist;
import java.io.File;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Random;
import org.apache.beam.sdk.Pipeline;
import org.apache.beam.sdk.options.PipelineOptionsFactory;
import org.junit.BeforeClass;
import org.junit.ClassRule;
import org.junit.Test;
import org.junit.rules.TemporaryFolder;
import org.junit.runner.RunWith;
import org.junit.runners.JUnit4;

/** A job that can never work fails before it reads data, with a message that says what to fix. */
@RunWith(JUnit4.class)
public class JobPlanTest {

  @ClassRule public static final TemporaryFolder TMP = new TemporaryFolder();

  private static Path classifier;
  private static Path input;

  @BeforeClass
  public static void setUp() throws Exception {
    classifier = FashionMnist.trainedClassifier(TMP.getRoot().toPath(), 1000);
    input = TMP.getRoot().toPath().resolve("in.jsonl");
    Files.writeString(input, "{\"id\":\"a\",\"text\":\"hello\"}\n");
  }

  private static BatchInferenceOptions options(String... args) throws Exception {
    BatchInferenceOptions options =
        PipelineOptionsFactory.fromArgs(args).as(BatchInferenceOptions.class);
    if (!List.of(args).stream().anyMatch(a -> a.startsWith("--input="))) {
      options.setInput(input.toString());
    }
    if (!List.of(args).stream().anyMatch(a -> a.startsWith("--output="))) {
      options.setOutput(TMP.newFolder().toString());
    }
    return options;
  }

  private static String failure(BatchInferenceOptions options) {
    Pipeline pipeline = Pipeline.create(options);
    InvalidJobException e =
        assertThrows(InvalidJobException.class, () -> BatchInference.build(pipeline, options));
    return e.getMessage();
  }

  @Test
  public void missingModel() throws Exception {
    String message = failure(options("--model=/nonexistent/model.onnx"));
    assertThat(message, containsString("/nonexistent/model.onnx"));
    assertThat(message, containsString("Check --model"));
  }

  @Test
  public void corruptModel() throws Exception {
    Path corrupt = TMP.newFile("corrupt.onnx").toPath();
    byte[] junk = new byte[4096];
    new Random(7).nextBytes(junk);
    Files.write(corrupt, junk);
    String message = failure(options("--model=" + corrupt));
    assertThat(message, containsString("ONNX Runtime cannot load the model at " + corrupt));
  }

  @Test
  public void bigQueryInputTakesATableOrAQueryAndAnIdColumn() throws Exception {
    assertThat(
        failure(options("--inputTable=my-project:nightly.docs", "--inputQuery=SELECT 1")),
        containsString("--inputTable and --inputQuery are both set"));
    assertThat(
        failure(options("--inputTable=just-a-name")),
        containsString("--inputTable=just-a-name is not a table"));
    assertThat(
        failure(options("--inputTable=my-project:nightly.docs", "--idField=")),
        containsString("set --idField to a column"));
  }

  @Test
  public void tablesAreCheckedBeforeReading() throws Exception {
    assertThat(
        failure(options("--outputTable=nodataset")),
        containsString("--outputTable=nodataset is not a table"));
    String loads =
        failure(
            options("--outputTable=my-project:nightly.out", "--output=" + TMP.newFolder("local")));
    assertThat(loads, containsString("FILE_LOADS stages load files in Cloud Storage"));
    assertThat(loads, containsString("--tempLocation=gs://"));
  }

  @Test
  public void inputThatMatchesNothing() throws Exception {
    String message = failure(options("--input=/nonexistent/dir/*.jsonl"));
    assertThat(message, containsString("--input=/nonexistent/dir/*.jsonl matches no file"));
  }

  @Test(timeout = 20_000)
  public void missingFilesAtTheRootFailAtOnce() throws Exception {
    // Beam's local matcher would walk all of "/" looking for these as patterns.
    assertThat(
        failure(options("--input=/missing-input.jsonl")),
        containsString("--input=/missing-input.jsonl matches no file"));
    assertThat(
        failure(options("--model=/missing-model.onnx")),
        containsString("No file at /missing-model.onnx"));
  }

  @Test
  public void outputThatCannotBeWritten() throws Exception {
    File file = TMP.newFile("a-file");
    String message = failure(options("--output=" + file + "/out"));
    assertThat(message, containsString("Cannot write to --output=" + file + "/out"));
    assertThat(
        "nothing was created", new File(file + "/out").exists(), org.hamcrest.Matchers.is(false));
  }

  @Test
  public void textTaskOnAClassifier() throws Exception {
    String message = failure(options("--model=" + classifier, "--embeddingOutput=output"));
    assertThat(
        message, containsString("takes input 'input', which text tokenization does not produce"));
  }

  @Test
  public void embeddingOutputThatDoesNotExist() throws Exception {
    String message = failure(options("--embeddingOutput=pooled"));
    assertThat(message, containsString("has no output 'pooled'"));
    assertThat(message, containsString("last_hidden_state"));
  }

  @Test
  public void classifyOnATextModel() throws Exception {
    String message = failure(options("--task=CLASSIFY"));
    assertThat(message, containsString("Feature vectors feed models with one input"));
  }

  @Test
  public void labelsThatDoNotMatchTheClasses() throws Exception {
    Path labels = TMP.newFile("three-labels.txt").toPath();
    Files.writeString(labels, "a\nb\nc\n");
    String message =
        failure(options("--task=CLASSIFY", "--model=" + classifier, "--classLabels=" + labels));
    assertThat(
        message,
        containsString("The labels list has 3 names but model output 'output' has 10 classes"));
  }

  @Test
  public void aBinaryClassifierTakesExactlyTwoLabels() throws Exception {
    Path binary = BreastCancer.trainedClassifier(TMP.getRoot().toPath());
    Path labels = TMP.newFile("three-classes.txt").toPath();
    Files.writeString(labels, "malignant\nbenign\nunknown\n");
    Path out = TMP.newFolder().toPath();
    String message =
        failure(
            options(
                "--task=CLASSIFY",
                "--model=" + binary,
                "--classLabels=" + labels,
                "--output=" + out));
    assertThat(
        message,
        containsString(
            "Model output 'output' has one column, the probability of class 1 of a binary"
                + " classifier, so the labels list needs exactly 2 names (class 0, then class 1),"
                + " but it has 3. Check --classLabels."));
    assertThat("refused before writing anything", out.toFile().list(), emptyArray());
  }

  @Test
  public void missingTokenizer() throws Exception {
    String message = failure(options("--tokenizer=/nonexistent/tokenizer.json"));
    assertThat(message, containsString("Cannot load the tokenizer at /nonexistent/tokenizer.json"));
  }

  @Test
  public void cudaOnTheCpuBuild() throws Exception {
    BatchInferenceOptions options = options();
    options.setExecutionProvider(SessionConfig.Provider.CUDA);
    String message = failure(options);
    assertThat(message, containsString("-Pgpu"));
  }

  @Test
  public void carriedFieldThatClashesWithAPredictionField() throws Exception {
    String message = failure(options("--carryFields=category,embedding"));
    assertThat(message, containsString("--carryFields names 'embedding'"));
  }

  @Test
  public void textBatchesHaveATokenBudgetThatNoTruncatedTextExceeds() throws Exception {
    assertThat(Batching.from(options()).maxBatchWeight(), equalTo(32L * 32));
    assertThat(Batching.from(options("--batchSize=4")).maxBatchWeight(), equalTo(256L));
    assertThat(
        Batching.from(options("--batchSize=4", "--maxSequenceLength=512")).maxBatchWeight(),
        equalTo(512L));
    assertThat(Batching.from(options("--maxBatchWeight=0")).maxBatchWeight(), equalTo(0L));
    assertThat(Batching.from(options("--task=CLASSIFY")).maxBatchWeight(), equalTo(0L));
  }

  @Test
  public void textsAreBucketedByLengthUnlessTurnedOff() throws Exception {
    assertThat(
        Batching.from(options()).weightBuckets(),
        org.hamcrest.Matchers.contains(16L, 24L, 32L, 48L, 64L, 96L, 128L, 192L));
    assertThat(
        Batching.from(options("--lengthBuckets=0")).weightBuckets(), org.hamcrest.Matchers.empty());
    assertThat(
        Batching.from(options("--lengthBuckets=10,20")).weightBuckets(),
        org.hamcrest.Matchers.contains(10L, 20L));
    assertThat(
        Batching.from(options("--task=CLASSIFY")).weightBuckets(), org.hamcrest.Matchers.empty());
  }

  @Test
  public void thePortableRunnerIsRefused() throws Exception {
    BatchInferenceOptions options = options();
    options.setRunner(dev.batchinference.pipelines.testing.PortableRunner.class);
    String message = failure(options);
    assertThat(message, containsString("--runner=PortableRunner is not supported"));
    assertThat(message, containsString("--runner=FlinkRunner"));
  }

  @Test
  public void nothingIsWrittenWhenTheJobCannotStart() throws Exception {
    File out = TMP.newFolder("untouched");
    failure(options("--model=/nonexistent/model.onnx", "--output=" + out));
    assertThat(out.list(), emptyArray());
  }
}
