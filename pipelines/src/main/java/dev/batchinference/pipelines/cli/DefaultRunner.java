package dev.batchinference.pipelines.cli;

import dev.batchinference.pipelines.options.BatchInferenceOptions;
import java.io.IOException;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import org.apache.beam.sdk.io.FileSystems;
import org.apache.beam.sdk.io.fs.EmptyMatchTreatment;
import org.apache.beam.sdk.io.fs.MatchResult;

/**
 * The runner of a command line that names none ({@code --runner} absent): the DirectRunner when the
 * input is small next to this JVM's heap, Flink's embedded mini cluster ({@code
 * --runner=FlinkRunner --flinkMaster=[local] --parallelism=CORES}) when it is larger.
 *
 * <p>Why: the DirectRunner keeps a whole input file's records in memory while the job runs, so the
 * heap it needs grows with the input, most for small records. Measured with {@code -Xmx1g} on
 * generated tabular records of 95 bytes of JSON each: 500,000 (47 MB) passed at the heap's limit
 * (peak RSS 1,244 MiB, garbage collection most of the time), 1,000,000 (94 MB) and 5,000,000 (474
 * MB) ran out of heap and hung until killed. Fashion-MNIST images (4.9 KB each) need less per byte:
 * 50,000 (245 MB) passed. Flink's batch execution streams records and spills what it sorts: the 5
 * million records ran with {@code -Xmx1g} at a peak RSS of 1,162 MiB (the README's "Larger than
 * memory"). Flink costs several seconds of start-up, which small inputs are better without.
 *
 * <p>The threshold is the JVM's max heap divided by {@link #HEAP_PER_INPUT_BYTE} (input bytes as
 * listed; compressed and Parquet files count {@link #COMPRESSED_EXPANSION} times their size). The
 * system property {@value #THRESHOLD_PROPERTY} replaces it (bytes; 0: always Flink; negative:
 * never), for tests and experiments. BigQuery input has no file size here: it stays on the
 * DirectRunner unless {@code --runner} says otherwise. An explicit {@code --runner} always wins.
 */
final class DefaultRunner {

  /**
   * Heap bytes the DirectRunner is given per byte of input: the threshold's divisor. Small records
   * needed between 11 and 22 (above); 32 leaves a margin for records smaller still and for the heap
   * the model and the runner take.
   */
  static final long HEAP_PER_INPUT_BYTE = 32;

  /** How many times its size a compressed (or Parquet) file is counted as. */
  static final long COMPRESSED_EXPANSION = 4;

  /** Replaces the threshold, in input bytes. */
  static final String THRESHOLD_PROPERTY = "batchinference.embeddedFlinkAboveBytes";

  static final String FLINK_RUNNER = "org.apache.beam.runners.flink.FlinkRunner";

  /** The arguments the job runs with, and the line that says why (null: nothing to say). */
  record Choice(List<String> args, String line) {}

  private DefaultRunner() {}

  /** Whether {@code args} name a runner: then it is theirs, whatever the input. */
  static boolean namesRunner(List<String> args) {
    return args.stream().anyMatch(a -> a.equals("--runner") || a.startsWith("--runner="));
  }

  /**
   * Chooses for {@code args}: unchanged when they name a runner or the input size is unknown
   * ({@code inputBytes < 0}); else Flink {@code [local]} with {@code parallelism} when {@code
   * inputBytes} is above {@code threshold} (a negative threshold never) and Flink is on the class
   * path, the DirectRunner otherwise.
   */
  static Choice choose(
      List<String> args,
      long inputBytes,
      long threshold,
      String thresholdSource,
      boolean flinkOnClassPath,
      int parallelism) {
    if (namesRunner(args)) {
      return new Choice(args, null);
    }
    if (inputBytes < 0) {
      return new Choice(args, null);
    }
    boolean big = threshold >= 0 && inputBytes > threshold;
    String size =
        threshold < 0
            ? String.format(
                Locale.ROOT, "input %s and no size limit (%s)", mb(inputBytes), thresholdSource)
            : String.format(
                Locale.ROOT,
                "input %s %s %s (%s)",
                mb(inputBytes),
                big ? "is above" : "is within",
                mb(threshold),
                thresholdSource);
    if (big && flinkOnClassPath) {
      List<String> flink = new ArrayList<>(args);
      flink.add("--runner=FlinkRunner");
      flink.add("--flinkMaster=[local]");
      if (args.stream().noneMatch(a -> a.startsWith("--parallelism="))) {
        flink.add("--parallelism=" + parallelism);
      }
      return new Choice(
          flink,
          "runner: Flink's embedded mini cluster (--runner=FlinkRunner --flinkMaster=[local]"
              + (flink.size() - args.size() == 3 ? " --parallelism=" + parallelism : "")
              + "), since "
              + size
              + ", more than the DirectRunner holds in memory; --runner=DirectRunner overrides."
              + " No progress is shown on Flink; the result line follows at the end.");
    }
    if (big) {
      return new Choice(
          args,
          "runner: DirectRunner, although "
              + size
              + ": the Flink runner is not on the class path (the bundled jar has it). The"
              + " DirectRunner holds every record in memory: give it more heap (-Xmx) or run on"
              + " Flink.");
    }
    return new Choice(
        args,
        "runner: DirectRunner, since "
            + size
            + "; larger inputs run on Flink's embedded mini cluster, --runner chooses.");
  }

  /**
   * Chooses for a command line, with this JVM's heap and cores: the threshold from {@value
   * #THRESHOLD_PROPERTY}, else the max heap / {@link #HEAP_PER_INPUT_BYTE}.
   */
  static Choice choose(List<String> args, BatchInferenceOptions options) {
    if (namesRunner(args)) {
      return new Choice(args, null);
    }
    String property = System.getProperty(THRESHOLD_PROPERTY);
    long threshold;
    String source;
    if (property != null && !property.isBlank()) {
      threshold = Long.parseLong(property.trim());
      source = "-D" + THRESHOLD_PROPERTY + "=" + property.trim();
    } else {
      long maxHeap = Runtime.getRuntime().maxMemory();
      threshold = maxHeap / HEAP_PER_INPUT_BYTE;
      source = "1/" + HEAP_PER_INPUT_BYTE + " of the max heap, " + mb(maxHeap);
    }
    return choose(
        args,
        inputBytes(options),
        threshold,
        source,
        flinkOnClassPath(),
        Runtime.getRuntime().availableProcessors());
  }

  /**
   * The bytes the job's input files hold, compressed and Parquet files counted {@link
   * #COMPRESSED_EXPANSION} times; -1 for BigQuery input or an input that cannot be listed (the job
   * reports that itself, with its own message).
   */
  static long inputBytes(BatchInferenceOptions options) {
    if (notEmpty(options.getInputTable()) || notEmpty(options.getInputQuery())) {
      return -1;
    }
    try {
      FileSystems.setDefaultPipelineOptions(options);
      long total = 0;
      boolean parquet = options.getInputFormat().name().equals("PARQUET");
      for (MatchResult.Metadata file :
          FileSystems.match(options.getInput(), EmptyMatchTreatment.DISALLOW).metadata()) {
        String name = file.resourceId().getFilename();
        boolean compressed =
            parquet
                || (name != null && name.matches("(?i).*\\.(gz|bz2|zst|zip|deflate|lzo|snappy)$"));
        total += file.sizeBytes() * (compressed ? COMPRESSED_EXPANSION : 1);
      }
      return total;
    } catch (IOException | RuntimeException e) {
      return -1;
    }
  }

  static boolean flinkOnClassPath() {
    try {
      Class.forName(FLINK_RUNNER, false, DefaultRunner.class.getClassLoader());
      return true;
    } catch (ClassNotFoundException | LinkageError e) {
      return false;
    }
  }

  private static boolean notEmpty(String value) {
    return value != null && !value.isEmpty();
  }

  private static String mb(long bytes) {
    return String.format(Locale.ROOT, "%,.1f MB", bytes / 1e6);
  }
}
