package dev.batchinference.benchmarks;

import java.io.IOException;
import java.net.URISyntaxException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Enumeration;
import java.util.jar.JarEntry;
import java.util.jar.JarFile;

/**
 * Loads every class of the project's own jars up front. exec:java reads them from the local Maven
 * repository lazily, and a concurrent {@code mvn install} that rewrites a jar mid-run would
 * otherwise end the benchmark with a NoClassDefFoundError.
 */
final class Preload {

  private Preload() {}

  /** Loads (without initialising) every class in the jars or folders holding {@code anchors}. */
  static int classesNextTo(Class<?>... anchors) {
    int loaded = 0;
    for (Class<?> anchor : anchors) {
      Path location;
      try {
        location = Path.of(anchor.getProtectionDomain().getCodeSource().getLocation().toURI());
      } catch (URISyntaxException | RuntimeException e) {
        continue;
      }
      ClassLoader loader = anchor.getClassLoader();
      if (Files.isRegularFile(location)) {
        try (JarFile jar = new JarFile(location.toFile())) {
          Enumeration<JarEntry> entries = jar.entries();
          while (entries.hasMoreElements()) {
            loaded += load(loader, entries.nextElement().getName());
          }
        } catch (IOException e) {
          // best effort
        }
      }
    }
    return loaded;
  }

  private static int load(ClassLoader loader, String entry) {
    if (!entry.endsWith(".class") || entry.endsWith("module-info.class")) {
      return 0;
    }
    String name = entry.substring(0, entry.length() - ".class".length()).replace('/', '.');
    try {
      Class.forName(name, false, loader);
      return 1;
    } catch (ClassNotFoundException | LinkageError e) {
      return 0;
    }
  }
}
