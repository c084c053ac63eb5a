package dev.batchinference.transforms.preprocess;

/** A record's content cannot be turned into a model input; the message says why. */
public class InvalidRecordException extends Exception {
  public InvalidRecordException(String message) {
    super(message);
  }
}
