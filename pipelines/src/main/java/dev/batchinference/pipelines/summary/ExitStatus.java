package dev.batchinference.pipelines.summary;

/**
 * The exit statuses of the job's command line and of its check tools ({@link RunStatus}, {@code
 * NewRecords}), in one place so that a scheduler can tell a run's outcome from the status alone.
 * {@link RunStatus} decides which of {@link #OK}, {@link #FAILED}, {@link #TOO_MANY_FAILURES} and
 * {@link #DRIFT_ALERT} a finished run's summary gives.
 */
public enum ExitStatus {
  /**
   * The job succeeded and lost nothing (or, for {@code NewRecords}, enough new records arrived).
   */
  OK(0),
  /** The job failed, its nothing-lost check failed, or its summary cannot be read. */
  FAILED(1),
  /** The job could not start: bad options, or a resource that can never work; nothing was read. */
  INVALID(2),
  /** The job succeeded and lost nothing, but its comparison with the previous run raised alerts. */
  DRIFT_ALERT(3),
  /**
   * The job lost nothing but failed more records than {@code --maxFailureRate} allows. A retry
   * would not help: the inputs (or the model) are the problem.
   */
  TOO_MANY_FAILURES(4),
  /**
   * Another run holds the output directory's lock: nothing started, try later (75 is EX_TEMPFAIL,
   * as {@code nightly.sh} gives for its own lock).
   */
  OUTPUT_LOCKED(75),
  /** {@code NewRecords}: fewer new records than {@code --minNewRecords} arrived; skip the run. */
  TOO_FEW_NEW_RECORDS(99);

  private final int code;

  ExitStatus(int code) {
    this.code = code;
  }

  /** The number the process exits with. */
  public int code() {
    return code;
  }
}
