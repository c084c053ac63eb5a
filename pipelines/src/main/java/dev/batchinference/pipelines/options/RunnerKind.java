package dev.batchinference.pipelines.options;

import java.util.List;
import java.util.Locale;
import org.apache.beam.sdk.options.PipelineOptions;

/**
 * Which runner a job runs on, the one place that tells: the job's defaults (keys, threads), its
 * checks (the portable runner is refused) and the command line (whether to wait) ask here instead
 * of comparing runner class names each on their own.
 */
public enum RunnerKind {
  /** Beam's DirectRunner: every thread in this JVM. */
  DIRECT,
  /** The classic Flink runner, embedded ({@code [local]}) or on a cluster. */
  FLINK,
  /** Google Cloud Dataflow. */
  DATAFLOW,
  /** Beam's portable runner (a job server); the job refuses it. */
  PORTABLE,
  /** Any other runner. */
  OTHER;

  /** The kind of {@code options.getRunner()}. */
  public static RunnerKind of(PipelineOptions options) {
    return ofName(options.getRunner().getSimpleName());
  }

  /**
   * The kind of a {@code --runner=} value as a user writes it (a simple or a qualified class name,
   * in any case, as Beam takes it); {@link #DIRECT} when {@code args} set no runner, as Beam does.
   */
  public static RunnerKind ofArgs(List<String> args) {
    String runner = "DirectRunner";
    for (String arg : args) {
      if (arg.startsWith("--runner=")) {
        runner = arg.substring("--runner=".length());
      }
    }
    return ofName(runner.substring(runner.lastIndexOf('.') + 1));
  }

  private static RunnerKind ofName(String simpleName) {
    switch (simpleName.toLowerCase(Locale.ROOT)) {
      case "directrunner":
      case "testdirectrunner":
        return DIRECT;
      case "flinkrunner":
      case "testflinkrunner":
        return FLINK;
      case "dataflowrunner":
      case "testdataflowrunner":
        return DATAFLOW;
      case "portablerunner":
      case "testportablerunner":
        return PORTABLE;
      default:
        return OTHER;
    }
  }
}
