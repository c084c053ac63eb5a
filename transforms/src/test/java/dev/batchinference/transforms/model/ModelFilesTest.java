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
  public void remoteFilesAreCachedOnceAndCheckedAgainstTheirHash() throws Exception {
    Path cache = tmp.newFolder("cache").toPath();
    System.setProperty(ModelFiles.CACHE_PROPERTY, cache.toString());
    try {
      // The cache works the same for any URI it is given; GcsJobIT uses it with gs:// models.
      byte[] content = ModelFiles.readAll(TOKENIZER);
      String sha = ModelFiles.sha256(content);

      Path first = ModelFiles.cached(TOKENIZER, sha);
      assertThat(first.getParent(), equalTo(cache));
      assertThat(Files.readAllBytes(first), equalTo(content));
      long modified = Files.getLastModifiedTime(first).toMillis();
      Thread.sleep(20);
      assertThat("the second call finds it", ModelFiles.cached(TOKENIZER, sha), equalTo(first));
      assertThat(Files.getLastModifiedTime(first).toMillis(), equalTo(modified));

      // A cached copy that no longer matches the pinned hash is fetched again.
      Files.write(first, new byte[] {9});
      assertThat(Files.readAllBytes(ModelFiles.cached(TOKENIZER, sha)), equalTo(content));

      // A source that does not have the pinned hash is refused, and nothing of it is kept.
      Files.delete(first);
      String other = ModelFiles.sha256(new byte[] {1});
      java.io.IOException changed =
          assertThrows(java.io.IOException.class, () -> ModelFiles.cached(TOKENIZER, other));
      assertThat(changed.getMessage(), containsString(other + " was expected"));
      try (java.util.stream.Stream<Path> left = Files.list(cache)) {
        assertThat("no partial or wrong copy stays", left.count(), equalTo(0L));
      }
    } finally {
      System.clearProperty(ModelFiles.CACHE_PROPERTY);
    }
  }

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
