package dev.batchinference.transforms.model;

import java.io.Serializable;
import org.apache.beam.sdk.transforms.display.DisplayData;
import org.apache.beam.sdk.transforms.display.HasDisplayData;

/**
 * Loads a model and says how to batch its examples. A handler is a small serializable description
 * (where the model is, how to open it); the loaded model it produces is shared by every thread of a
 * worker JVM through {@link SharedResources}, keyed by {@link #cacheKey()}.
 *
 * @param <ExampleT> one record's model input
 * @param <OutputT> one record's model output
 */
public interface ModelHandler<ExampleT, OutputT> extends Serializable, HasDisplayData {

  /** Handlers with equal keys share one loaded model within a JVM. */
  String cacheKey();

  /** Loads the model. Called at most once per JVM and key at a time, from {@code @Setup}. */
  LoadedModel<ExampleT, OutputT> load() throws Exception;

  /**
   * The weight of one example when batches are bounded by weight rather than by count: tokens for
   * text, tensor elements for numeric inputs.
   */
  long weight(ExampleT example);

  /**
   * Describes the model for runner UIs (its location, name, hash), through the {@code RunInference}
   * that runs it. Describes nothing by default.
   */
  @Override
  default void populateDisplayData(DisplayData.Builder builder) {}
}
