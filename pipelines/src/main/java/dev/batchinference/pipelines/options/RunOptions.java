package dev.batchinference.pipelines.options;

import dev.batchinference.pipelines.options.TemplateParameter.Kind;
import org.apache.beam.sdk.options.Default;
import org.apache.beam.sdk.options.Description;
import org.apache.beam.sdk.options.PipelineOptions;
import org.checkerframework.checker.nullness.qual.Nullable;

/** The run: incremental and threshold-triggered runs, the failure gate, the lock, progress. */
@Description(
    "How a run goes: what it may skip (incremental and threshold-triggered runs), when it"
        + " counts as failed, its output lock, and whether the command waits and shows progress.")
public interface RunOptions extends PipelineOptions {

  @Description(
      "Incremental run: predictions files of a previous run (a pattern; .parquet files are read"
          + " as Parquet, others as JSON Lines; they may be in --output). Records predicted there"
          + " from the same content (id, input_sha256) by the same model under the same settings"
          + " (settings_sha256) are not scored again: their predictions are carried forward into"
          + " this run's output, which so holds every record. Only new, changed or failed records"
          + " are scored.")
  @TemplateParameter(Kind.TEXT)
  String getPreviousPredictions();

  void setPreviousPredictions(String value);

  @Description(
      "Threshold trigger for scheduled runs: run only when at least this many records arrived"
          + " since the run of --previousSummary (records in --input files modified after it"
          + " started); otherwise print 'skipped: ...', write nothing and exit 0. 0: always run."
          + " Files only, not BigQuery.")
  @Default.Long(0)
  @TemplateParameter(Kind.WHOLE_NUMBER)
  long getMinNewRecords();

  void setMinNewRecords(long value);

  @Description(
      "Failure gate: when failures / records read exceed this, the run still writes everything but"
          + " ends with exit status 4 (too many failures) and says which rate was exceeded and the"
          + " most frequent failure reason. Negative turns the gate off.")
  @Default.Double(0.1)
  @TemplateParameter(Kind.DECIMAL)
  double getMaxFailureRate();

  void setMaxFailureRate(double value);

  @Description(
      "Remove the lock file (.batch-inference.lock) that another run left in --output before taking"
          + " it. Only for a run known to be gone (killed on another machine, a Dataflow job that"
          + " failed): a killed run on this machine is noticed without it.")
  @Default.Boolean(false)
  @TemplateParameter(Kind.BOOLEAN)
  boolean getBreakLock();

  void setBreakLock(boolean value);

  @Description("Show progress on the console while the job runs (DirectRunner).")
  @Default.Boolean(true)
  @TemplateParameter(Kind.BOOLEAN)
  boolean getProgress();

  void setProgress(boolean value);

  @Description(
      "Wait for the job to finish and print its result (the default, except on Dataflow, where the"
          + " command returns once the job is submitted).")
  @TemplateParameter(Kind.BOOLEAN)
  @Nullable Boolean getWaitUntilFinish();

  void setWaitUntilFinish(Boolean value);
}
