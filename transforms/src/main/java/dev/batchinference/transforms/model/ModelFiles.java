package dev.batchinference.transforms.model;

import java.io.FileNotFoundException;
import java.io.IOException;
import java.io.InputStream;
import java.nio.channels.Channels;
import java.nio.channels.ReadableByteChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.nio.file.StandardCopyOption;
import java.nio.file.attribute.PosixFilePermission;
import java.nio.file.attribute.PosixFilePermissions;
import java.security.DigestInputStream;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.Base64;
import java.util.HexFormat;
import java.util.Set;
import org.apache.beam.sdk.io.FileSystems;
import org.apache.beam.sdk.io.fs.MatchResult;
import org.apache.beam.sdk.io.fs.ResourceId;
import org.checkerframework.checker.nullness.qual.Nullable;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Reads model and tokenizer files named by a URI: {@code classpath:name} for a resource that came
 * with the job's jars (the default models come through Maven this way), or anything Beam's {@link
 * FileSystems} reads (a local path, {@code gs://...}). Remote files are cached on local disk, in a
 * directory only this user can read; a cached copy is used only after it has been checked, either
 * against the SHA-256 the job pinned or, before there is one, against the source's current size and
 * MD5.
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
   * {@link #localCopy(String)}, refused unless it has SHA-256 {@code expectedSha256} (when not
   * null): a worker then reads the very file that the launcher checked. A remote file's cached copy
   * that fails the hash is fetched again.
   */
  public static Path localCopy(String uri, @Nullable String expectedSha256) throws IOException {
    if (expectedSha256 != null && !isLocal(uri) && !uri.startsWith(CLASSPATH_PREFIX)) {
      return cached(uri, expectedSha256);
    }
    Path copy = localCopy(uri);
    if (expectedSha256 != null) {
      String actual = sha256(copy);
      if (!expectedSha256.equals(actual)) {
        throw new IOException(changed(uri, actual, expectedSha256));
      }
    }
    return copy;
  }

  /**
   * The SHA-256 of the file at {@code uri} as it is now, for a launcher to pin: a remote file is
   * read through the cache (checked against the source's current size and MD5).
   */
  public static String currentSha256(String uri) throws IOException {
    if (isLocal(uri)) {
      return sha256(localCopy(uri));
    }
    return uri.startsWith(CLASSPATH_PREFIX) ? sha256(readAll(uri)) : sha256(cached(uri, null));
  }

  private static String changed(String uri, String actual, String expected) {
    return uri
        + " has SHA-256 "
        + actual
        + " but "
        + expected
        + " was expected: the file changed since the job was launched.";
  }

  /**
   * The local cache directory for remote model files: {@code $BATCH_INFERENCE_MODEL_CACHE} (or the
   * system property {@code batchinference.modelCache}), else {@code batch-inference-models} in the
   * temporary directory. {@link #cached} creates it readable by its owner only (0700).
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
   * <p>A cached copy is used only when it is known to be current: with {@code expectedSha256}, when
   * it has that hash; without one (a launcher that has not pinned the file yet), when its size and
   * MD5 match the source's current metadata. Otherwise it is fetched again: a model replaced in
   * place is never mistaken for the copy cached from its previous version.
   *
   * @param expectedSha256 when not null, the copy must have this SHA-256 (a cached copy that does
   *     not is downloaded again; a download that does not fails)
   */
  public static Path cached(String uri, @Nullable String expectedSha256) throws IOException {
    Path dir = privateDirectory(cacheDirectory());
    String key = sha256(uri.getBytes(StandardCharsets.UTF_8)).substring(0, 16);
    String base = uri.substring(uri.lastIndexOf('/') + 1).replaceAll("[^A-Za-z0-9._-]", "_");
    Path target = dir.resolve(key + "-" + base);
    if (Files.isRegularFile(target)) {
      if (expectedSha256 != null ? expectedSha256.equals(sha256(target)) : isCurrent(uri, target)) {
        return target;
      }
      LOG.info("The cached copy of {} is not current; fetching it again", uri);
    }
    Path partial = Files.createTempFile(dir, key + "-", ".part");
    try {
      MessageDigest digest = newSha256();
      try (InputStream in = new DigestInputStream(open(uri), digest)) {
        Files.copy(in, partial, StandardCopyOption.REPLACE_EXISTING);
      }
      String actual = HexFormat.of().formatHex(digest.digest());
      if (expectedSha256 != null && !expectedSha256.equals(actual)) {
        throw new IOException(changed(uri, actual, expectedSha256));
      }
      Files.move(
          partial, target, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
      LOG.info("Downloaded {} ({} bytes) to the model cache: {}", uri, Files.size(target), target);
      return target;
    } finally {
      Files.deleteIfExists(partial);
    }
  }

  /**
   * Whether the cached {@code copy} has the size and MD5 that the file system reports for {@code
   * uri} now (Cloud Storage keeps an MD5 of every object that is not composed). Where the source
   * reports no checksum (a composed object, a file system without checksums) the copy is not
   * trusted: fetching it again costs time, trusting a stale one costs correctness.
   */
  static boolean isCurrent(String uri, Path copy) throws IOException {
    if (uri.startsWith(CLASSPATH_PREFIX)) {
      return false;
    }
    MatchResult.Metadata source = FileSystems.matchSingleFileSpec(uri);
    String checksum = source.checksum();
    if (checksum == null || checksum.isEmpty() || source.sizeBytes() != Files.size(copy)) {
      return false;
    }
    MessageDigest md5;
    try {
      md5 = MessageDigest.getInstance("MD5");
    } catch (NoSuchAlgorithmException e) {
      throw new IllegalStateException(e);
    }
    try (InputStream in = new DigestInputStream(Files.newInputStream(copy), md5)) {
      in.transferTo(java.io.OutputStream.nullOutputStream());
    }
    byte[] digest = md5.digest();
    // Cloud Storage reports MD5 in base64; accept hex too, for file systems that use it.
    return checksum.equals(Base64.getEncoder().encodeToString(digest))
        || checksum.equalsIgnoreCase(HexFormat.of().formatHex(digest));
  }

  /**
   * Creates {@code dir} readable by its owner only (0700), or makes an existing one so: model files
   * are code the job runs, and another user of the machine must not swap them. An existing
   * directory that this user cannot make private (someone else's) is refused.
   */
  static Path privateDirectory(Path dir) throws IOException {
    if (!dir.getFileSystem().supportedFileAttributeViews().contains("posix")) {
      return Files.createDirectories(dir);
    }
    Set<PosixFilePermission> owner = PosixFilePermissions.fromString("rwx------");
    if (!Files.isDirectory(dir)) {
      Path parent = dir.toAbsolutePath().getParent();
      if (parent != null) {
        Files.createDirectories(parent);
      }
      try {
        Files.createDirectory(dir, PosixFilePermissions.asFileAttribute(owner));
      } catch (FileAlreadyExistsException e) {
        // Another JVM on this machine created it first; checked below like any existing one.
      }
    }
    if (!Files.getPosixFilePermissions(dir).equals(owner)) {
      try {
        // Only the owner may change the mode, so this also refuses someone else's directory.
        Files.setPosixFilePermissions(dir, owner);
      } catch (IOException e) {
        throw new IOException(
            "Cannot make the model cache directory "
                + dir
                + " private (0700): "
                + e
                + ". Set "
                + CACHE_ENV
                + " to a directory of your own.",
            e);
      }
    }
    return dir;
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
