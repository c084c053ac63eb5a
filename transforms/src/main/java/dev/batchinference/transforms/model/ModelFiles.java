package dev.batchinference.transforms.model;

import java.io.FileNotFoundException;
import java.io.IOException;
import java.io.InputStream;
import java.nio.channels.Channels;
import java.nio.channels.ReadableByteChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.nio.file.StandardCopyOption;
import java.security.DigestInputStream;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;
import org.apache.beam.sdk.io.FileSystems;
import org.apache.beam.sdk.io.fs.ResourceId;
import org.checkerframework.checker.nullness.qual.Nullable;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Reads model and tokenizer files named by a URI: {@code classpath:name} for a resource that came
 * with the job's jars (the default models come through Maven this way), or anything Beam's {@link
 * FileSystems} reads (a local path, {@code gs://...}). Remote files are cached on local disk.
 */
public final class ModelFiles {

  public static final String CLASSPATH_PREFIX = "classpath:";

  /** Environment variable naming the local model cache directory. */
  public static final String CACHE_ENV = "BATCH_INFERENCE_MODEL_CACHE";

  /** System property naming the local model cache directory; wins over {@link #CACHE_ENV}. */
  public static final String CACHE_PROPERTY = "batchinference.modelCache";

  private static final Logger LOG = LoggerFactory.getLogger(ModelFiles.class);

  private ModelFiles() {}

  /** Opens {@code uri}; fails with a message naming the URI when it does not exist. */
  public static InputStream open(String uri) throws IOException {
    if (uri.startsWith(CLASSPATH_PREFIX)) {
      String name = uri.substring(CLASSPATH_PREFIX.length());
      InputStream in = ModelFiles.class.getClassLoader().getResourceAsStream(name);
      if (in == null) {
        throw new FileNotFoundException(
            "No resource '" + name + "' on the classpath (from " + uri + ")");
      }
      return in;
    }
    if (isLocal(uri)) {
      // Not through FileSystems.match: Beam's local file system treats a missing file as a
      // pattern and walks its parent directory, the whole disk for "/missing.onnx".
      Path path = Paths.get(uri);
      if (!Files.isRegularFile(path)) {
        throw new FileNotFoundException("No file at " + uri);
      }
      return Files.newInputStream(path);
    }
    ResourceId id = FileSystems.matchNewResource(uri, false);
    ReadableByteChannel channel = FileSystems.open(id);
    return Channels.newInputStream(channel);
  }

  /** Whether {@code uri} names a local file (no scheme, or {@code file:}). */
  public static boolean isLocal(String uri) {
    return !uri.startsWith(CLASSPATH_PREFIX) && !uri.contains("://");
  }

  /** The whole file. */
  public static byte[] readAll(String uri) throws IOException {
    try (InputStream in = open(uri)) {
      return in.readAllBytes();
    }
  }

  /**
   * A local path holding the file: the file itself when {@code uri} is a local path, a copy in the
   * temporary directory for a classpath resource, and for any other file system ({@code gs://}) the
   * copy in the local model cache (see {@link #cached}).
   */
  public static Path localCopy(String uri) throws IOException {
    if (isLocal(uri)) {
      Path path = Paths.get(uri);
      if (!Files.isRegularFile(path)) {
        throw new FileNotFoundException("No file at " + uri);
      }
      return path;
    }
    if (!uri.startsWith(CLASSPATH_PREFIX)) {
      return cached(uri, null);
    }
    String base = uri.substring(uri.lastIndexOf('/') + 1).replace(':', '_');
    Path copy = Files.createTempFile("batch-inference-", "-" + base);
    copy.toFile().deleteOnExit();
    try (InputStream in = open(uri)) {
      Files.copy(in, copy, StandardCopyOption.REPLACE_EXISTING);
    }
    return copy;
  }

  /**
   * The local cache directory for remote model files: {@code $BATCH_INFERENCE_MODEL_CACHE} (or the
   * system property {@code batchinference.modelCache}), else {@code batch-inference-models} in the
   * temporary directory.
   */
  public static Path cacheDirectory() {
    String configured = System.getProperty(CACHE_PROPERTY, System.getenv(CACHE_ENV));
    return configured != null && !configured.isEmpty()
        ? Paths.get(configured)
        : Paths.get(System.getProperty("java.io.tmpdir"), "batch-inference-models");
  }

  /**
   * A copy of the remote file {@code uri} on local disk, downloaded once per machine: later calls,
   * from this JVM or another on the same worker, find it in {@link #cacheDirectory()}. The download
   * goes to a temporary file that is renamed into place only when whole, so a crash never leaves a
   * partial model behind.
   *
   * @param expectedSha256 when not null, the copy must have this SHA-256 (a cached copy that does
   *     not is downloaded again; a download that does not fails)
   */
  public static Path cached(String uri, @Nullable String expectedSha256) throws IOException {
    Path dir = cacheDirectory();
    Files.createDirectories(dir);
    String key = sha256(uri.getBytes(StandardCharsets.UTF_8)).substring(0, 16);
    String base = uri.substring(uri.lastIndexOf('/') + 1).replaceAll("[^A-Za-z0-9._-]", "_");
    Path target = dir.resolve(key + "-" + base);
    if (Files.isRegularFile(target)
        && (expectedSha256 == null || expectedSha256.equals(sha256(target)))) {
      return target;
    }
    Path partial = Files.createTempFile(dir, key + "-", ".part");
    try {
      MessageDigest digest = newSha256();
      try (InputStream in = new DigestInputStream(open(uri), digest)) {
        Files.copy(in, partial, StandardCopyOption.REPLACE_EXISTING);
      }
      String actual = HexFormat.of().formatHex(digest.digest());
      if (expectedSha256 != null && !expectedSha256.equals(actual)) {
        throw new IOException(
            uri
                + " has SHA-256 "
                + actual
                + " but "
                + expectedSha256
                + " was expected: the file changed since the job was launched.");
      }
      Files.move(
          partial, target, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
      LOG.info("Downloaded {} ({} bytes) to the model cache: {}", uri, Files.size(target), target);
      return target;
    } finally {
      Files.deleteIfExists(partial);
    }
  }

  /** Lower-case hex SHA-256 of a file's contents. */
  public static String sha256(Path file) throws IOException {
    MessageDigest digest = newSha256();
    try (InputStream in = new DigestInputStream(Files.newInputStream(file), digest)) {
      in.transferTo(java.io.OutputStream.nullOutputStream());
    }
    return HexFormat.of().formatHex(digest.digest());
  }

  private static MessageDigest newSha256() {
    try {
      return MessageDigest.getInstance("SHA-256");
    } catch (NoSuchAlgorithmException e) {
      throw new IllegalStateException(e);
    }
  }

  /** Lower-case hex SHA-256 of {@code bytes}. */
  public static String sha256(byte[] bytes) {
    return HexFormat.of().formatHex(newSha256().digest(bytes));
  }

  /** The file name of {@code uri} without directories and extension: a default model name. */
  public static String baseName(String uri) {
    String name = uri.substring(uri.lastIndexOf('/') + 1);
    if (name.startsWith(CLASSPATH_PREFIX)) {
      name = name.substring(CLASSPATH_PREFIX.length());
    }
    int dot = name.lastIndexOf('.');
    return dot > 0 ? name.substring(0, dot) : name;
  }
}
