package dev.batchinference.transforms.preprocess;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Comparator;
import java.util.stream.Stream;

/**
 * Loads the native library of DJL's tokenizers so that it works where several class loaders of one
 * JVM use it.
 *
 * <p>DJL extracts the library to a fixed path under its cache directory, and a JVM loads a given
 * file into one class loader only. A Flink session cluster gives every job its own class loader, so
 * the second job on a TaskManager failed with "already loaded in another class loader". Here each
 * class loader extracts the library into a directory of its own, loads it, and removes the file
 * (the loaded library stays mapped). It also keeps DJL offline and on its CPU build unless told
 * otherwise, since workers have no model hub to reach.
 */
final class TokenizerNativeLibrary {

  private static boolean loaded;

  private TokenizerNativeLibrary() {}

  static synchronized void load() throws IOException, ClassNotFoundException {
    if (loaded) {
      return;
    }
    // System properties are shared by all class loaders: change them under a JVM-wide lock.
    synchronized (System.class) {
      setIfUnset("ai.djl.offline", "DJL_OFFLINE", "true");
      setIfUnset("RUST_FLAVOR", "RUST_FLAVOR", "cpu");
      Path dir = Files.createTempDirectory("batch-inference-tokenizers-");
      String previous = System.getProperty("ENGINE_CACHE_DIR");
      System.setProperty("ENGINE_CACHE_DIR", dir.toString());
      try {
        Class.forName(
            "ai.djl.huggingface.tokenizers.jni.LibUtils",
            true,
            TokenizerNativeLibrary.class.getClassLoader());
      } finally {
        if (previous == null) {
          System.clearProperty("ENGINE_CACHE_DIR");
        } else {
          System.setProperty("ENGINE_CACHE_DIR", previous);
        }
        deleteRecursively(dir);
      }
    }
    loaded = true;
  }

  private static void setIfUnset(String property, String environment, String value) {
    if (System.getProperty(property) == null && System.getenv(environment) == null) {
      System.setProperty(property, value);
    }
  }

  private static void deleteRecursively(Path dir) throws IOException {
    try (Stream<Path> paths = Files.walk(dir)) {
      for (Path p : (Iterable<Path>) paths.sorted(Comparator.reverseOrder())::iterator) {
        Files.deleteIfExists(p);
      }
    }
  }
}
