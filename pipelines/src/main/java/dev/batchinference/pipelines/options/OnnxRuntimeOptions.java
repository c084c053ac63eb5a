package dev.batchinference.pipelines.options;

import dev.batchinference.pipelines.options.TemplateParameter.Kind;
import dev.batchinference.transforms.onnx.SessionConfig;
import org.apache.beam.sdk.options.Default;
import org.apache.beam.sdk.options.Description;
import org.apache.beam.sdk.options.PipelineOptions;

/** ONNX Runtime: threads, graph optimisation and the execution provider. */
@Description(
    "The ONNX Runtime session each worker opens: threads, graph optimisation, and the"
        + " device it runs on.")
public interface OnnxRuntimeOptions extends PipelineOptions {

  @Description("ONNX Runtime threads inside an operator; 0: one per core.")
  @Default.Integer(0)
  @TemplateParameter(Kind.WHOLE_NUMBER)
  int getIntraOpThreads();

  void setIntraOpThreads(int value);

  @Description("ONNX Runtime threads across operators; 0: ONNX Runtime's default.")
  @Default.Integer(0)
  @TemplateParameter(Kind.WHOLE_NUMBER)
  int getInterOpThreads();

  void setInterOpThreads(int value);

  @Description("ONNX Runtime graph optimisation: NONE, BASIC, EXTENDED or ALL.")
  @Default.Enum("ALL")
  @TemplateParameter(Kind.ENUM)
  SessionConfig.Optimization getGraphOptimization();

  void setGraphOptimization(SessionConfig.Optimization value);

  @Description("Execution provider: CPU, or CUDA (needs the gpu build and a CUDA device).")
  @Default.Enum("CPU")
  @TemplateParameter(Kind.ENUM)
  SessionConfig.Provider getExecutionProvider();

  void setExecutionProvider(SessionConfig.Provider value);

  @Description("CUDA device id, with executionProvider=CUDA.")
  @Default.Integer(0)
  @TemplateParameter(Kind.WHOLE_NUMBER)
  int getCudaDeviceId();

  void setCudaDeviceId(int value);
}
