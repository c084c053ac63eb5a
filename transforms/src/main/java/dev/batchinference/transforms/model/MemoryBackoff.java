package dev.batchinference.transforms.model;

import java.util.Locale;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * What a worker learned about its memory: the most records per batch each model may run here. It
 * starts unlimited; when a batch runs out of memory, the limit drops to half that batch for the
 * rest of the worker JVM's life, shared by every thread that runs the model.
 */
public final class MemoryBackoff {

  private static final Map<String, AtomicInteger> LIMITS = new ConcurrentHashMap<>();

  private MemoryBackoff() {}

  /** The most records per batch for the model with {@code cacheKey}: unlimited until lowered. */
  public static int limit(String cacheKey) {
    AtomicInteger limit = LIMITS.get(cacheKey);
    return limit == null ? Integer.MAX_VALUE : limit.get();
  }

  /**
   * Lowers the limit to half of {@code failedBatchSize} (at least 1) unless it already is lower.
   *
   * @return the new limit, or 0 when another thread had already lowered it as far
   */
  public static int lower(String cacheKey, int failedBatchSize) {
    int target = Math.max(1, failedBatchSize / 2);
    AtomicInteger limit =
        LIMITS.computeIfAbsent(cacheKey, k -> new AtomicInteger(Integer.MAX_VALUE));
    while (true) {
      int current = limit.get();
      if (current <= target) {
        return 0;
      }
      if (limit.compareAndSet(current, target)) {
        return target;
      }
    }
  }

  /** For tests: forget every limit. */
  public static void reset() {
    LIMITS.clear();
  }

  /**
   * Whether {@code error} (or a cause) says memory ran out: Java heap exhaustion while tensors were
   * assembled, or an allocation failure inside ONNX Runtime (CPU arena or CUDA).
   */
  public static boolean isOutOfMemory(Throwable error) {
    for (Throwable t = error; t != null; t = t.getCause()) {
      if (t instanceof OutOfMemoryError) {
        return true;
      }
      String message = t.getMessage();
      if (message != null) {
        String m = message.toLowerCase(Locale.ROOT);
        if (m.contains("failed to allocate memory")
            || m.contains("bad_alloc")
            || m.contains("out of memory")
            || m.contains("cudaerrormemoryallocation")) {
          return true;
        }
      }
      if (t.getCause() == t) {
        break;
      }
    }
    return false;
  }
}
