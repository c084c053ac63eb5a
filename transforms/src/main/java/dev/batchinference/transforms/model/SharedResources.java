package dev.batchinference.transforms.model;

import java.util.HashMap;
import java.util.Map;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A per-JVM, reference-counted cache of expensive resources (ONNX Runtime sessions, tokenizers).
 * The first {@link #acquire} of a key creates the resource; later ones share it; the last {@link
 * Lease#close()} closes it. DoFns acquire in {@code @Setup} and close the lease in
 * {@code @Teardown}, so every thread of a worker shares one copy.
 */
public final class SharedResources {

  private static final Logger LOG = LoggerFactory.getLogger(SharedResources.class);
  private static final Map<String, Entry> ENTRIES = new HashMap<>();
  private static final Map<String, Integer> LOADS = new HashMap<>();

  private SharedResources() {}

  /** Creates a resource; may throw. */
  @FunctionalInterface
  public interface Loader<T extends AutoCloseable> {
    T load() throws Exception;
  }

  /**
   * Returns a lease on the resource of {@code key}, creating it with {@code loader} if no lease is
   * open. Concurrent first calls wait for a single load.
   */
  public static synchronized <T extends AutoCloseable> Lease<T> acquire(
      String key, Loader<T> loader) throws Exception {
    Entry entry = ENTRIES.get(key);
    if (entry == null) {
      T resource = loader.load();
      entry = new Entry(resource);
      ENTRIES.put(key, entry);
      LOADS.merge(key, 1, Integer::sum);
      LOG.info("Loaded shared resource {}", key);
    }
    entry.references++;
    @SuppressWarnings("unchecked")
    T resource = (T) entry.resource;
    return new Lease<>(key, resource);
  }

  /** How many times the resource of {@code key} has been created in this JVM. */
  public static synchronized int loadCount(String key) {
    return LOADS.getOrDefault(key, 0);
  }

  /** How many leases on {@code key} are open. */
  public static synchronized int references(String key) {
    Entry entry = ENTRIES.get(key);
    return entry == null ? 0 : entry.references;
  }

  private static synchronized void release(String key) {
    Entry entry = ENTRIES.get(key);
    if (entry == null) {
      return;
    }
    if (--entry.references == 0) {
      ENTRIES.remove(key);
      try {
        entry.resource.close();
        LOG.info("Closed shared resource {}", key);
      } catch (Exception e) {
        LOG.warn("Closing shared resource {} failed", key, e);
      }
    }
  }

  private static final class Entry {
    final AutoCloseable resource;
    int references;

    Entry(AutoCloseable resource) {
      this.resource = resource;
    }
  }

  /** A counted reference to a shared resource; closing it releases the reference once. */
  public static final class Lease<T> implements AutoCloseable {
    private final String key;
    private final T resource;
    private boolean closed;

    private Lease(String key, T resource) {
      this.key = key;
      this.resource = resource;
    }

    public T get() {
      if (closed) {
        throw new IllegalStateException("lease on " + key + " is closed");
      }
      return resource;
    }

    @Override
    public synchronized void close() {
      if (!closed) {
        closed = true;
        release(key);
      }
    }
  }
}
