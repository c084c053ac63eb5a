package dev.batchinference.transforms.postprocess;

import static org.hamcrest.MatcherAssert.assertThat;
import static org.hamcrest.Matchers.contains;
import static org.hamcrest.Matchers.equalTo;
import static org.hamcrest.Matchers.nullValue;

import dev.batchinference.transforms.Prediction;
import dev.batchinference.transforms.RecordMeta;
import dev.batchinference.transforms.model.LoadedModel;
import dev.batchinference.transforms.onnx.OnnxModelHandler;
import dev.batchinference.transforms.tensor.TensorExample;
import dev.batchinference.transforms.testing.FashionMnist;
import dev.batchinference.transforms.testing.TestModels;
import java.util.List;
import org.junit.Test;
import org.junit.runner.RunWith;
import org.junit.runners.JUnit4;

/** Tests of {@link RawOutputs}. */
@RunWith(JUnit4.class)
public class RawOutputsTest {

  @Test
  public void keepsTheRequestedOutputsAsTheyAre() throws Exception {
    OnnxModelHandler handler =
        OnnxModelHandler.of(TestModels.classifier().toString()).withOutputs(List.of("output"));
    TensorExample image = TestModels.image(FashionMnist.load(false, 1).images()[0]);
    try (LoadedModel<TensorExample, TensorExample> model = handler.load()) {
      TensorExample outputs = model.run(List.of(image)).get(0);
      Prediction.Builder b = Prediction.builder(RecordMeta.of("r", "s", 0, null), model.identity());
      RawOutputs.of().fill(image, outputs, b);
      Prediction p = b.build();
      assertThat("outputs", p.outputs(), equalTo(outputs));
      assertThat("output names", p.outputs().names(), contains("output"));
      assertThat("no label", p.label(), nullValue());
      assertThat("no label index", p.labelIndex(), equalTo(-1));
    }
  }
}
