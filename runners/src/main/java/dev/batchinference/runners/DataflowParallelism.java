package dev.batchinference.runners;

import dev.batchinference.pipelines.options.RunnerKind;
import dev.batchinference.pipelines.options.RunnerParallelism;
import dev.batchinference.transforms.KeyPlacement;
import java.util.Optional;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.apache.beam.runners.dataflow.options.DataflowPipelineWorkerPoolOptions;
import org.apache.beam.sdk.options.PipelineOptions;

/**
 * Dataflow: as many inference workers as vCPUs at the job's largest ({@code --maxNumWorkers}, else
 * {@code --numWorkers}, else {@value #WORKERS_WHEN_UNSET} workers) times the vCPUs of {@code
 * --workerMachineType}. Dataflow moves key ranges between workers as it goes, so there is no fixed
 * placement.
 */
public final class DataflowParallelism implements RunnerParallelism {

  /** Workers assumed when the job sets neither bound; the autoscaler may go further. */
  static final int WORKERS_WHEN_UNSET = 100;

  private static final Pattern CUSTOM = Pattern.compile("^custom-(\\d+)-\\d+(-ext)?$");
  private static final Pattern A2 = Pattern.compile("^a2-(?:high|ultra|mega)gpu-(\\d+)g$");
  private static final Pattern TRAILING_VCPUS = Pattern.compile("^[a-z0-9]+-[a-z]+-(\\d+)$");

  @Override
  public RunnerKind runner() {
    return RunnerKind.DATAFLOW;
  }

  @Override
  public int workers(PipelineOptions options) {
    DataflowPipelineWorkerPoolOptions pool = options.as(DataflowPipelineWorkerPoolOptions.class);
    int workers =
        pool.getMaxNumWorkers() > 0
            ? pool.getMaxNumWorkers()
            : pool.getNumWorkers() > 0 ? pool.getNumWorkers() : WORKERS_WHEN_UNSET;
    return workers * vcpus(pool.getWorkerMachineType());
  }

  @Override
  public Optional<KeyPlacement> placement(PipelineOptions options) {
    return Optional.empty();
  }

  /** None: Dataflow's workers are VMs of their own. */
  @Override
  public int workersHere(PipelineOptions options) {
    return 0;
  }

  /**
   * The vCPUs of a Compute Engine machine type: {@code n1-standard-4} 4, {@code custom-8-30720} 8,
   * {@code a2-highgpu-2g} 24 (12 per GPU); 1 when unset (Dataflow's batch default, {@code
   * n1-standard-1}) or not recognised.
   */
  static int vcpus(String machineType) {
    if (machineType == null || machineType.isEmpty()) {
      return 1;
    }
    Matcher m = CUSTOM.matcher(machineType);
    if (m.matches()) {
      return Integer.parseInt(m.group(1));
    }
    m = A2.matcher(machineType);
    if (m.matches()) {
      return 12 * Integer.parseInt(m.group(1));
    }
    m = TRAILING_VCPUS.matcher(machineType);
    if (m.matches()) {
      return Integer.parseInt(m.group(1));
    }
    return 1;
  }
}
