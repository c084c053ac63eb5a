package dev.batchinference.benchmarks;

import java.io.IOException;
import java.lang.management.ManagementFactory;
import java.lang.management.MemoryMXBean;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

/**
 * Wall time, peak heap and peak resident set size of one measured section.
 *
 * <p>Peak heap is sampled (every 10 ms, after a GC at the start), so it is the most heap in use
 * that a sample saw, garbage included. Peak RSS is the kernel's high-water mark ({@code VmHWM} in
 * {@code /proc/self/status}); it is reset at the start by writing 5 to {@code
 * /proc/self/clear_refs}. Where that reset is refused the figure is the process's peak so far,
 * which {@link #rssWasReset()} says.
 */
final class Measurement implements AutoCloseable {

  private static final MemoryMXBean MEMORY = ManagementFactory.getMemoryMXBean();
  private static final Path STATUS = Path.of("/proc/self/status");
  private static final Path CLEAR_REFS = Path.of("/proc/self/clear_refs");

  private final Thread sampler;
  private final boolean rssReset;
  private volatile boolean running = true;
  private volatile long peakHeap;
  private long startNanos;
  private long endNanos;
  private long startCpuNanos;
  private long endCpuNanos;
  private double loadAtEnd = -1;

  private Measurement() {
    System.gc();
    rssReset = resetRssHighWaterMark();
    peakHeap = MEMORY.getHeapMemoryUsage().getUsed();
    sampler =
        new Thread(
            () -> {
              while (running) {
                peakHeap = Math.max(peakHeap, MEMORY.getHeapMemoryUsage().getUsed());
                try {
                  Thread.sleep(10);
                } catch (InterruptedException e) {
                  return;
                }
              }
            },
            "benchmark-heap-sampler");
    sampler.setDaemon(true);
    sampler.start();
    startCpuNanos = processCpuNanos();
    startNanos = System.nanoTime();
  }

  /** Starts measuring now. */
  static Measurement start() {
    return new Measurement();
  }

  /** Stops the clock (idempotent) and returns the seconds measured. */
  double stop() {
    if (running) {
      endNanos = System.nanoTime();
      endCpuNanos = processCpuNanos();
      running = false;
      loadAtEnd = loadAverage();
      peakHeap = Math.max(peakHeap, MEMORY.getHeapMemoryUsage().getUsed());
    }
    return seconds();
  }

  double seconds() {
    return ((running ? System.nanoTime() : endNanos) - startNanos) / 1e9;
  }

  /**
   * CPU seconds this process used while measuring, all threads together: unlike wall time it barely
   * moves when other processes compete for the cores.
   */
  double cpuSeconds() {
    return ((running ? processCpuNanos() : endCpuNanos) - startCpuNanos) / 1e9;
  }

  private static long processCpuNanos() {
    java.lang.management.OperatingSystemMXBean os = ManagementFactory.getOperatingSystemMXBean();
    return os instanceof com.sun.management.OperatingSystemMXBean
        ? ((com.sun.management.OperatingSystemMXBean) os).getProcessCpuTime()
        : -1;
  }

  /** Most heap in use seen while measuring, in MiB. */
  double peakHeapMiB() {
    return peakHeap / (1024.0 * 1024.0);
  }

  /** The resident set high-water mark, in MiB; -1 where /proc is not available. */
  double peakRssMiB() {
    Long kb = statusKb("VmHWM:");
    return kb == null ? -1 : kb / 1024.0;
  }

  /** The 1-minute load average when the clock stopped: above the core count, others competed. */
  double loadAtEnd() {
    return loadAtEnd;
  }

  static double loadAverage() {
    try {
      return Double.parseDouble(Files.readString(Path.of("/proc/loadavg")).trim().split("\\s+")[0]);
    } catch (IOException | RuntimeException e) {
      return -1;
    }
  }

  boolean rssWasReset() {
    return rssReset;
  }

  @Override
  public void close() {
    stop();
    sampler.interrupt();
  }

  private static boolean resetRssHighWaterMark() {
    try {
      Files.writeString(CLEAR_REFS, "5");
      return true;
    } catch (IOException | RuntimeException e) {
      return false;
    }
  }

  static Long statusKb(String key) {
    return statusKb(STATUS, key);
  }

  /** A {@code kB} figure of a process's {@code /proc/PID/status}; null when it cannot be read. */
  static Long statusKb(Path status, String key) {
    try {
      List<String> lines = Files.readAllLines(status);
      for (String line : lines) {
        if (line.startsWith(key)) {
          String[] parts = line.substring(key.length()).trim().split("\\s+");
          return Long.parseLong(parts[0]);
        }
      }
    } catch (IOException | RuntimeException e) {
      // not Linux, or /proc not mounted
    }
    return null;
  }
}
