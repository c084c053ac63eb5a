package dev.batchinference.pipelines.options;

import dev.batchinference.pipelines.options.TemplateParameter.Kind;
import java.util.List;
import org.apache.beam.sdk.options.Default;
import org.apache.beam.sdk.options.Description;
import org.apache.beam.sdk.options.PipelineOptions;
import org.checkerframework.checker.nullness.qual.Nullable;

/** Batching: how records are grouped into model runs, and over how many keys. */
@Description(
    "How records are grouped into batches for the model (size, weight budget, length"
        + " buckets) and spread over keys.")
public interface BatchingOptions extends PipelineOptions {

  @Description("Most records per model run.")
  @Default.Integer(32)
  @TemplateParameter(Kind.WHOLE_NUMBER)
  int getBatchSize();

  void setBatchSize(int value);

  @Description(
      "Most total weight per model run (tokens for text, elements for tensors): a token budget,"
          + " so batches of long texts hold fewer records. Default: 32 tokens per record of"
          + " batchSize (at least maxSequenceLength) for EMBED, none otherwise; 0: no bound.")
  @TemplateParameter(Kind.WHOLE_NUMBER)
  @Nullable Long getMaxBatchWeight();

  void setMaxBatchWeight(@Nullable Long value);

  @Description("Emit a partial batch after its first record waited this many seconds; 0: no limit.")
  @Default.Integer(0)
  @TemplateParameter(Kind.WHOLE_NUMBER)
  int getMaxBufferingSeconds();

  void setMaxBufferingSeconds(int value);

  @Description(
      "Comma-separated upper bounds of weight buckets (tokens for EMBED): batches are made of"
          + " records of one bucket, so short texts do not pay for the padding of long ones."
          + " Default: 16,24,32,48,64,96,128,192 for EMBED, none otherwise; 0 turns buckets off.")
  @TemplateParameter(Kind.NUMBER_LIST)
  List<Long> getLengthBuckets();

  void setLengthBuckets(List<Long> value);

  @Description(
      "Spread the records over the workers again after reading (a Reshuffle, the job's second"
          + " shuffle), so that parsing and preprocessing run in parallel however the input was"
          + " read. Default: only when the input is read whole by one reader per file"
          + " (compressed files, Parquet, --inputRangeBytes=0); uncompressed JSON Lines and CSV"
          + " files are already read in parallel byte ranges, and BigQuery in parallel streams.")
  @TemplateParameter(Kind.BOOLEAN)
  Boolean getRedistribute();

  void setRedistribute(Boolean value);

  @Description(
      "Keys that records are spread over when they are redistributed after reading (see"
          + " --redistribute). 0: one per core on the DirectRunner (whose cost is per bundle, and"
          + " it makes a bundle of each key), Beam's random keys on other runners.")
  @Default.Integer(0)
  @TemplateParameter(Kind.WHOLE_NUMBER)
  int getRedistributeBuckets();

  void setRedistributeBuckets(int value);

  @Description(
      "Keys that batching spreads records over, per length bucket (the parallelism of inference);"
          + " each ends the input with a partial batch. 0: from the runner's parallelism: one per"
          + " core on the DirectRunner, one per subtask on Flink (each placed on its own subtask),"
          + " 4 per vCPU of --maxNumWorkers on Dataflow, 8 on other runners.")
  @Default.Integer(0)
  @TemplateParameter(Kind.WHOLE_NUMBER)
  int getInferenceShards();

  void setInferenceShards(int value);
}
