package dev.batchinference.pipelines.options;

/**
 * An option or resource that can never work (a missing model, an input that matches no file, an
 * output that cannot be written, options that contradict each other), found before any data is
 * read. The message says which and what to do; the command line prints it and exits with status 2.
 */
public final class InvalidJobException extends RuntimeException {
  public InvalidJobException(String message, Throwable cause) {
    super(message, cause);
  }

  public InvalidJobException(String message) {
    super(message);
  }
}
