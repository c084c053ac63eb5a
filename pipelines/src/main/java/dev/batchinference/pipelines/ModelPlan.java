package dev.batchinference.pipelines;

import dev.batchinference.pipelines.options.BatchInferenceOptions;
import dev.batchinference.pipelines.options.InvalidJobException;
import dev.batchinference.pipelines.options.OnnxRuntimeOptions;
import dev.batchinference.pipelines.options.RunnerKind;
import dev.batchinference.pipelines.options.RunnerParallelism;
import dev.batchinference.transforms.io.PredictionRows;
import dev.batchinference.transforms.model.ModelSignature;
import dev.batchinference.transforms.onnx.OnnxModelHandler;
import dev.batchinference.transforms.onnx.SessionConfig;
import dev.batchinference.transforms.postprocess.Postprocessor;
import dev.batchinference.transforms.preprocess.Preprocessor;
import dev.batchinference.transforms.tensor.TensorExample;
import java.util.Collections;
import java.util.EnumSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The model part of a job's plan: the model loaded and checked once (its handler pinned to the
 * SHA-256 read at launch), the task's preprocessing and postprocessing checked against its
 * signature, and the other files the task pinned (tokenizer, label files). The batch size tuner
 * needs this part only.
 *
 * @param uri the model as {@code --model} names it
 * @param pinnedSha256 SHA-256 of the files besides the model that the job pinned at launch, by role
 *     ({@code tokenizer}, {@code class_labels}, {@code zero_shot_labels}): the tokenizer's hash is
 *     checked by every worker; label files are read here once and travel with the job
 */
public record ModelPlan(
    String uri,
    TaskSpec task,
    OnnxModelHandler handler,
    ModelSignature signature,
    Preprocessor<TensorExample> preprocessor,
    Postprocessor<TensorExample, TensorExample> postprocessor,
    EnumSet<PredictionRows.Content> content,
    Map<String, String> pinnedSha256) {

  public ModelPlan {
    pinnedSha256 = Collections.unmodifiableMap(new LinkedHashMap<>(pinnedSha256));
    content = EnumSet.copyOf(content);
  }

  /** Loads the model of {@code options} and fits the task to it; fails with what to fix. */
  public static ModelPlan from(BatchInferenceOptions options) {
    TaskSpec task = TaskSpec.of(options);
    OnnxModelHandler handler =
        OnnxModelHandler.of(options.getModel()).withSessionConfig(sessionConfig(options));
    if (JobChecks.notEmpty(options.getModelName())) {
      handler = handler.withName(options.getModelName());
    }
    List<String> outputs =
        task.modelOutputs(options.getOutputs() == null ? List.of() : options.getOutputs());
    if (!outputs.isEmpty()) {
      handler = handler.withOutputs(outputs);
    }
    ModelSignature signature;
    try {
      signature = handler.inspect();
    } catch (Exception e) {
      throw new InvalidJobException("The model cannot be used: " + e.getMessage(), e);
    }
    handler = handler.withExpectedSha256(signature.identity().sha256());

    Map<String, String> pinned = new LinkedHashMap<>();
    try {
      Preprocessor<TensorExample> preprocessor = task.preprocessor(signature, pinned);
      preprocessor.check(signature);
      Postprocessor<TensorExample, TensorExample> postprocessor =
          task.postprocessor(signature, handler, preprocessor, pinned);
      postprocessor.check(signature);
      return new ModelPlan(
          options.getModel(),
          task,
          handler,
          signature,
          preprocessor,
          postprocessor,
          task.content(),
          pinned);
    } catch (InvalidJobException e) {
      throw e;
    } catch (Exception e) {
      throw new InvalidJobException(
          "The model does not fit --task=" + options.getTask() + ": " + e.getMessage(), e);
    }
  }

  /**
   * The ONNX Runtime session settings of {@code options}. With {@code --intraOpThreads=0} on a CPU,
   * where the runner runs several inference workers in this JVM (the DirectRunner, Flink's embedded
   * mini cluster), each session gets its share of the cores instead of all of them: the workers run
   * their batches at the same time, and two sessions spinning two threads each on two cores ran
   * MiniLM 25% slower than two of one thread each (44.4 against 35.1 s for 4,000 texts).
   */
  static SessionConfig sessionConfig(OnnxRuntimeOptions options) {
    int intraOpThreads = options.getIntraOpThreads();
    if (intraOpThreads == 0 && options.getExecutionProvider() != SessionConfig.Provider.CUDA) {
      int here =
          RunnerParallelism.of(RunnerKind.of(options)).map(p -> p.workersHere(options)).orElse(0);
      if (here > 1) {
        intraOpThreads = Math.max(1, Runtime.getRuntime().availableProcessors() / here);
      }
    }
    SessionConfig config =
        SessionConfig.defaults()
            .withIntraOpThreads(intraOpThreads)
            .withInterOpThreads(options.getInterOpThreads())
            .withOptimization(options.getGraphOptimization());
    return options.getExecutionProvider() == SessionConfig.Provider.CUDA
        ? config.withCuda(options.getCudaDeviceId())
        : config;
  }
}
