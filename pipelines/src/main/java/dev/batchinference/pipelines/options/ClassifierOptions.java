package dev.batchinference.pipelines.options;

import dev.batchinference.pipelines.options.TemplateParameter.Kind;
import dev.batchinference.transforms.postprocess.ClassScores;
import java.util.List;
import org.apache.beam.sdk.options.Default;
import org.apache.beam.sdk.options.Description;
import org.apache.beam.sdk.options.PipelineOptions;

/** CLASSIFY: the feature vector, the class names and the scores. */
@Description(
    "Feature vectors and class scores, for the CLASSIFY task (topK also bounds zero-shot"
        + " labels).")
public interface ClassifierOptions extends PipelineOptions {

  @Description("CLASSIFY: the array field holding the feature vector (or flattened image).")
  @Default.String("features")
  @TemplateParameter(Kind.TEXT)
  String getFeaturesField();

  void setFeaturesField(String value);

  @Description(
      "CLASSIFY: comma-separated columns forming the feature vector instead of featuresField;"
          + " PREFIX* takes every column with that prefix, in order (for CSV).")
  @TemplateParameter(Kind.TEXT_LIST)
  List<String> getFeatureColumns();

  void setFeatureColumns(List<String> value);

  @Description(
      "CLASSIFY: file of class names, one per line, in the order of the model's output columns.")
  @TemplateParameter(Kind.GCS_OR_CLASSPATH_FILE)
  String getClassLabels();

  void setClassLabels(String value);

  @Description("CLASSIFY: how many of the best classes each prediction lists.")
  @Default.Integer(3)
  @TemplateParameter(Kind.WHOLE_NUMBER)
  int getTopK();

  void setTopK(int value);

  @Description(
      "CLASSIFY: AUTO (softmax unless scores already are probabilities; one output column is a"
          + " binary P(class 1), sigmoid unless already in [0,1]), SOFTMAX, SIGMOID or NONE.")
  @Default.Enum("AUTO")
  @TemplateParameter(Kind.ENUM)
  ClassScores.Activation getActivation();

  void setActivation(ClassScores.Activation value);
}
