package dev.batchinference.benchmarks;

import dev.batchinference.transforms.Prediction;
import dev.batchinference.transforms.RecordMeta;
import dev.batchinference.transforms.RunInference;
import dev.batchinference.transforms.tensor.TensorExample;
import dev.batchinference.transforms.tensor.TensorExampleCoder;
import java.util.ArrayList;
import java.util.List;
import org.apache.beam.sdk.Pipeline;
import org.apache.beam.sdk.PipelineResult;
import org.apache.beam.sdk.coders.KvCoder;
import org.apache.beam.sdk.metrics.MetricNameFilter;
import org.apache.beam.sdk.metrics.MetricResult;
import org.apache.beam.sdk.metrics.MetricsFilter;
import org.apache.beam.sdk.options.PipelineOptions;
import org.apache.beam.sdk.options.PipelineOptionsFactory;
import org.apache.beam.sdk.transforms.Count;
import org.apache.beam.sdk.transforms.Create;
import org.apache.beam.sdk.values.KV;

/**
 * The job's inference step alone on a runner: examples already tokenized or featurized (built
 * before the clock starts, as the job's Preprocess step would emit them) go through {@link
 * RunInference} — sharding, {@code GroupIntoBatches}, the shared ONNX Runtime session,
 * postprocessing — and the predictions are counted. This is the pipeline to hold against the raw
 * {@code session.run} loop: the same model, examples, batch size and threads, and only what the
 * engine adds around the model.
 */
final class InferenceOnly {

  /** The runners the inference-only pipeline is measured on, by the mode's name. */
  static final List<List<String>> RUNNERS =
      List.of(
          named("DirectRunner", PipelineRun.DIRECT_RUNNER),
          named(
              "Flink [local]", PipelineRun.concat(PipelineRun.FLINK_LOCAL, "--objectReuse=true")));

  /** The mode's name, then the runner's arguments. */
  private static List<String> named(String name, List<String> args) {
    List<String> named = new ArrayList<>();
    named.add(name);
    named.addAll(args);
    return List.copyOf(named);
  }

  private InferenceOnly() {}

  /**
   * Runs {@code runInference} over {@code examples} with {@code runnerArgs} and returns the row;
   * the clock runs from pipeline construction to the end of the job (model loading included).
   */
  static Row run(
      String workload,
      String mode,
      List<String> runnerArgs,
      List<TensorExample> examples,
      RunInference<TensorExample, TensorExample> runInference)
      throws Exception {
    List<KV<RecordMeta, TensorExample>> keyed = new ArrayList<>(examples.size());
    for (int i = 0; i < examples.size(); i++) {
      keyed.add(KV.of(RecordMeta.of("r" + i, "memory", i, null), examples.get(i)));
    }
    PipelineOptions options =
        PipelineOptionsFactory.fromArgs(runnerArgs.toArray(new String[0])).create();
    System.out.printf("  %s / %s%n", workload, mode);
    Measurement m = Measurement.start();
    CoderShare.Profiled<Long> profiled;
    try {
      profiled = CoderShare.of(() -> execute(workload, mode, options, keyed, runInference));
    } finally {
      m.close();
    }
    long predicted = profiled.value;
    if (predicted != examples.size()) {
      throw new IllegalStateException(
          workload + " / " + mode + ": " + predicted + " inferences for " + examples.size());
    }
    return new Row(
        workload,
        mode,
        examples.size(),
        m,
        String.format(
            java.util.Locale.ROOT,
            "examples built before the clock starts; %.0f%% of %d CPU samples in coders",
            100 * profiled.coderShare,
            profiled.samples));
  }

  private static long execute(
      String workload,
      String mode,
      PipelineOptions options,
      List<KV<RecordMeta, TensorExample>> keyed,
      RunInference<TensorExample, TensorExample> runInference) {
    {
      Pipeline pipeline = Pipeline.create(options);
      RunInference.Result result =
          pipeline
              .apply(
                  "Examples",
                  Create.of(keyed)
                      .withCoder(KvCoder.of(RecordMeta.Coder.of(), TensorExampleCoder.of())))
              .apply("RunInference", runInference);
      result.predictions().apply("CountPredictions", Count.<Prediction>globally());
      PipelineResult run = pipeline.run();
      PipelineResult.State state = run.waitUntilFinish();
      if (state != PipelineResult.State.DONE) {
        throw new IllegalStateException(workload + " / " + mode + ": the job ended " + state);
      }
      return inferences(run);
    }
  }

  private static long inferences(PipelineResult run) {
    long sum = 0;
    for (MetricResult<Long> c :
        run.metrics()
            .queryMetrics(
                MetricsFilter.builder()
                    .addNameFilter(MetricNameFilter.named(RunInference.class, "num_inferences"))
                    .build())
            .getCounters()) {
      sum += c.getAttempted();
    }
    return sum;
  }
}
