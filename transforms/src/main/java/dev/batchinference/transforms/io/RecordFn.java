package dev.batchinference.transforms.io;

import dev.batchinference.transforms.Failure;
import java.io.Serializable;
import java.util.function.Consumer;
import org.apache.beam.sdk.coders.Coder;

/**
 * What a read step does with each record where it reads it ({@link ReadRecords#thenEach}): turns it
 * into outputs, or into a failure. Set up and torn down with the reading {@code DoFn}.
 *
 * <p>On Flink's batch translation a step with several outputs cannot chain into the next: every
 * record it emits is serialized once per output. Doing the first per-record step inside the read
 * spares every record one serialization and one hop; the read's own reports travel beside it.
 */
public interface RecordFn<OutputT> extends Serializable {

  /** Called once per reading {@code DoFn} instance, before any record. */
  default void setup() throws Exception {}

  /**
   * Turns {@code record} into zero or more outputs, or into failures; never throws for a bad
   * record.
   */
  void apply(RawRecord record, Consumer<OutputT> outputs, Consumer<Failure> failures);

  /** Called once per reading {@code DoFn} instance, after its last record. */
  default void teardown() {}

  /** The coder of the outputs. */
  Coder<OutputT> outputCoder();
}
