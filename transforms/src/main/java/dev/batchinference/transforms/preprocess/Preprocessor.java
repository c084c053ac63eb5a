package dev.batchinference.transforms.preprocess;

import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.batchinference.transforms.model.ModelSignature;
import java.io.Serializable;
import org.apache.beam.sdk.coders.Coder;

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

  /** Releases what {@link #setup()} opened. */
  default void teardown() {}

  /**
   * Fails with a message that says what to fix when the model's inputs do not match what this
   * preprocessor produces. Called before the job reads data.
   */
  default void check(ModelSignature signature) {}

  Coder<ExampleT> exampleCoder();
}
