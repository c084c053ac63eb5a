package dev.batchinference.benchmarks;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import org.apache.beam.sdk.Pipeline;
import org.apache.beam.sdk.options.PipelineOptions;
import org.apache.beam.sdk.options.PipelineOptionsFactory;
import org.apache.beam.sdk.transforms.Create;
import org.apache.beam.sdk.transforms.DoFn;
import org.apache.beam.sdk.transforms.ParDo;

/**
 * What any Beam job pays on this machine before its first record: the options factory, building,
 * the runner's translation and start, and stopping, for a pipeline of three elements and one step
 * that does nothing with them. The compare workload runs it on each runner beside the job, so that
 * a job's fixed cost is read against the floor that no change to the job can lower.
 *
 * <pre>
 * EmptyPipeline --output=DIR [--runner=... Beam options]
 * </pre>
 *
 * <p>{@code DIR/phases.txt} gets the seconds of each phase inside the JVM (options, build, run).
 */
public final class EmptyPipeline {

  private EmptyPipeline() {}

  public static void main(String[] args) throws Exception {
    Path output =
        Arrays.stream(args)
            .filter(a -> a.startsWith("--output="))
            .map(a -> Path.of(a.substring("--output=".length())))
            .findFirst()
            .orElseThrow(() -> new IllegalArgumentException("--output=DIR is required"));
    String[] beamArgs =
        Arrays.stream(args).filter(a -> !a.startsWith("--output=")).toArray(String[]::new);
    long start = System.nanoTime();
    PipelineOptions options = PipelineOptionsFactory.fromArgs(beamArgs).withValidation().create();
    long parsed = System.nanoTime();
    Pipeline pipeline = Pipeline.create(options);
    pipeline.apply("Three", Create.of(1, 2, 3)).apply("Nothing", ParDo.of(new Nothing()));
    long built = System.nanoTime();
    pipeline.run().waitUntilFinish();
    long ran = System.nanoTime();
    Files.createDirectories(output);
    Files.write(
        output.resolve("phases.txt"),
        List.of(
            String.format(
                java.util.Locale.ROOT,
                "options %.2f s, build %.2f s, run %.2f s",
                (parsed - start) / 1e9,
                (built - parsed) / 1e9,
                (ran - built) / 1e9)),
        StandardCharsets.UTF_8);
  }

  /** A step that outputs nothing. */
  static final class Nothing extends DoFn<Integer, Void> {
    @ProcessElement
    public void processElement(@Element Integer x) {}
  }
}
