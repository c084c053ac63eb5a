package dev.batchinference.pipelines;

import dev.batchinference.pipelines.options.InvalidJobException;
import dev.batchinference.pipelines.options.ModelOptions.Task;
import dev.batchinference.transforms.io.PredictionRows;
import dev.batchinference.transforms.model.BatchMode;
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
 * arrays. It has no options of its own. The model's signature decides how records are batched
 * ({@link BatchMode}): a fixed batch dimension of N makes every batch N records, a model without a
 * batch dimension runs one record per call.
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

  @Override
  Batching fitBatching(Batching batching, ModelSignature signature, boolean batchSizeGiven) {
    BatchMode mode = BatchMode.of(signature);
    int required = mode.requiredBatchSize();
    if (required == 0 || batching.batchSize() == required) {
      return batching;
    }
    if (batchSizeGiven) {
      throw new InvalidJobException(
          "--batchSize="
              + batching.batchSize()
              + " does not fit the model: "
              + (mode.kind() == BatchMode.Kind.FIXED
                  ? "its inputs have a batch dimension fixed at "
                      + required
                      + " ("
                      + signature.inputs()
                      + "), so every run takes exactly "
                      + required
                      + " records (the last one padded with zero rows)"
                  : "it has no batch dimension ("
                      + signature.inputs()
                      + "), so it runs one record per call, each record holding its inputs whole")
              + ". Leave --batchSize unset or set it to "
              + required
              + ".");
    }
    return batching.withBatchSize(required);
  }
}
