package dev.batchinference.transforms.model;

import java.io.FileNotFoundException;
import java.io.IOException;
import java.io.InputStream;
import java.nio.channels.Channels;
import java.nio.channels.ReadableByteChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.nio.file.StandardCopyOption;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;
import org.apache.beam.sdk.io.FileSystems;
import org.apache.beam.sdk.io.fs.ResourceId;

/**
 * Reads model and tokenizer files named by a URI: {@code classpath:name} for a resource that came
 * with the job's jars (the default models come through Maven this way), or anything Beam's {@link
 * FileSystems} reads (a local path, {@code gs://...}).
 */
public final class ModelFiles {

  public static final String CLASSPATH_PREFIX = "classpath:";

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
   * A local path holding the file: the file itself when {@code uri} is a local path, else a copy in
   * the temporary directory (native libraries such as the tokenizer need a path).
   */
  public static Path localCopy(String uri) throws IOException {
    if (isLocal(uri)) {
      Path path = Paths.get(uri);
      if (!Files.isRegularFile(path)) {
        throw new FileNotFoundException("No file at " + uri);
      }
      return path;
    }
    String base = uri.substring(uri.lastIndexOf('/') + 1).replace(':', '_');
    Path copy = Files.createTempFile("batch-inference-", "-" + base);
    copy.toFile().deleteOnExit();
    try (InputStream in = open(uri)) {
      Files.copy(in, copy, StandardCopyOption.REPLACE_EXISTING);
    }
    return copy;
  }

  /** Lower-case hex SHA-256 of {@code bytes}. */
  public static String sha256(byte[] bytes) {
    try {
      return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(bytes));
    } catch (NoSuchAlgorithmException e) {
      throw new IllegalStateException(e);
    }
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
