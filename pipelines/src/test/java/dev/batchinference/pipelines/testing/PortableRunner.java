package dev.batchinference.pipelines.testing;

import org.apache.beam.sdk.Pipeline;
import org.apache.beam.sdk.PipelineResult;
import org.apache.beam.sdk.PipelineRunner;
import org.apache.beam.sdk.options.PipelineOptions;

/**
 * Stands in for Beam's {@code PortableRunner} (which is not on this module's classpath) in the test
 * that the job refuses it; it never runs anything.
 */
public final class PortableRunner extends PipelineRunner<PipelineResult> {

  public static PortableRunner fromOptions(PipelineOptions options) {
    return new PortableRunner();
  }

  @Override
  public PipelineResult run(Pipeline pipeline) {
    throw new UnsupportedOperationException("a stand-in runner runs nothing");
  }
}
