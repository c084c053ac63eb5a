package dev.batchinference.pipelines;

import dev.batchinference.pipelines.options.BatchInferenceOptions;
import dev.batchinference.pipelines.options.ModelOptions.Task;
import dev.batchinference.transforms.io.PredictionRows;
import dev.batchinference.transforms.model.ModelSignature;
import dev.batchinference.transforms.onnx.OnnxModelHandler;
import dev.batchinference.transforms.postprocess.Postprocessor;
import dev.batchinference.transforms.preprocess.Preprocessor;
import dev.batchinference.transforms.tensor.TensorExample;
import java.util.List;
import java.util.Map;

/**
 * Everything that differs between tasks, in one place per task ({@link EmbedTask}, {@link
 * ClassifyTask}, {@link RawTask}): how records become model inputs, how outputs become predictions,
 * which options change a prediction, and the batching defaults. {@link #of} is the only switch on
 * {@code --task}; a new task is a new subclass and a case there.
 */
abstract class TaskSpec {

  /** The task of {@code options}, each given the slice of the options it reads. */
  static TaskSpec of(BatchInferenceOptions options) {
    switch (options.getTask()) {
      case EMBED:
        return new EmbedTask(options, options.getTopK());
      case CLASSIFY:
        return new ClassifyTask(options, options.getOutputs());
      default:
        return new RawTask();
    }
  }

  abstract Task task();

  /**
   * The model outputs to fetch when {@code --outputs} names none; empty for all of them.
   *
   * @param configured the outputs {@code --outputs} names (maybe empty)
   */
  List<String> modelOutputs(List<String> configured) {
    return configured;
  }

  /**
   * The preprocessing ({@link ModelPlan#from} checks it against the model's inputs). Files it reads
   * (a tokenizer) are pinned by their SHA-256 into {@code pinned}, by role.
   */
  abstract Preprocessor<TensorExample> preprocessor(
      ModelSignature signature, Map<String, String> pinned) throws Exception;

  /**
   * The postprocessing ({@link ModelPlan#from} checks it against the model's outputs). A task may
   * run the model already (zero-shot labels are embedded once, here) through {@code handler} with
   * {@code preprocessor}.
   */
  abstract Postprocessor<TensorExample, TensorExample> postprocessor(
      ModelSignature signature,
      OnnxModelHandler handler,
      Preprocessor<TensorExample> preprocessor,
      Map<String, String> pinned)
      throws Exception;

  /** The prediction fields the task writes. */
  abstract java.util.EnumSet<PredictionRows.Content> content();

  /**
   * The task's options that change what a prediction holds, by name; files by the SHA-256 pinned at
   * launch ({@code pinned}, by role), so that an edited file under the same name is a change.
   */
  abstract Map<String, String> settings(Map<String, String> pinned);

  /** The weight budget of a batch when {@code --maxBatchWeight} is unset; 0 for none. */
  long defaultMaxBatchWeight(int batchSize) {
    return 0;
  }

  /** The weight buckets when {@code --lengthBuckets} is unset; empty for none. */
  List<Long> defaultWeightBuckets() {
    return List.of();
  }

  /**
   * The batching the model can take: {@code batching} unchanged, unless the task lets the model
   * decide how many records a run takes (RAW, for a fixed batch dimension or none).
   *
   * @param batchSizeGiven whether {@code --batchSize} was given, rather than left at its default
   */
  Batching fitBatching(Batching batching, ModelSignature signature, boolean batchSizeGiven) {
    return batching;
  }
}
