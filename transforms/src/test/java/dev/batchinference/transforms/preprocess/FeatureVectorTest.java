package dev.batchinference.transforms.preprocess;

import static org.hamcrest.MatcherAssert.assertThat;
import static org.hamcrest.Matchers.containsString;
import static org.hamcrest.Matchers.equalTo;
import static org.junit.Assert.assertThrows;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.batchinference.transforms.onnx.OnnxModelHandler;
import dev.batchinference.transforms.tensor.Tensor;
import dev.batchinference.transforms.tensor.TensorExample;
import dev.batchinference.transforms.testing.TestModels;
import java.util.List;
import org.junit.Test;
import org.junit.runner.RunWith;
import org.junit.runners.JUnit4;

/** Tests of {@link FeatureVector}. */
@RunWith(JUnit4.class)
public class FeatureVectorTest {

  private static final ObjectMapper JSON = new ObjectMapper();

  private static ObjectNode record(String json) throws Exception {
    return (ObjectNode) JSON.readTree(json);
  }

  @Test
  public void reshapesToThePerExampleShape() throws Exception {
    TensorExample example =
        FeatureVector.of("image", 2, 3).apply(record("{\"features\":[0,1,2,3,4,5]}"));
    assertThat(
        example,
        equalTo(TensorExample.of("image", Tensor.ofFloats(new float[] {0, 1, 2, 3, 4, 5}, 2, 3))));
  }

  @Test
  public void withFieldReadsAnotherField() throws Exception {
    TensorExample example =
        FeatureVector.of("x", 2).withField("pixels").apply(record("{\"pixels\":[1,2]}"));
    assertThat(example, equalTo(TensorExample.of("x", Tensor.vector(new float[] {1, 2}))));
  }

  @Test
  public void withColumnsReadsNamedAndPrefixedColumnsInRecordOrder() throws Exception {
    ObjectNode row =
        record(
            "{\"id\":\"r\",\"b\":\"9\",\"px1\":\"1\",\"px0\":\"0.5\",\"label\":\"x\",\"px2\":2}");
    TensorExample example = FeatureVector.of("x", 4).withColumns(List.of("b", "px*")).apply(row);
    assertThat(example, equalTo(TensorExample.of("x", Tensor.vector(new float[] {9, 1, 0.5f, 2}))));

    InvalidRecordException tooMany =
        assertThrows(
            InvalidRecordException.class,
            () -> FeatureVector.of("x", 2).withColumns(List.of("px*")).apply(row));
    assertThat(tooMany.getMessage(), equalTo("columns [px*] give 3 values; the model takes 2"));
    InvalidRecordException missing =
        assertThrows(
            InvalidRecordException.class,
            () -> FeatureVector.of("x", 1).withColumns(List.of("c")).apply(row));
    assertThat(missing.getMessage(), equalTo("record has no 'c' column"));
  }

  @Test
  public void forModelTakesTheSingleInputAndRefusesSeveral() throws Exception {
    FeatureVector fv =
        FeatureVector.forModel(OnnxModelHandler.of(TestModels.classifier().toString()).inspect());
    assertThat("size", fv.size(), equalTo(784L));
    IllegalArgumentException e =
        assertThrows(
            IllegalArgumentException.class,
            () -> FeatureVector.forModel(OnnxModelHandler.of(TestModels.MINILM).inspect()));
    assertThat(e.getMessage(), containsString("Feature vectors feed models with one input"));
  }

  @Test
  public void ofRejectsUnknownDimensions() {
    IllegalArgumentException e =
        assertThrows(IllegalArgumentException.class, () -> FeatureVector.of("x", -1, 3));
    assertThat(e.getMessage(), equalTo("shape must be fully known, got [-1, 3]"));
  }
}
