package dev.batchinference.pipelines;

import dev.batchinference.pipelines.options.ClassifierOptions;
import dev.batchinference.pipelines.options.ModelOptions.Task;
import dev.batchinference.transforms.io.PredictionRows;
import dev.batchinference.transforms.model.ModelSignature;
import dev.batchinference.transforms.onnx.OnnxModelHandler;
import dev.batchinference.transforms.postprocess.ClassScores;
import dev.batchinference.transforms.postprocess.Postprocessor;
import dev.batchinference.transforms.preprocess.FeatureVector;
import dev.batchinference.transforms.preprocess.Preprocessor;
import dev.batchinference.transforms.tensor.TensorExample;
import java.util.EnumSet;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import org.checkerframework.checker.nullness.qual.Nullable;

/**
 * {@code --task=CLASSIFY}: a feature vector (one array field, or named columns) in, the label, its
 * score and the top k classes out.
 */
final class ClassifyTask extends TaskSpec {

  private final String featuresField;
  private final List<String> featureColumns;
  private final ClassScores.Activation activation;
  private final int topK;
  private final List<String> outputs;
  private final String classLabels;

  /**
   * @param options the classifier options
   * @param outputs the model outputs {@code --outputs} names; the first holds the scores
   */
  ClassifyTask(ClassifierOptions options, @Nullable List<String> outputs) {
    this.featuresField = options.getFeaturesField();
    this.featureColumns =
        options.getFeatureColumns() == null ? List.of() : options.getFeatureColumns();
    this.activation = options.getActivation();
    this.topK = options.getTopK();
    this.outputs = outputs == null ? List.of() : outputs;
    this.classLabels = options.getClassLabels();
  }

  @Override
  Task task() {
    return Task.CLASSIFY;
  }

  @Override
  Preprocessor<TensorExample> preprocessor(ModelSignature signature, Map<String, String> pinned)
      throws Exception {
    FeatureVector features = FeatureVector.forModel(signature).withField(featuresField);
    return featureColumns.isEmpty() ? features : features.withColumns(featureColumns);
  }

  @Override
  Postprocessor<TensorExample, TensorExample> postprocessor(
      ModelSignature signature,
      OnnxModelHandler handler,
      Preprocessor<TensorExample> preprocessor,
      Map<String, String> pinned)
      throws Exception {
    ClassScores scores = ClassScores.of().withTopK(topK).withActivation(activation);
    if (!outputs.isEmpty()) {
      scores = scores.withOutput(outputs.get(0));
    }
    if (JobChecks.notEmpty(classLabels)) {
      scores =
          scores.withLabels(
              JobChecks.readLines(classLabels, "--classLabels", pinned, "class_labels"));
    }
    return scores;
  }

  @Override
  EnumSet<PredictionRows.Content> content() {
    return EnumSet.of(PredictionRows.Content.CLASS);
  }

  @Override
  Map<String, String> settings(Map<String, String> pinned) {
    Map<String, String> s = new TreeMap<>();
    s.put("featuresField", featuresField);
    s.put("featureColumns", String.valueOf(featureColumns.isEmpty() ? null : featureColumns));
    s.put("activation", String.valueOf(activation));
    s.put("topK", Integer.toString(topK));
    if (JobChecks.notEmpty(classLabels)) {
      s.put("classLabels_sha256", pinned.get("class_labels"));
    }
    return s;
  }
}
