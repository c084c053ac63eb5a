package dev.batchinference.transforms;

import java.util.Map;
import org.apache.beam.sdk.Pipeline;
import org.apache.beam.sdk.transforms.PTransform;
import org.apache.beam.sdk.values.PCollectionTuple;
import org.apache.beam.sdk.values.PInput;
import org.apache.beam.sdk.values.POutput;
import org.apache.beam.sdk.values.PValue;
import org.apache.beam.sdk.values.TupleTag;

/**
 * The multi-output result of a composite transform: its {@link PCollectionTuple}, which subclasses
 * expose through named getters ({@code predictions()}, {@code failures()}, ...).
 */
public abstract class TupleOutput implements POutput {

  protected final PCollectionTuple tuple;

  protected TupleOutput(PCollectionTuple tuple) {
    this.tuple = tuple;
  }

  @Override
  public Pipeline getPipeline() {
    return tuple.getPipeline();
  }

  @Override
  public Map<TupleTag<?>, PValue> expand() {
    return tuple.expand();
  }

  @Override
  public void finishSpecifyingOutput(
      String transformName, PInput input, PTransform<?, ?> transform) {}
}
