package dev.batchinference.transforms.model;

import static org.hamcrest.MatcherAssert.assertThat;
import static org.hamcrest.Matchers.containsString;
import static org.hamcrest.Matchers.equalTo;
import static org.junit.Assert.assertThrows;

import java.io.FileNotFoundException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.Rule;
import org.junit.Test;
import org.junit.rules.TemporaryFolder;
import org.junit.runner.RunWith;
import org.junit.runners.JUnit4;

/** Tests of {@link ModelFiles}. */
@RunWith(JUnit4.class)
public class ModelFilesTest {

  @Rule public final TemporaryFolder tmp = new TemporaryFolder();

  private static final String TOKENIZER = "classpath:all-minilm-l6-v2-q-tokenizer.json";

  @Test
  public void readsLocalFilesAndClasspathResources() throws Exception {
    Path file = Files.writeString(tmp.newFile("model.bin").toPath(), "abc");
    assertThat(
        new String(ModelFiles.readAll(file.toString()), StandardCharsets.UTF_8), equalTo("abc"));
    assertThat(
        "a local path is used in place", ModelFiles.localCopy(file.toString()), equalTo(file));

    byte[] tokenizer = ModelFiles.readAll(TOKENIZER);
    Path copy = ModelFiles.localCopy(TOKENIZER);
    assertThat("a resource is copied out", Files.readAllBytes(copy), equalTo(tokenizer));
    assertThat(copy.getFileName().toString(), containsString("all-minilm-l6-v2-q-tokenizer.json"));
  }

  @Test
  public void missingFilesFailNamingTheUri() {
    String missing = tmp.getRoot().toPath().resolve("missing.onnx").toString();
    assertThrows(FileNotFoundException.class, () -> ModelFiles.readAll(missing));
    Exception local =
        assertThrows(FileNotFoundException.class, () -> ModelFiles.localCopy(missing));
    assertThat(local.getMessage(), equalTo("No file at " + missing));
    Exception resource =
        assertThrows(FileNotFoundException.class, () -> ModelFiles.open("classpath:nope.onnx"));
    assertThat(
        resource.getMessage(),
        equalTo("No resource 'nope.onnx' on the classpath (from classpath:nope.onnx)"));
  }

  @Test
  public void sha256AndBaseName() {
    assertThat(
        ModelFiles.sha256("abc".getBytes(StandardCharsets.UTF_8)),
        equalTo("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"));
    assertThat(ModelFiles.baseName("gs://bucket/models/classifier.onnx"), equalTo("classifier"));
    assertThat(
        ModelFiles.baseName("classpath:all-minilm-l6-v2-q.onnx"), equalTo("all-minilm-l6-v2-q"));
    assertThat(ModelFiles.baseName("/tmp/model"), equalTo("model"));
  }
}
