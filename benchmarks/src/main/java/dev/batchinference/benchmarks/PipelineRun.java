package dev.batchinference.benchmarks;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.batchinference.pipelines.BatchInference;
import dev.batchinference.pipelines.options.BatchInferenceOptions;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.stream.Stream;
import org.apache.beam.sdk.Pipeline;
import org.apache.beam.sdk.PipelineResult;
import org.apache.beam.sdk.options.PipelineOptionsFactory;

/** Runs the batch inference job on the DirectRunner and reads back its summary.json. */
final class PipelineRun {

  /** The DirectRunner as every measured run uses it: two threads, no test-only checks. */
  static final List<String> DIRECT_RUNNER =
      List.of(
          "--runner=DirectRunner",
          "--targetParallelism=2",
          "--enforceImmutability=false",
          "--enforceEncodability=false");

  /** Flink's embedded cluster as every measured run uses it: two task slots. */
  static final List<String> FLINK_LOCAL =
      List.of("--runner=FlinkRunner", "--flinkMaster=[local]", "--parallelism=2");

  /** The runner settings every measured in-process job run uses. */
  static final List<String> RUNNER_ARGS =
      concat(DIRECT_RUNNER, "--blockOnRun=true", "--progress=false");

  static List<String> concat(List<String> args, String... more) {
    List<String> all = new ArrayList<>(args);
    all.addAll(List.of(more));
    return List.copyOf(all);
  }

  /** Whether a job already ran in this JVM (classes loaded, code compiled, reflection cached). */
  static boolean warmedUp;

  final Row row;
  final JsonNode summary;

  private PipelineRun(Row row, JsonNode summary) {
    this.row = row;
    this.summary = summary;
  }

  /**
   * Runs the job with {@link #RUNNER_ARGS} plus {@code jobArgs}, writing to {@code output} (emptied
   * first), and measures it from options parsing to the end of {@code waitUntilFinish}.
   */
  static PipelineRun run(String workload, String mode, Path output, List<String> jobArgs) {
    deleteTree(output);
    List<String> args = new ArrayList<>(RUNNER_ARGS);
    args.addAll(jobArgs);
    args.add("--output=" + output.toAbsolutePath());
    System.out.printf("  %s / %s: %s%n", workload, mode, String.join(" ", jobArgs));
    Measurement m = Measurement.start();
    PipelineResult.State state;
    double built;
    try {
      PipelineOptionsFactory.register(BatchInferenceOptions.class);
      BatchInferenceOptions options =
          PipelineOptionsFactory.fromArgs(args.toArray(new String[0]))
              .withValidation()
              .as(BatchInferenceOptions.class);
      // What BatchInference.run does, with the construction (job checks, model inspection,
      // transform expansion) timed apart from the execution.
      Pipeline pipeline = Pipeline.create(options);
      BatchInference.build(pipeline, options);
      built = m.seconds();
      PipelineResult result = pipeline.run();
      state = result.waitUntilFinish();
    } finally {
      m.close();
    }
    if (state != PipelineResult.State.DONE) {
      throw new IllegalStateException(workload + " / " + mode + ": the job ended " + state);
    }
    JsonNode summary;
    try {
      summary = new ObjectMapper().readTree(output.resolve(BatchInference.SUMMARY).toFile());
    } catch (IOException e) {
      throw new UncheckedIOException("cannot read the job's summary in " + output, e);
    }
    long read = summary.get("records_read").asLong();
    String notes =
        String.format(
            "%d predicted, %d failed; construction %.1f s + execution %.1f s;"
                + " %d batches (mean %.1f); model time %.1f s (sum over threads)",
            summary.get("predictions").asLong(),
            summary.get("failures").asLong(),
            built,
            m.seconds() - built,
            summary.get("batches").asLong(),
            summary.path("batch_size").path("mean").asDouble(),
            summary.path("inference_batch_latency_ms").path("total").asDouble() / 1000.0);
    Row row =
        new Row(workload, mode, read, m, notes)
            .withSummaryRate(summary.get("throughput_records_per_second").asDouble());
    return new PipelineRun(row, summary);
  }

  static void deleteTree(Path dir) {
    if (!Files.exists(dir)) {
      return;
    }
    try (Stream<Path> paths = Files.walk(dir)) {
      for (Path p : (Iterable<Path>) paths.sorted(Comparator.reverseOrder())::iterator) {
        Files.delete(p);
      }
    } catch (IOException e) {
      throw new UncheckedIOException("cannot delete " + dir, e);
    }
  }
}
