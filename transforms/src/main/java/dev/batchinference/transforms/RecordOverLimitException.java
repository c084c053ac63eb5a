package dev.batchinference.transforms;

/**
 * Names the error class of failures of records over a limit (record size, sequence length, batch
 * weight): the message says which limit and the record's value.
 */
public final class RecordOverLimitException extends RuntimeException {
  public RecordOverLimitException(String message) {
    super(message);
  }
}
