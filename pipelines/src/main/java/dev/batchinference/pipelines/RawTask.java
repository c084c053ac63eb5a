package dev.batchinference.pipelines;

import dev.batchinference.pipelines.options.ModelOptions.Task;
import dev.batchinference.transforms.io.PredictionRows;
import dev.batchinference.transforms.model.ModelSignature;
import dev.batchinference.transforms.onnx.OnnxModelHandler;
import dev.batchinference.transforms.postprocess.Postprocessor;
import dev.batchinference.transforms.postprocess.RawOutputs;
import dev.batchinference.transforms.preprocess.Preprocessor;
import dev.batchinference.transforms.preprocess.RawTensors;
import dev.batchinference.transforms.tensor.TensorExample;
import java.util.EnumSet;
import java.util.Map;

/**
 * {@code --task=RAW}: model inputs from record fields of the same names, every output written as
 * arrays. It has no options of its own.
 */
final class RawTask extends TaskSpec {

  @Override
  Task task() {
    return Task.RAW;
  }

  @Override
  Preprocessor<TensorExample> preprocessor(ModelSignature signature, Map<String, String> pinned)
      throws Exception {
    return RawTensors.forModel(signature);
  }

  @Override
  Postprocessor<TensorExample, TensorExample> postprocessor(
      ModelSignature signature,
      OnnxModelHandler handler,
      Preprocessor<TensorExample> preprocessor,
      Map<String, String> pinned)
      throws Exception {
    return RawOutputs.of();
  }

  @Override
  EnumSet<PredictionRows.Content> content() {
    return EnumSet.of(PredictionRows.Content.OUTPUTS);
  }

  @Override
  Map<String, String> settings(Map<String, String> pinned) {
    return Map.of();
  }
}
