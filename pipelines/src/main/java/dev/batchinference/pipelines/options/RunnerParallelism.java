package dev.batchinference.pipelines.options;

import dev.batchinference.transforms.KeyPlacement;
import java.util.Optional;
import java.util.ServiceLoader;
import org.apache.beam.sdk.options.PipelineOptions;

/**
 * What a runner will run the inference step on: how many parallel workers, and where its shuffle
 * sends each key. The job sizes its batching keys from it ({@code Batching}). Runner modules
 * provide one per runner through {@link ServiceLoader} (as Beam's own runner registrars do), so
 * that this module needs no runner on its classpath; the DirectRunner's is here.
 */
public interface RunnerParallelism {

  /** The runner this describes. */
  RunnerKind runner();

  /** The parallel instances of the inference step that the runner will run {@code options} with. */
  int workers(PipelineOptions options);

  /**
   * Where the runner's shuffle sends each key, when it is fixed for the whole job (Flink); empty
   * when the runner moves keys between workers as it goes (Dataflow, the DirectRunner).
   */
  Optional<KeyPlacement> placement(PipelineOptions options);

  /**
   * How many of the {@link #workers} run in this JVM, beside the launcher, sharing its cores (the
   * DirectRunner, Flink's embedded mini cluster); 0 when they run on other machines.
   */
  int workersHere(PipelineOptions options);

  /** The description of {@code runner} that a runner module provides, if one is loaded. */
  static Optional<RunnerParallelism> of(RunnerKind runner) {
    if (runner == RunnerKind.DIRECT) {
      return Optional.of(new Direct());
    }
    for (RunnerParallelism parallelism :
        ServiceLoader.load(RunnerParallelism.class, RunnerParallelism.class.getClassLoader())) {
      if (parallelism.runner() == runner) {
        return Optional.of(parallelism);
      }
    }
    return Optional.empty();
  }

  /**
   * The DirectRunner: a thread per core at most, each taking whichever key has work (so no
   * placement). At least 2, as Beam's own {@code targetParallelism} default.
   */
  final class Direct implements RunnerParallelism {
    @Override
    public RunnerKind runner() {
      return RunnerKind.DIRECT;
    }

    @Override
    public int workers(PipelineOptions options) {
      return Math.max(2, Runtime.getRuntime().availableProcessors());
    }

    @Override
    public Optional<KeyPlacement> placement(PipelineOptions options) {
      return Optional.empty();
    }

    @Override
    public int workersHere(PipelineOptions options) {
      return workers(options);
    }
  }
}
