package dev.batchinference.runners;

import com.fasterxml.jackson.databind.ObjectMapper;
import dev.batchinference.pipelines.options.RunnerKind;
import dev.batchinference.pipelines.options.RunnerParallelism;
import dev.batchinference.transforms.KeyPlacement;
import java.io.IOException;
import java.util.Arrays;
import java.util.Optional;
import org.apache.beam.runners.flink.FlinkExecutionEnvironments;
import org.apache.beam.runners.flink.FlinkPipelineOptions;
import org.apache.beam.sdk.coders.CoderException;
import org.apache.beam.sdk.coders.VarIntCoder;
import org.apache.beam.sdk.options.PipelineOptions;
import org.apache.beam.sdk.util.CoderUtils;
import org.apache.beam.sdk.util.common.ReflectHelpers;
import org.apache.flink.util.MathUtils;

/**
 * The classic FlinkRunner in batch mode: its parallelism as Beam will set it, and where its shuffle
 * sends each key.
 *
 * <p>Parallelism: {@code --parallelism}, else what Beam derives when it creates the execution
 * environment: {@code parallelism.default} of {@code --flinkConfDir} or {@code FLINK_CONF_DIR},
 * else 1 (for {@code [local]} too: Beam 2.62 does not take the cores there); asked of Beam's own
 * {@link FlinkExecutionEnvironments} on a copy of the options, so the two cannot disagree.
 *
 * <p>Placement: Beam 2.62 translates a stateful step such as {@code GroupIntoBatches} in batch mode
 * to a DataSet {@code groupBy} on the key encoded with its coder; Flink hash-partitions it to
 * subtask {@code murmurHash(Arrays.hashCode(bytes)) % parallelism}.
 */
public final class FlinkParallelism implements RunnerParallelism {

  @Override
  public RunnerKind runner() {
    return RunnerKind.FLINK;
  }

  @Override
  public int workers(PipelineOptions options) {
    FlinkPipelineOptions flink = options.as(FlinkPipelineOptions.class);
    if (flink.getParallelism() != null && flink.getParallelism() > 0) {
      return flink.getParallelism();
    }
    // Beam sets the parallelism it chose on the options it is given: give it a copy.
    return FlinkExecutionEnvironments.createBatchExecutionEnvironment(copy(flink)).getParallelism();
  }

  /** A copy of {@code options} through JSON, as Beam ships options to its workers. */
  private static FlinkPipelineOptions copy(FlinkPipelineOptions options) {
    ObjectMapper mapper =
        new ObjectMapper()
            .registerModules(ObjectMapper.findModules(ReflectHelpers.findClassLoader()));
    try {
      return mapper
          .readValue(mapper.writeValueAsBytes(options), PipelineOptions.class)
          .as(FlinkPipelineOptions.class);
    } catch (IOException e) {
      throw new IllegalStateException("cannot copy the pipeline options: " + e.getMessage(), e);
    }
  }

  @Override
  public Optional<KeyPlacement> placement(PipelineOptions options) {
    return Optional.of(FlinkParallelism::subtaskOf);
  }

  /**
   * All of them for Flink's embedded mini cluster ({@code --flinkMaster=[local]}, or {@code [auto]}
   * launched outside a cluster, as this job always is); none for a cluster's master.
   */
  @Override
  public int workersHere(PipelineOptions options) {
    String master = options.as(FlinkPipelineOptions.class).getFlinkMaster();
    return "[local]".equals(master) || "[auto]".equals(master) ? workers(options) : 0;
  }

  /** The subtask of {@code workers} that Flink's batch hash partitioning sends {@code key} to. */
  static int subtaskOf(int key, int workers) {
    try {
      byte[] encoded = CoderUtils.encodeToByteArray(VarIntCoder.of(), key);
      return MathUtils.murmurHash(Arrays.hashCode(encoded)) % workers;
    } catch (CoderException e) {
      throw new IllegalStateException(e);
    }
  }
}
