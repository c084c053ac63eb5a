package dev.batchinference.runners;

import static org.hamcrest.MatcherAssert.assertThat;
import static org.hamcrest.Matchers.equalTo;
import static org.hamcrest.Matchers.instanceOf;

import dev.batchinference.pipelines.options.RunnerKind;
import dev.batchinference.pipelines.options.RunnerParallelism;
import dev.batchinference.transforms.KeyPlacement;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import org.apache.beam.sdk.options.PipelineOptions;
import org.apache.beam.sdk.options.PipelineOptionsFactory;
import org.junit.Rule;
import org.junit.Test;
import org.junit.rules.TemporaryFolder;

/** Each runner's parallelism, as the job sizes its batching keys by it. */
public class RunnerParallelismTest {

  @Rule public final TemporaryFolder temp = new TemporaryFolder();

  private static PipelineOptions options(String... args) {
    return PipelineOptionsFactory.fromArgs(args).create();
  }

  private static RunnerParallelism flink() {
    return RunnerParallelism.of(RunnerKind.FLINK).orElseThrow();
  }

  @Test
  public void runnerModulesAreFoundThroughTheServiceLoader() {
    assertThat(flink(), instanceOf(FlinkParallelism.class));
    assertThat(
        RunnerParallelism.of(RunnerKind.DATAFLOW).orElseThrow(),
        instanceOf(DataflowParallelism.class));
    assertThat(
        RunnerParallelism.of(RunnerKind.DIRECT).orElseThrow(),
        instanceOf(RunnerParallelism.Direct.class));
  }

  @Test
  public void flinkParallelismIsTheOptionElseWhatBeamDerives() throws Exception {
    assertThat(flink().workers(options("--runner=FlinkRunner", "--parallelism=6")), equalTo(6));
    assertThat(
        "[local] without --parallelism: Flink's parallelism.default, 1 (not the cores)",
        flink().workers(options("--runner=FlinkRunner", "--flinkMaster=[local]")),
        equalTo(1));
    assertThat(
        "a cluster without a configuration: Beam's 1",
        flink().workers(options("--runner=FlinkRunner", "--flinkMaster=localhost:18081")),
        equalTo(1));
    Path conf = temp.newFolder("conf").toPath();
    Files.writeString(conf.resolve("config.yaml"), "parallelism.default: 3\n");
    PipelineOptions withConf =
        options("--runner=FlinkRunner", "--flinkMaster=localhost:18081", "--flinkConfDir=" + conf);
    assertThat("the configuration's default", flink().workers(withConf), equalTo(3));
    assertThat(
        "the options asked are left as they were",
        withConf.as(org.apache.beam.runners.flink.FlinkPipelineOptions.class).getParallelism(),
        equalTo(-1));
  }

  @Test
  public void flinkKeysAreChosenToFallOnEverySubtaskEqually() {
    KeyPlacement placement = flink().placement(options("--runner=FlinkRunner")).orElseThrow();
    for (int workers : new int[] {1, 2, 3, 4, 8, 20, 100}) {
      int slots = workers * 9; // nine weight buckets, one key per worker each
      int[] keys = KeyPlacement.choose(placement, slots, workers);
      int[] perWorker = new int[workers];
      for (int slot = 0; slot < slots; slot++) {
        int worker = placement.workerOf(keys[slot], workers);
        assertThat("slot " + slot + " of " + workers, worker, equalTo(slot % workers));
        perWorker[worker]++;
      }
      assertThat("distinct keys", (int) Arrays.stream(keys).distinct().count(), equalTo(slots));
      assertThat(Arrays.stream(perWorker).min().getAsInt(), equalTo(9));
    }
    // The first keys, 0..7, collide on 4 subtasks: hashing alone would leave some idle.
    int[] naive = new int[4];
    for (int key = 0; key < 4; key++) {
      naive[placement.workerOf(key, 4)]++;
    }
    assertThat(
        "keys 0..3 on 4 subtasks, by Flink's hash: " + Arrays.toString(naive),
        Arrays.stream(naive).filter(n -> n == 0).count() > 0,
        equalTo(true));
  }

  @Test
  public void dataflowParallelismIsWorkersTimesVcpus() {
    RunnerParallelism dataflow = RunnerParallelism.of(RunnerKind.DATAFLOW).orElseThrow();
    assertThat(
        dataflow.workers(
            options(
                "--runner=DataflowRunner",
                "--maxNumWorkers=10",
                "--numWorkers=2",
                "--workerMachineType=n1-standard-4")),
        equalTo(40));
    assertThat(dataflow.workers(options("--runner=DataflowRunner", "--numWorkers=3")), equalTo(3));
    assertThat(
        dataflow.workers(options("--runner=DataflowRunner")),
        equalTo(DataflowParallelism.WORKERS_WHEN_UNSET));
    assertThat(DataflowParallelism.vcpus("custom-8-30720"), equalTo(8));
    assertThat(DataflowParallelism.vcpus("a2-highgpu-2g"), equalTo(24));
    assertThat(DataflowParallelism.vcpus("g2-standard-16"), equalTo(16));
    assertThat(DataflowParallelism.vcpus("e2-highmem-2"), equalTo(2));
    assertThat(DataflowParallelism.vcpus(null), equalTo(1));
    assertThat(dataflow.placement(options("--runner=DataflowRunner")).isPresent(), equalTo(false));
  }

  @Test
  public void onlyTheDirectRunnerAndFlinksMiniClusterRunWorkersInThisJvm() {
    assertThat(
        RunnerParallelism.of(RunnerKind.DIRECT)
            .orElseThrow()
            .workersHere(options("--runner=DirectRunner")),
        equalTo(Math.max(2, Runtime.getRuntime().availableProcessors())));
    assertThat(flink().workersHere(options("--runner=FlinkRunner", "--parallelism=3")), equalTo(3));
    assertThat(
        flink()
            .workersHere(
                options("--runner=FlinkRunner", "--flinkMaster=[local]", "--parallelism=2")),
        equalTo(2));
    assertThat(
        flink()
            .workersHere(
                options("--runner=FlinkRunner", "--flinkMaster=localhost:8081", "--parallelism=4")),
        equalTo(0));
    assertThat(
        RunnerParallelism.of(RunnerKind.DATAFLOW)
            .orElseThrow()
            .workersHere(options("--runner=DataflowRunner", "--numWorkers=3")),
        equalTo(0));
  }
}
