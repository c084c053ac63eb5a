package dev.batchinference.pipelines.options;

import dev.batchinference.pipelines.options.TemplateParameter.Kind;
import org.apache.beam.sdk.options.Default;
import org.apache.beam.sdk.options.Description;
import org.apache.beam.sdk.options.PipelineOptions;

/** Drift alerts: the previous run to compare with, and how far this run may move. */
@Description(
    "Drift alerts: the previous run's summary and the thresholds this run's predictions,"
        + " failure rate and throughput are held to against it.")
public interface DriftOptions extends PipelineOptions {

  @Description(
      "summary.json of the previous run of this job (local or gs://): this run's prediction"
          + " distribution, failure rate and throughput are compared with it (drift alerts), and"
          + " --minNewRecords counts the records that arrived since it started.")
  @TemplateParameter(Kind.TEXT)
  String getPreviousSummary();

  void setPreviousSummary(String value);

  @Description(
      "Drift alert: population stability index of the class distribution, or of the top-score"
          + " histogram, against --previousSummary above this. Negative turns the check off.")
  @Default.Double(0.2)
  @TemplateParameter(Kind.DECIMAL)
  double getMaxPsi();

  void setMaxPsi(double value);

  @Description(
      "Drift alert: the mean top score moving by more than this (absolute, scores in 0..1)"
          + " against --previousSummary. Negative turns the check off.")
  @Default.Double(0.1)
  @TemplateParameter(Kind.DECIMAL)
  double getMaxScoreShift();

  void setMaxScoreShift(double value);

  @Description(
      "Drift alert: cosine distance between this run's and --previousSummary's mean embedding"
          + " (centroid) above this. Negative turns the check off.")
  @Default.Double(0.05)
  @TemplateParameter(Kind.DECIMAL)
  double getMaxCentroidShift();

  void setMaxCentroidShift(double value);

  @Description(
      "Drift alert: failure rate (failures / records read) rising by more than this (absolute,"
          + " 0.01 = one percentage point) against --previousSummary. Negative turns it off.")
  @Default.Double(0.01)
  @TemplateParameter(Kind.DECIMAL)
  double getMaxFailureRateIncrease();

  void setMaxFailureRateIncrease(double value);

  @Description(
      "Drift alert: throughput (records read per second of wall time) dropping by more than this"
          + " fraction (0.5 = half) against --previousSummary. Negative turns the check off.")
  @Default.Double(0.5)
  @TemplateParameter(Kind.DECIMAL)
  double getMaxThroughputDrop();

  void setMaxThroughputDrop(double value);
}
