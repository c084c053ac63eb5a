package dev.batchinference.transforms.postprocess;

import dev.batchinference.transforms.Prediction;
import dev.batchinference.transforms.tensor.TensorExample;

/** Keeps every requested output tensor of a record as it is (raw mode). */
public final class RawOutputs implements Postprocessor<TensorExample, TensorExample> {

  public static RawOutputs of() {
    return new RawOutputs();
  }

  private RawOutputs() {}

  @Override
  public void fill(TensorExample example, TensorExample outputs, Prediction.Builder prediction) {
    prediction.outputs(outputs);
  }
}
