package dev.batchinference.transforms.model;

import java.util.List;

/**
 * A model opened by a {@link ModelHandler}, shared by all threads of a JVM. Implementations must
 * allow concurrent {@link #run} calls.
 *
 * @param <ExampleT> one record's model input
 * @param <OutputT> one record's model output
 */
public interface LoadedModel<ExampleT, OutputT> extends AutoCloseable {

  ModelIdentity identity();

  /** Size of the model file in bytes. */
  long byteSize();

  /**
   * Runs one batch and returns one output per example, in the order of {@code batch}. Throws if the
   * batch as a whole cannot be run; the caller then splits it to isolate the bad records.
   */
  List<OutputT> run(List<ExampleT> batch) throws Exception;
}
