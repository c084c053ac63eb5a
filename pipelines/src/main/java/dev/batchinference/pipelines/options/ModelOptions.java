package dev.batchinference.pipelines.options;

import dev.batchinference.pipelines.options.TemplateParameter.Kind;
import java.util.List;
import org.apache.beam.sdk.options.Default;
import org.apache.beam.sdk.options.Description;
import org.apache.beam.sdk.options.PipelineOptions;

/** The model: what to predict, which ONNX model, which of its outputs. */
@Description(
    "The model and the task: what the job predicts, with which ONNX model, and which of its"
        + " outputs it computes.")
public interface ModelOptions extends PipelineOptions {

  /** What the job does with each record. */
  enum Task {
    /** Text embeddings: tokenize, run, mean-pool, normalise. */
    EMBED,
    /** Class scores from a feature vector: label, score, top-k. */
    CLASSIFY,
    /** Model inputs from record fields of the same names; outputs written as arrays. */
    RAW
  }

  @Description(
      "What to predict: EMBED (text embeddings), CLASSIFY (feature vector to class scores) or RAW.")
  @Default.Enum("EMBED")
  @TemplateParameter(Kind.ENUM)
  Task getTask();

  void setTask(Task value);

  @Description(
      "The ONNX model: a local path, gs://..., or classpath:NAME for a model packaged with the job."
          + " The default is all-MiniLM-L6-v2 int8, which comes through Maven.")
  @Default.String("classpath:all-minilm-l6-v2-q.onnx")
  @TemplateParameter(Kind.GCS_OR_CLASSPATH_FILE)
  String getModel();

  void setModel(String value);

  @Description("Name of the model in predictions and summaries. Default: the model file's name.")
  @TemplateParameter(Kind.TEXT)
  String getModelName();

  void setModelName(String value);

  @Description(
      "Comma-separated model outputs to compute (RAW: to write). Default: all, or what the task needs.")
  @TemplateParameter(Kind.TEXT_LIST)
  List<String> getOutputs();

  void setOutputs(List<String> value);
}
