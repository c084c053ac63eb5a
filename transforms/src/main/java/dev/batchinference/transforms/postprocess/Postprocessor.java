package dev.batchinference.transforms.postprocess;

import dev.batchinference.transforms.Prediction;
import dev.batchinference.transforms.model.ModelSignature;
import java.io.Serializable;

/**
 * Turns one record's model output into prediction fields. Runs inside the inference step, right
 * after its batch; a record whose postprocessing throws becomes a {@code postprocess} failure and
 * the rest of the batch is unaffected.
 *
 * @param <ExampleT> one record's model input
 * @param <OutputT> one record's model output
 */
public interface Postprocessor<ExampleT, OutputT> extends Serializable {

  /** Fills {@code prediction} from the record's example and output. */
  void fill(ExampleT example, OutputT output, Prediction.Builder prediction) throws Exception;

  /**
   * Fails with a message that says what to fix when the model's outputs cannot be postprocessed
   * this way. Called before the job reads data.
   */
  default void check(ModelSignature signature) {}
}
