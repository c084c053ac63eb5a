package dev.batchinference.transforms.model;

import static org.hamcrest.MatcherAssert.assertThat;
import static org.hamcrest.Matchers.containsString;
import static org.hamcrest.Matchers.equalTo;
import static org.junit.Assert.assertThrows;

import java.io.FileNotFoundException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
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

  @Test
  public void anUnpinnedCachedCopyIsNotTrustedWithoutTheSourcesChecksum() throws Exception {
    Path cache = tmp.getRoot().toPath().resolve("cache");
    System.setProperty(ModelFiles.CACHE_PROPERTY, cache.toString());
    try {
      // Before a launcher has pinned a file, a cached copy is used only when its size and MD5
      // match the source's current metadata (GcsJobIT replaces a gs:// model in place). A source
      // with no checksum to compare, like this classpath resource, is fetched again: a stale copy
      // (here: a copy that no longer matches) is never taken for the current file.
      byte[] content = ModelFiles.readAll(TOKENIZER);
      Path copy = ModelFiles.cached(TOKENIZER, null);
      Files.write(copy, new byte[] {9});
      assertThat(Files.readAllBytes(ModelFiles.cached(TOKENIZER, null)), equalTo(content));
      assertThat(ModelFiles.currentSha256(TOKENIZER), equalTo(ModelFiles.sha256(content)));
    } finally {
      System.clearProperty(ModelFiles.CACHE_PROPERTY);
    }
  }

  @Test
  public void theCacheDirectoryIsPrivate() throws Exception {
    Path fresh = tmp.getRoot().toPath().resolve("new-cache");
    Path open = tmp.newFolder("open-cache").toPath();
    Files.setPosixFilePermissions(open, PosixFilePermissions.fromString("rwxr-xr-x"));
    for (Path cache : new Path[] {fresh, open}) {
      System.setProperty(ModelFiles.CACHE_PROPERTY, cache.toString());
      try {
        ModelFiles.cached(TOKENIZER, null);
        assertThat(
            cache + " is readable by its owner only",
            PosixFilePermissions.toString(Files.getPosixFilePermissions(cache)),
            equalTo("rwx------"));
      } finally {
        System.clearProperty(ModelFiles.CACHE_PROPERTY);
      }
    }
  }

  @Test
  public void aLocalCopyMustHaveThePinnedHash() throws Exception {
    Path file = Files.writeString(tmp.newFile("tokenizer.json").toPath(), "{}");
    String pinned = ModelFiles.currentSha256(file.toString());
    assertThat(ModelFiles.localCopy(file.toString(), pinned), equalTo(file));
    Files.writeString(file, "{\"changed\": true}");
    java.io.IOException e =
        assertThrows(
            java.io.IOException.class, () -> ModelFiles.localCopy(file.toString(), pinned));
    assertThat(e.getMessage(), containsString("the file changed since the job was launched"));
    assertThat(
        ModelFiles.currentSha256(TOKENIZER),
        equalTo(ModelFiles.sha256(ModelFiles.readAll(TOKENIZER))));
  }
}
