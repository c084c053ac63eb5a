package dev.batchinference.benchmarks;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.TimeUnit;

/**
 * Runs a main class of this classpath in a fresh JVM with the JVM's default heap (no {@code -Xmx},
 * as a user runs {@code java -jar}), and measures it from outside, the same way for every variant
 * of the compare workload: wall seconds from starting the JVM to its exit, CPU seconds (user + sys)
 * and peak resident set ({@code ru_maxrss}, the kernel's {@code VmHWM} of the child) as GNU {@code
 * /usr/bin/time} reports them. Where {@code /usr/bin/time} is missing, CPU and peak RSS come from
 * polling {@code /proc/PID} every 200 ms (the last poll before exit: a slight undercount).
 */
final class ChildRun {

  private static final Path TIME = Path.of("/usr/bin/time");

  /** How one child run looked from outside. */
  record Result(
      double seconds, double userSeconds, double sysSeconds, long peakRssKb, int exit, Path log) {
    double cpuSeconds() {
      return userSeconds + sysSeconds;
    }

    boolean succeeded() {
      return exit == 0;
    }
  }

  private ChildRun() {}

  /** The JVM flags every child gets (none sizing the heap). */
  static List<String> jvm() {
    List<String> command = new ArrayList<>();
    command.add(Path.of(System.getProperty("java.home"), "bin", "java").toString());
    command.add("-Dai.djl.offline=true");
    command.add("-Dorg.slf4j.simpleLogger.defaultLogLevel=warn");
    return command;
  }

  /** The maximum heap a child JVM gets by default on this machine, e.g. {@code "6,016 MiB"}. */
  static String defaultMaxHeap() {
    try {
      List<String> command = jvm();
      command.add("-XX:+PrintFlagsFinal");
      command.add("-version");
      Process p = new ProcessBuilder(command).redirectErrorStream(true).start();
      String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
      p.waitFor();
      for (String line : out.split("\n")) {
        String[] parts = line.trim().split("\\s+");
        if (parts.length >= 4 && parts[1].equals("MaxHeapSize")) {
          return String.format(Locale.ROOT, "%,d MiB", Long.parseLong(parts[3]) >> 20);
        }
      }
    } catch (IOException | InterruptedException | RuntimeException e) {
      // Reported as unknown below.
    }
    return "default (unknown)";
  }

  /** Runs {@code mainClass args} in a fresh JVM, its output to {@code log}, killed after a cap. */
  static Result run(String mainClass, List<String> args, Path log, long timeoutSeconds)
      throws Exception {
    return run(mainClass, List.of(), args, log, timeoutSeconds);
  }

  /** As {@link #run(String, List, Path, long)}, with {@code jvmFlags} (a heap size, say). */
  static Result run(
      String mainClass, List<String> jvmFlags, List<String> args, Path log, long timeoutSeconds)
      throws Exception {
    boolean timed = Files.isExecutable(TIME);
    Path times = log.resolveSibling(log.getFileName() + ".time");
    List<String> command = new ArrayList<>();
    if (timed) {
      command.addAll(List.of(TIME.toString(), "-f", "%U %S %M", "-o", times.toString()));
    }
    command.addAll(jvm());
    command.addAll(jvmFlags);
    command.add("-cp");
    command.add(System.getProperty("java.class.path"));
    command.add(mainClass);
    command.addAll(args);
    Files.createDirectories(log.toAbsolutePath().getParent());
    Files.deleteIfExists(times);
    ProcessBuilder builder =
        new ProcessBuilder(command).redirectErrorStream(true).redirectOutput(log.toFile());
    builder.environment().put("DJL_OFFLINE", "true");
    builder.environment().put("RUST_FLAVOR", "cpu");
    long start = System.nanoTime();
    Process p = builder.start();
    long deadline = start + timeoutSeconds * 1_000_000_000L;
    Path proc = Path.of("/proc", Long.toString(p.pid()));
    long peakKb = 0;
    double user = 0;
    double sys = 0;
    int exit;
    while (!p.waitFor(200, TimeUnit.MILLISECONDS)) {
      if (!timed) {
        Long hwm = Measurement.statusKb(proc.resolve("status"), "VmHWM:");
        peakKb = Math.max(peakKb, hwm == null ? 0 : hwm);
        double[] cpu = procCpu(proc.resolve("stat"));
        if (cpu != null) {
          user = cpu[0];
          sys = cpu[1];
        }
      }
      if (System.nanoTime() > deadline) {
        p.destroyForcibly();
        p.waitFor();
        break;
      }
    }
    double seconds = (System.nanoTime() - start) / 1e9;
    exit = p.exitValue();
    if (timed && Files.exists(times)) {
      // GNU time writes "Command exited with non-zero status N" first when the child failed.
      List<String> lines = Files.readAllLines(times, StandardCharsets.UTF_8);
      String[] parts = lines.get(lines.size() - 1).trim().split("\\s+");
      user = Double.parseDouble(parts[0]);
      sys = Double.parseDouble(parts[1]);
      peakKb = Long.parseLong(parts[2]);
    }
    return new Result(seconds, user, sys, peakKb, exit, log);
  }

  /** utime and stime of {@code /proc/PID/stat}, in seconds (100 clock ticks a second). */
  private static double[] procCpu(Path stat) {
    try {
      String s = Files.readString(stat);
      String[] f = s.substring(s.lastIndexOf(')') + 2).split(" ");
      return new double[] {Long.parseLong(f[11]) / 100.0, Long.parseLong(f[12]) / 100.0};
    } catch (IOException | RuntimeException e) {
      return null;
    }
  }
}
