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
 *
 * <p>While a {@link #hold()} is open, a resource whose last lease closes stays loaded until the
 * hold ends: the launcher holds what its checks opened while a runner that runs its workers in the
 * same JVM (the DirectRunner, Flink's embedded mini cluster) runs the job, so that the workers'
 * {@code @Setup} finds the session and tokenizer already open instead of loading them again.
 */
public final class SharedResources {

  private static final Logger LOG = LoggerFactory.getLogger(SharedResources.class);
  private static final Map<String, Entry> ENTRIES = new HashMap<>();
  private static final Map<String, Integer> LOADS = new HashMap<>();
  private static int holds;

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

  /** How many resources whose key contains {@code part} have been created in this JVM. */
  public static synchronized int loadCountContaining(String part) {
    return LOADS.entrySet().stream()
        .filter(e -> e.getKey().contains(part))
        .mapToInt(Map.Entry::getValue)
        .sum();
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
    if (--entry.references == 0 && holds == 0) {
      ENTRIES.remove(key);
      close(key, entry);
    }
  }

  private static void close(String key, Entry entry) {
    try {
      entry.resource.close();
      LOG.info("Closed shared resource {}", key);
    } catch (Exception e) {
      LOG.warn("Closing shared resource {} failed", key, e);
    }
  }

  /**
   * Keeps every resource loaded, leased or not, until the returned hold is closed; then closes
   * those no lease holds.
   */
  public static synchronized Hold hold() {
    holds++;
    return new Hold();
  }

  /**
   * Files the unleased resource of {@code from} under {@code to}, when nothing is filed there: for
   * a key that names the same resource once more is known of it (a model's hash, computed when the
   * checks loaded it, which the workers then expect). Does nothing when {@code from} holds nothing
   * or is leased.
   */
  public static synchronized void rekey(String from, String to) {
    Entry entry = ENTRIES.get(from);
    if (entry != null && entry.references == 0 && !ENTRIES.containsKey(to)) {
      ENTRIES.remove(from);
      ENTRIES.put(to, entry);
    }
  }

  private static synchronized void endHold() {
    if (--holds > 0) {
      return;
    }
    for (java.util.Iterator<Map.Entry<String, Entry>> it = ENTRIES.entrySet().iterator();
        it.hasNext(); ) {
      Map.Entry<String, Entry> e = it.next();
      if (e.getValue().references == 0) {
        it.remove();
        close(e.getKey(), e.getValue());
      }
    }
  }

  /** Keeps resources loaded until closed (see {@link #hold()}). */
  public static final class Hold implements AutoCloseable {
    private boolean closed;

    private Hold() {}

    @Override
    public void close() {
      synchronized (SharedResources.class) {
        if (!closed) {
          closed = true;
          endHold();
        }
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
