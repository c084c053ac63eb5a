package dev.batchinference.transforms.preprocess;

import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.batchinference.transforms.model.ModelSignature;
import java.io.Serializable;
import org.apache.beam.sdk.coders.Coder;
import org.checkerframework.checker.nullness.qual.Nullable;

/**
 * Turns one parsed record into the model's input example. A record that cannot be turned into an
 * example throws {@link InvalidRecordException} (or any exception) and becomes a {@code preprocess}
 * failure; the job goes on.
 *
 * @param <ExampleT> the model input of one record
 */
public interface Preprocessor<ExampleT> extends Serializable {

  /** Opens what the preprocessor needs (a tokenizer, say); called once per DoFn instance. */
  default void setup() throws Exception {}

  ExampleT apply(ObjectNode record) throws Exception;

  /**
   * The top-level field holding a flat array of numbers that this preprocessor reads whole, if any:
   * {@link Preprocess} then reads it straight from the line into a {@code float[]} and calls {@link
   * #apply(ObjectNode, float[])}, sparing a JSON node per number.
   */
  default @Nullable NumberArray numberArray() {
    return null;
  }

  /**
   * As {@link #apply(ObjectNode)}, for a record whose {@link #numberArray()} was read into {@code
   * numbers} (exactly its length); in {@code record}, that field is null.
   */
  default ExampleT apply(ObjectNode record, float[] numbers) throws Exception {
    throw new UnsupportedOperationException(getClass().getName() + " reads no number array");
  }

  /** Releases what {@link #setup()} opened. */
  default void teardown() {}

  /**
   * Fails with a message that says what to fix when the model's inputs do not match what this
   * preprocessor produces. Called before the job reads data.
   */
  default void check(ModelSignature signature) {}

  Coder<ExampleT> exampleCoder();
}
