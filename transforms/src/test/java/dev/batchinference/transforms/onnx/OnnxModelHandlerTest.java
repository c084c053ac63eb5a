package dev.batchinference.transforms.onnx;

import static org.hamcrest.MatcherAssert.assertThat;
import static org.hamcrest.Matchers.closeTo;
import static org.hamcrest.Matchers.contains;
import static org.hamcrest.Matchers.containsString;
import static org.hamcrest.Matchers.equalTo;
import static org.hamcrest.Matchers.greaterThan;
import static org.hamcrest.Matchers.hasSize;
import static org.hamcrest.Matchers.not;
import static org.junit.Assert.assertThrows;

import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtProvider;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.batchinference.transforms.Prediction;
import dev.batchinference.transforms.RecordMeta;
import dev.batchinference.transforms.model.LoadedModel;
import dev.batchinference.transforms.model.ModelFiles;
import dev.batchinference.transforms.model.ModelIdentity;
import dev.batchinference.transforms.model.ModelSignature;
import dev.batchinference.transforms.model.SharedResources;
import dev.batchinference.transforms.postprocess.MeanPooledEmbedding;
import dev.batchinference.transforms.preprocess.TextTokenizer;
import dev.batchinference.transforms.tensor.Tensor;
import dev.batchinference.transforms.tensor.TensorExample;
import dev.batchinference.transforms.tensor.TensorSpec;
import dev.batchinference.transforms.testing.FashionMnist;
import dev.batchinference.transforms.testing.Fortunes;
import dev.batchinference.transforms.testing.TestModels;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.stream.Collectors;
import org.junit.AfterClass;
import org.junit.Assume;
import org.junit.BeforeClass;
import org.junit.ClassRule;
import org.junit.Test;
import org.junit.rules.TemporaryFolder;
import org.junit.runner.RunWith;
import org.junit.runners.JUnit4;

/**
 * Tests of {@link OnnxModelHandler} and {@link OnnxModel} on the Fashion-MNIST classifier and
 * MiniLM.
 */
@RunWith(JUnit4.class)
public class OnnxModelHandlerTest {

  @ClassRule public static final TemporaryFolder TMP = new TemporaryFolder();

  private static final ObjectMapper JSON = new ObjectMapper();

  private static Path classifierPath;
  private static LoadedModel<TensorExample, TensorExample> classifier;
  private static FashionMnist.Dataset test;

  @BeforeClass
  public static void loadClassifier() throws Exception {
    classifierPath = TestModels.classifier();
    classifier = OnnxModelHandler.of(classifierPath.toString()).load();
    test = FashionMnist.load(false, 500);
  }

  @AfterClass
  public static void closeClassifier() throws Exception {
    classifier.close();
  }

  private static int argmax(float[] values) {
    int best = 0;
    for (int i = 1; i < values.length; i++) {
      if (values[i] > values[best]) {
        best = i;
      }
    }
    return best;
  }

  @Test
  public void classifierIsAccurateOnTestImages() throws Exception {
    List<TensorExample> batch = new ArrayList<>();
    for (float[] image : test.images()) {
      batch.add(TestModels.image(image));
    }
    List<TensorExample> outputs = classifier.run(batch);
    assertThat("one output per example", outputs, hasSize(test.size()));
    int correct = 0;
    for (int i = 0; i < test.size(); i++) {
      Tensor scores = outputs.get(i).get(TestModels.CLASSIFIER_OUTPUT);
      assertThat("per-record output shape", scores.shape(), equalTo(new long[] {10}));
      if (argmax(scores.floats()) == test.labels()[i]) {
        correct++;
      }
    }
    assertThat("accuracy on 500 test images", correct / (double) test.size(), greaterThan(0.7));
  }

  @Test
  public void batchOutputsEqualOneByOneOutputs() throws Exception {
    List<TensorExample> batch = new ArrayList<>();
    for (int i = 0; i < 17; i++) {
      batch.add(TestModels.image(test.images()[i]));
    }
    List<TensorExample> together = classifier.run(batch);
    for (int i = 0; i < batch.size(); i++) {
      float[] alone = classifier.run(List.of(batch.get(i))).get(0).get("output").floats();
      float[] inBatch = together.get(i).get("output").floats();
      for (int c = 0; c < alone.length; c++) {
        assertThat("record " + i + " class " + c, (double) inBatch[c], closeTo(alone[c], 1e-5));
      }
    }
  }

  @Test
  public void exampleThatContradictsTheModelInputFailsItsBatch() {
    TensorExample good = TestModels.image(test.images()[0]);
    TensorExample shortVector = TensorExample.of("input", Tensor.vector(new float[10]));
    Exception shape =
        assertThrows(
            IllegalArgumentException.class, () -> classifier.run(List.of(good, shortVector)));
    assertThat(
        "a fixed dimension is not zero-padded",
        shape.getMessage(),
        equalTo(
            "Model input 'input' has shape [-1, 784] (with the batch dimension); the example's shape is [10]"));

    TensorExample doubles = TensorExample.of("input", Tensor.ofDoubles(new double[784], 784));
    Exception dtype =
        assertThrows(IllegalArgumentException.class, () -> classifier.run(List.of(good, doubles)));
    assertThat(
        dtype.getMessage(), equalTo("Model input 'input' takes FLOAT, the example has DOUBLE"));

    TensorExample matrix = TensorExample.of("input", Tensor.ofFloats(new float[784], 28, 28));
    Exception rank =
        assertThrows(IllegalArgumentException.class, () -> classifier.run(List.of(good, matrix)));
    assertThat(rank.getMessage(), containsString("the example's shape is [28, 28]"));

    TensorExample misnamed = TensorExample.of("pixels", Tensor.vector(new float[784]));
    Exception name =
        assertThrows(IllegalArgumentException.class, () -> classifier.run(List.of(good, misnamed)));
    assertThat(name.getMessage(), containsString("no tensor named 'input'"));
  }

  @Test
  public void paddedTextBatchGivesTheEmbeddingsOfEachTextAlone() throws Exception {
    List<String> texts =
        Fortunes.load(3).stream()
            .map(Fortunes.Fortune::text)
            .filter(t -> t.length() < 400)
            .sorted(Comparator.comparingInt(String::length))
            .collect(Collectors.toList());
    List<String> chosen =
        List.of("Hello.", texts.get(0), texts.get(texts.size() / 2), texts.get(texts.size() - 1));
    TextTokenizer tokenizer = TextTokenizer.of(TestModels.MINILM_TOKENIZER);
    MeanPooledEmbedding pooling = MeanPooledEmbedding.of();
    tokenizer.setup();
    try (LoadedModel<TensorExample, TensorExample> model =
        OnnxModelHandler.of(TestModels.MINILM).load()) {
      List<TensorExample> examples = new ArrayList<>();
      for (String text : chosen) {
        ObjectNode record = JSON.createObjectNode().put("text", text);
        examples.add(tokenizer.apply(record));
      }
      List<Long> lengths =
          examples.stream()
              .map(e -> e.get(TextTokenizer.INPUT_IDS).dim(0))
              .collect(Collectors.toList());
      assertThat(
          "the texts have different token counts",
          lengths.stream().distinct().count(),
          equalTo(4L));

      List<TensorExample> outputs = model.run(examples);
      long longest = lengths.stream().mapToLong(Long::longValue).max().getAsLong();
      for (int i = 0; i < examples.size(); i++) {
        assertThat(
            "batch output is padded to the longest text",
            outputs.get(i).get(MeanPooledEmbedding.DEFAULT_OUTPUT).shape(),
            equalTo(new long[] {longest, 384}));
        float[] inBatch = embed(pooling, examples.get(i), outputs.get(i));
        float[] alone = embed(pooling, examples.get(i), model.run(List.of(examples.get(i))).get(0));
        assertThat(
            "embedding of text " + i + " (" + lengths.get(i) + " tokens) in a padded batch",
            cosine(inBatch, alone),
            greaterThan(0.97));
      }
    } finally {
      tokenizer.teardown();
    }
  }

  private static float[] embed(
      MeanPooledEmbedding pooling, TensorExample example, TensorExample output) throws Exception {
    Prediction.Builder b =
        Prediction.builder(RecordMeta.of("t", "s", 0, null), ModelIdentity.of("minilm", "0"));
    pooling.fill(example, output, b);
    return b.build().embedding();
  }

  static double cosine(float[] a, float[] b) {
    double dot = 0;
    double na = 0;
    double nb = 0;
    for (int i = 0; i < a.length; i++) {
      dot += a[i] * b[i];
      na += a[i] * a[i];
      nb += b[i] * b[i];
    }
    return dot / Math.sqrt(na * nb);
  }

  @Test
  public void inspectGivesTheSignature() throws Exception {
    byte[] bytes = Files.readAllBytes(classifierPath);
    ModelSignature signature = OnnxModelHandler.of(classifierPath.toString()).inspect();
    assertThat(
        "identity",
        signature.identity(),
        equalTo(
            ModelIdentity.of(
                ModelFiles.baseName(classifierPath.toString()), ModelFiles.sha256(bytes))));
    assertThat("byte size", signature.byteSize(), equalTo((long) bytes.length));
    assertThat("input names", signature.inputs().keySet(), contains("input"));
    assertThat(
        "input spec",
        signature.inputs().get("input"),
        equalTo(TensorSpec.of(Tensor.DType.FLOAT, -1, 784)));
    assertThat("output names", signature.outputs().keySet(), contains("output"));
    assertThat(
        "output spec",
        signature.outputs().get("output"),
        equalTo(TensorSpec.of(Tensor.DType.FLOAT, -1, 10)));

    ModelSignature text = OnnxModelHandler.of(TestModels.MINILM).withName("minilm").inspect();
    assertThat("model name", text.identity().name(), equalTo("minilm"));
    assertThat(
        "text inputs",
        text.inputs().keySet(),
        contains(
            TextTokenizer.INPUT_IDS, TextTokenizer.ATTENTION_MASK, TextTokenizer.TOKEN_TYPE_IDS));
    assertThat(
        "text output",
        text.outputs().get("last_hidden_state"),
        equalTo(TensorSpec.of(Tensor.DType.FLOAT, -1, -1, 384)));
  }

  @Test
  public void missingModelFailsNamingTheUri() {
    String uri = TMP.getRoot().toPath().resolve("no-such-model.onnx").toString();
    Exception e = assertThrows(Exception.class, () -> OnnxModelHandler.of(uri).load());
    assertThat(e.getMessage(), containsString("Cannot read the model at " + uri));

    Exception c =
        assertThrows(
            Exception.class, () -> OnnxModelHandler.of("classpath:no-such-model.onnx").load());
    assertThat(c.getMessage(), containsString("classpath:no-such-model.onnx"));
    assertThat(c.getMessage(), containsString("No resource 'no-such-model.onnx'"));
  }

  @Test
  public void corruptModelFailsNamingTheUri() throws Exception {
    byte[] junk = new byte[4096];
    new Random(7).nextBytes(junk);
    Path corrupt = Files.write(TMP.newFile("corrupt.onnx").toPath(), junk);
    Exception e =
        assertThrows(Exception.class, () -> OnnxModelHandler.of(corrupt.toString()).load());
    assertThat(
        e.getMessage(),
        containsString("ONNX Runtime cannot load the model at " + corrupt + " (4096 bytes)"));
    assertThat(e.getMessage(), containsString("Is it a valid ONNX model?"));
  }

  @Test
  public void unknownOutputFails() {
    OnnxModelHandler handler =
        OnnxModelHandler.of(classifierPath.toString()).withOutputs(List.of("output", "logits"));
    Exception e = assertThrows(IllegalArgumentException.class, handler::load);
    assertThat(e.getMessage(), containsString("has no output 'logits'; its outputs are [output]"));
    assertThat(e.getMessage(), containsString(classifierPath.toString()));
  }

  @Test
  public void expectedSha256MismatchFails() throws Exception {
    String actual = ModelFiles.sha256(Files.readAllBytes(classifierPath));
    String wrong = actual.replace(actual.charAt(0), actual.charAt(0) == 'a' ? 'b' : 'a');
    assertThat(wrong, not(equalTo(actual)));
    Exception e =
        assertThrows(
            IllegalStateException.class,
            () -> OnnxModelHandler.of(classifierPath.toString()).withExpectedSha256(wrong).load());
    assertThat(
        e.getMessage(),
        containsString("has SHA-256 " + actual + " but " + wrong + " was expected"));

    try (LoadedModel<TensorExample, TensorExample> ok =
        OnnxModelHandler.of(classifierPath.toString()).withExpectedSha256(actual).load()) {
      assertThat("the matching hash loads", ok.identity().sha256(), equalTo(actual));
    }
  }

  @Test
  public void cudaOnTheCpuBuildFailsPointingToTheGpuProfile() throws Exception {
    Assume.assumeFalse(
        "this ONNX Runtime build has CUDA",
        OrtEnvironment.getAvailableProviders().contains(OrtProvider.CUDA));
    OnnxModelHandler handler =
        OnnxModelHandler.of(classifierPath.toString())
            .withSessionConfig(SessionConfig.defaults().withCuda(0));
    Exception e = assertThrows(IllegalStateException.class, handler::load);
    assertThat(e.getMessage(), containsString("-Pgpu"));
  }

  @Test
  public void sessionConfigOptionsStillGiveTheSameOutputs() throws Exception {
    SessionConfig config =
        SessionConfig.defaults()
            .withIntraOpThreads(1)
            .withInterOpThreads(1)
            .withOptimization(SessionConfig.Optimization.NONE);
    assertThat(config.toString(), equalTo("intra=1,inter=1,opt=NONE,CPU"));
    List<TensorExample> batch =
        List.of(TestModels.image(test.images()[0]), TestModels.image(test.images()[1]));
    List<TensorExample> expected = classifier.run(batch);
    try (LoadedModel<TensorExample, TensorExample> model =
        OnnxModelHandler.of(classifierPath.toString()).withSessionConfig(config).load()) {
      List<TensorExample> actual = model.run(batch);
      for (int i = 0; i < batch.size(); i++) {
        float[] a = actual.get(i).get("output").floats();
        float[] e = expected.get(i).get("output").floats();
        for (int c = 0; c < a.length; c++) {
          assertThat("record " + i + " class " + c, (double) a[c], closeTo(e[c], 1e-5));
        }
      }
    }
  }

  @Test
  public void sessionConfigValuesAndChecks() {
    SessionConfig cuda = SessionConfig.defaults().withCuda(1);
    assertThat(cuda.toString(), equalTo("intra=0,inter=0,opt=ALL,CUDA:1"));
    assertThat(
        "withCpu goes back to the defaults", cuda.withCpu(), equalTo(SessionConfig.defaults()));
    assertThat(
        assertThrows(
                IllegalArgumentException.class,
                () -> SessionConfig.defaults().withIntraOpThreads(-1))
            .getMessage(),
        equalTo("intraOpThreads must be >= 0, got -1"));
    assertThat(
        assertThrows(IllegalArgumentException.class, () -> SessionConfig.defaults().withCuda(-1))
            .getMessage(),
        equalTo("CUDA device id must be >= 0, got -1"));
    assertThat(
        assertThrows(
                IllegalArgumentException.class,
                () -> OnnxModelHandler.of("m.onnx").withExpectedSha256("abc"))
            .getMessage(),
        equalTo("not a SHA-256: abc"));
  }

  @Test
  public void weightIsTheLargestTensorOfAnExample() {
    OnnxModelHandler handler = OnnxModelHandler.of(classifierPath.toString());
    assertThat("pixels", handler.weight(TestModels.image(test.images()[0])), equalTo(784L));
    TensorExample tokens =
        TensorExample.of(
            Map.of(
                TextTokenizer.INPUT_IDS, Tensor.vector(new long[5]),
                TextTokenizer.ATTENTION_MASK, Tensor.vector(new long[5])));
    assertThat("tokens", handler.weight(tokens), equalTo(5L));
  }

  @Test
  public void everyWithXChangesTheCacheKey() throws Exception {
    OnnxModelHandler base = OnnxModelHandler.of(classifierPath.toString());
    String sha = ModelFiles.sha256(Files.readAllBytes(classifierPath));
    assertThat(base.withOutputs(List.of("output")).cacheKey(), not(equalTo(base.cacheKey())));
    assertThat(
        base.withSessionConfig(SessionConfig.defaults().withIntraOpThreads(1)).cacheKey(),
        not(equalTo(base.cacheKey())));
    assertThat(base.withName("other").cacheKey(), not(equalTo(base.cacheKey())));
    assertThat(base.withExpectedSha256(sha).cacheKey(), not(equalTo(base.cacheKey())));
    assertThat(
        "equal handlers share",
        OnnxModelHandler.of(classifierPath.toString()).cacheKey(),
        equalTo(base.cacheKey()));
  }

  @Test
  public void aCachedModelIsNotSharedAcrossNamesOrExpectedHashes() throws Exception {
    OnnxModelHandler plain = OnnxModelHandler.of(classifierPath.toString()).withName("plain");
    String sha = ModelFiles.sha256(Files.readAllBytes(classifierPath));
    String wrong = sha.replace(sha.charAt(0), sha.charAt(0) == 'a' ? 'b' : 'a');
    try (SharedResources.Lease<LoadedModel<TensorExample, TensorExample>> open =
        SharedResources.acquire(plain.cacheKey(), plain::load)) {
      assertThat(
          "another name gets its own identity",
          plain.withName("renamed").inspect().identity().name(),
          equalTo("renamed"));
      Exception e =
          assertThrows(
              IllegalStateException.class, () -> plain.withExpectedSha256(wrong).inspect());
      assertThat(e.getMessage(), containsString("was expected"));
      assertThat("the open lease is untouched", open.get().identity().name(), equalTo("plain"));
    }
  }
}
