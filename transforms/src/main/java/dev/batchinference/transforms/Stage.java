package dev.batchinference.transforms;

/** The stage of a job at which a record failed. */
public enum Stage {
  READ,
  PARSE,
  PREPROCESS,
  INFER,
  POSTPROCESS,
  WRITE;

  /** The lower-case name used in failure records and summaries. */
  public String label() {
    return name().toLowerCase(java.util.Locale.ROOT);
  }
}
