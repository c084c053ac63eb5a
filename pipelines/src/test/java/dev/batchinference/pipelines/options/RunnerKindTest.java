package dev.batchinference.pipelines.options;

import static org.hamcrest.MatcherAssert.assertThat;
import static org.hamcrest.Matchers.equalTo;

import java.util.List;
import org.apache.beam.sdk.options.PipelineOptionsFactory;
import org.junit.Test;
import org.junit.runner.RunWith;
import org.junit.runners.JUnit4;

@RunWith(JUnit4.class)
public class RunnerKindTest {

  @Test
  public void theDefaultRunnerIsTheDirectRunner() {
    assertThat(RunnerKind.of(PipelineOptionsFactory.create()), equalTo(RunnerKind.DIRECT));
    assertThat(RunnerKind.ofArgs(List.of("--batchSize=4")), equalTo(RunnerKind.DIRECT));
  }

  @Test
  public void runnerNamesAreReadAsBeamReadsThem() {
    assertThat(RunnerKind.ofArgs(List.of("--runner=FlinkRunner")), equalTo(RunnerKind.FLINK));
    assertThat(RunnerKind.ofArgs(List.of("--runner=flinkrunner")), equalTo(RunnerKind.FLINK));
    assertThat(
        RunnerKind.ofArgs(List.of("--runner=org.apache.beam.runners.dataflow.DataflowRunner")),
        equalTo(RunnerKind.DATAFLOW));
    assertThat(
        RunnerKind.ofArgs(List.of("--runner=DirectRunner", "--runner=PortableRunner")),
        equalTo(RunnerKind.PORTABLE));
    assertThat(RunnerKind.ofArgs(List.of("--runner=SparkRunner")), equalTo(RunnerKind.OTHER));
  }
}
