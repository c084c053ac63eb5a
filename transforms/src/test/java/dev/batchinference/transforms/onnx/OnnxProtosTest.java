package dev.batchinference.transforms.onnx;

import static org.hamcrest.MatcherAssert.assertThat;
import static org.hamcrest.Matchers.equalTo;

import dev.batchinference.transforms.tensor.Tensor;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import org.junit.Test;
import org.junit.runner.RunWith;
import org.junit.runners.JUnit4;

/**
 * {@link OnnxProtos} against files whose content is known: ONNX's node tests (Debian's {@code
 * libonnx-testdata}), checked against what {@code onnx.numpy_helper.to_array} reads from them, and
 * the models of {@code make_models.py}.
 */
@RunWith(JUnit4.class)
public class OnnxProtosTest {

  private static final Path NODE = Path.of("/usr/share/libonnx-testdata/data/node");

  private static OnnxProtos.TensorProto read(String test, String file) throws Exception {
    return OnnxProtos.readTensor(
        Files.readAllBytes(NODE.resolve(test).resolve("test_data_set_0").resolve(file)));
  }

  @Test
  public void readsFloatTensorsFromRawData() throws Exception {
    // python3: numpy_helper.to_array(x) of test_relu/input_0.pb: shape (3, 4, 5), x[0,0,0] =
    // 1.7640524, x[2,3,4] = -0.36274117; relu's y[2,3,4] = 0
    OnnxProtos.TensorProto x = read("test_relu", "input_0.pb");
    assertThat(x.name(), equalTo("x"));
    assertThat(x.dataType(), equalTo(1));
    assertThat(x.tensor().shape(), equalTo(new long[] {3, 4, 5}));
    assertThat(x.tensor().floats()[0], equalTo(1.7640524f));
    assertThat(x.tensor().floats()[59], equalTo(-0.36274117f));
    OnnxProtos.TensorProto y = read("test_relu", "output_0.pb");
    assertThat(y.name(), equalTo("y"));
    assertThat(y.tensor().floats()[0], equalTo(1.7640524f));
    assertThat(y.tensor().floats()[59], equalTo(0f));
  }

  @Test
  public void readsOtherElementTypes() throws Exception {
    // test_cast_FLOAT_to_STRING/output_0.pb: shape (3, 4), strings; [0] = "0.9767611"
    OnnxProtos.TensorProto strings = read("test_cast_FLOAT_to_STRING", "output_0.pb");
    assertThat(strings.dataType(), equalTo(8));
    assertThat(strings.tensor().shape(), equalTo(new long[] {3, 4}));
    assertThat(((String[]) strings.tensor().data())[0], equalTo("0.9767611"));
    // test_and2d/input_0.pb: bool (3, 4), [True, True, True, True, True, False, ...]
    OnnxProtos.TensorProto bools = read("test_and2d", "input_0.pb");
    assertThat(bools.tensor().dtype(), equalTo(Tensor.DType.BOOL));
    assertThat(((byte[]) bools.tensor().data())[4], equalTo((byte) 1));
    assertThat(((byte[]) bools.tensor().data())[5], equalTo((byte) 0));
    // test_cast_FLOAT_to_FLOAT16/output_0.pb: float16 (3, 4), [0] = 0.548828125
    OnnxProtos.TensorProto half = read("test_cast_FLOAT_to_FLOAT16", "output_0.pb");
    assertThat(half.tensor().dtype(), equalTo(Tensor.DType.FLOAT16));
    assertThat(half.tensor().getAsDouble(0), equalTo(0.548828125));
  }

  @Test
  public void namesTheKindOfEachGraphInput() throws Exception {
    Map<String, String> kinds =
        OnnxProtos.inputKinds(
            Files.readAllBytes(Path.of("src/test/resources/models/optional_input.onnx")));
    assertThat(kinds, equalTo(Map.of("maybe", "optional")));
    assertThat(
        OnnxProtos.inputKinds(
            Files.readAllBytes(Path.of("src/test/resources/models/fixed_batch4.onnx"))),
        equalTo(Map.of("x", "tensor")));
  }
}
