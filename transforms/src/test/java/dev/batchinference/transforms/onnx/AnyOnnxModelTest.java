package dev.batchinference.transforms.onnx;

import static org.hamcrest.MatcherAssert.assertThat;
import static org.hamcrest.Matchers.closeTo;
import static org.hamcrest.Matchers.containsString;
import static org.hamcrest.Matchers.equalTo;
import static org.hamcrest.Matchers.hasSize;
import static org.junit.Assert.assertThrows;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.batchinference.transforms.Prediction;
import dev.batchinference.transforms.RecordMeta;
import dev.batchinference.transforms.io.JsonLines;
import dev.batchinference.transforms.model.BatchMode;
import dev.batchinference.transforms.model.LoadedModel;
import dev.batchinference.transforms.model.ModelIdentity;
import dev.batchinference.transforms.model.ModelSignature;
import dev.batchinference.transforms.preprocess.InvalidRecordException;
import dev.batchinference.transforms.preprocess.RawTensors;
import dev.batchinference.transforms.tensor.Tensor;
import dev.batchinference.transforms.tensor.TensorExample;
import dev.batchinference.transforms.tensor.TensorExampleCoder;
import java.util.ArrayList;
import java.util.List;
import org.apache.beam.sdk.util.CoderUtils;
import org.junit.Test;
import org.junit.runner.RunWith;
import org.junit.runners.JUnit4;

/**
 * Models RAW runs beyond a dynamic batch dimension of float inputs: no batch dimension, a fixed
 * one, every tensor type ONNX Runtime's Java API takes, and the models it must refuse. The models
 * are made by {@code src/test/resources/models/make_models.py}.
 */
@RunWith(JUnit4.class)
public class AnyOnnxModelTest {

  private static final ObjectMapper JSON = new ObjectMapper();
  private static final String RELU = "/usr/share/libonnx-testdata/data/node/test_relu/model.onnx";

  private static String model(String name) {
    return "classpath:models/" + name + ".onnx";
  }

  private static ModelSignature signature(String uri) throws Exception {
    return OnnxModelHandler.of(uri).inspect();
  }

  private static ObjectNode record(String json) throws Exception {
    return (ObjectNode) JSON.readTree(json);
  }

  @Test
  public void theSignatureSaysHowTheModelBatches() throws Exception {
    assertThat(
        BatchMode.of(signature(model("unbatched"))).toString(), equalTo("one record per run"));
    assertThat(BatchMode.of(signature(model("fixed_batch4"))).toString(), equalTo("fixed 4"));
    assertThat(BatchMode.of(signature(model("fixed_batch1"))).toString(), equalTo("fixed 1"));
    assertThat(BatchMode.of(signature(model("all_types"))).toString(), equalTo("dynamic"));
    assertThat(BatchMode.of(signature(RELU)).toString(), equalTo("fixed 3"));
  }

  /** x[3,4,5] + y[5], times a scalar alpha: each record holds its tensors whole, and runs alone. */
  @Test
  public void aModelWithoutABatchDimensionRunsWholeTensorRecords() throws Exception {
    ModelSignature signature = signature(model("unbatched"));
    RawTensors raw = RawTensors.forModel(signature);
    List<TensorExample> examples = new ArrayList<>();
    for (int r = 0; r < 3; r++) {
      StringBuilder x = new StringBuilder("[");
      for (int i = 0; i < 3; i++) {
        x.append(i > 0 ? "," : "").append('[');
        for (int j = 0; j < 4; j++) {
          x.append(j > 0 ? "," : "").append('[');
          for (int k = 0; k < 5; k++) {
            x.append(k > 0 ? "," : "").append(100 * i + 10 * j + k + r);
          }
          x.append(']');
        }
        x.append(']');
      }
      x.append(']');
      examples.add(
          raw.apply(record("{\"x\":" + x + ",\"y\":[0,1,2,3,4],\"alpha\":" + (r + 1) + "}")));
    }
    assertThat(examples.get(0).get("alpha").shape(), equalTo(new long[0]));
    try (LoadedModel<TensorExample, TensorExample> loaded =
        OnnxModelHandler.of(model("unbatched")).load()) {
      List<TensorExample> outputs = loaded.run(examples);
      assertThat(outputs, hasSize(3));
      for (int r = 0; r < 3; r++) {
        Tensor z = outputs.get(r).get("z");
        assertThat(z.shape(), equalTo(new long[] {3, 4, 5}));
        // z[i][j][k] = (x + y[k]) * alpha
        int i = 2;
        int j = 3;
        int k = 4;
        float expected = (100 * i + 10 * j + k + r + k) * (r + 1);
        assertThat(z.floats()[i * 20 + j * 5 + k], equalTo(expected));
      }
    }
    InvalidRecordException row =
        assertThrows(
            InvalidRecordException.class,
            () -> raw.apply(record("{\"x\":[[1,2,3,4,5]],\"y\":[0,1,2,3,4],\"alpha\":1}")));
    assertThat(
        row.getMessage(),
        equalTo(
            "field 'x' has shape [1, 5]; the model input is FLOAT[3, 4, 5] (the model has no batch"
                + " dimension: a record holds the whole tensor)"));
  }

  /**
   * A batch dimension fixed at 4: six records run as a batch of 4 and a batch of 2 padded with two
   * zero rows; every record gets what the same model fixed at 1 gives it alone.
   */
  @Test
  public void aFixedBatchDimensionRunsPaddedBatchesOfExactlyN() throws Exception {
    RawTensors raw = RawTensors.forModel(signature(model("fixed_batch4")));
    List<TensorExample> examples = new ArrayList<>();
    for (int r = 0; r < 6; r++) {
      examples.add(raw.apply(record("{\"x\":[" + r + ",-1.5," + (0.25 * r) + "]}")));
    }
    try (LoadedModel<TensorExample, TensorExample> four =
            OnnxModelHandler.of(model("fixed_batch4")).load();
        LoadedModel<TensorExample, TensorExample> one =
            OnnxModelHandler.of(model("fixed_batch1")).load()) {
      List<TensorExample> outputs = four.run(examples);
      assertThat("the padding's outputs are dropped", outputs, hasSize(6));
      for (int r = 0; r < 6; r++) {
        float[] batched = outputs.get(r).get("prob").floats();
        float[] alone = one.run(List.of(examples.get(r))).get(0).get("prob").floats();
        assertThat(batched.length, equalTo(2));
        for (int c = 0; c < 2; c++) {
          assertThat("record " + r + " column " + c, (double) batched[c], closeTo(alone[c], 1e-6));
        }
        // sigmoid(x W + b) by hand, W = [[1,-1],[0.5,2],[-2,0.25]], b = [0.1,-0.2]
        double l0 = r * 1 + -1.5 * 0.5 + 0.25 * r * -2 + 0.1;
        assertThat((double) batched[0], closeTo(1 / (1 + Math.exp(-l0)), 1e-6));
      }
      // A record that holds x whole ([4,3]) runs alone, as the model takes it.
      TensorExample whole = raw.apply(record("{\"x\":[[1,2,3],[4,5,6],[7,8,9],[0,0,0]]}"));
      Tensor prob = four.run(List.of(whole, examples.get(0))).get(0).get("prob");
      assertThat(prob.shape(), equalTo(new long[] {4, 2}));
    }
  }

  /** Each type in, the same values out (Identity), exactly: int64 past 2^53, uint8 255, strings. */
  @Test
  public void everyTensorTypeGoesInAndComesOutExactly() throws Exception {
    ModelSignature signature = signature(model("all_types"));
    String json =
        "{\"in_float\":[1.5,-3.25],\"in_double\":[0.1,1e300],\"in_float16\":[65504,-0.5],"
            + "\"in_bfloat16\":[3.0e38,1.5],\"in_int8\":[-128,127],\"in_int16\":[-32768,32767],"
            + "\"in_int32\":[-2147483648,2147483647],"
            + "\"in_int64\":[9007199254740993,-9223372036854775808],\"in_uint8\":[0,255],"
            + "\"in_bool\":[true,0],\"in_string\":[\"h\\u00e9llo\",\"\"]}";
    TensorExample example = RawTensors.forModel(signature).apply(record(json));
    assertThat(
        "the coder keeps every type",
        CoderUtils.clone(TensorExampleCoder.of(), example),
        equalTo(example));
    try (LoadedModel<TensorExample, TensorExample> loaded =
        OnnxModelHandler.of(model("all_types")).load()) {
      List<TensorExample> outputs = loaded.run(List.of(example, example));
      TensorExample out = outputs.get(1);
      for (String type :
          List.of(
              "float",
              "double",
              "float16",
              "bfloat16",
              "int8",
              "int16",
              "int32",
              "int64",
              "uint8",
              "bool",
              "string")) {
        assertThat(type, out.get("out_" + type), equalTo(example.get("in_" + type)));
      }
      Prediction p =
          Prediction.builder(RecordMeta.of("a", "types.jsonl", 0, null), ModelIdentity.of("m", "0"))
              .outputs(out)
              .build();
      String line = JsonLines.prediction(p);
      assertThat(
          line,
          containsString(
              "\"outputs\":{\"out_float\":[1.5,-3.25],\"out_double\":[0.1,1.0E300],"
                  + "\"out_float16\":[65504.0,-0.5],\"out_bfloat16\":[3.0040553E38,1.5],"
                  + "\"out_int8\":[-128,127],\"out_int16\":[-32768,32767],"
                  + "\"out_int32\":[-2147483648,2147483647],"
                  + "\"out_int64\":[9007199254740993,-9223372036854775808],"
                  + "\"out_uint8\":[0,255],\"out_bool\":[true,false],"
                  + "\"out_string\":[\"h\u00e9llo\",\"\"]}"));
    }
  }

  @Test
  public void valuesOutsideTheirTypeFailTheRecord() throws Exception {
    RawTensors raw = RawTensors.forModel(signature(model("all_types")));
    String valid =
        "\"in_float\":[1,2],\"in_double\":[1,2],\"in_float16\":[1,2],\"in_bfloat16\":[1,2],"
            + "\"in_int8\":[1,2],\"in_int16\":[1,2],\"in_int32\":[1,2],\"in_int64\":[1,2],"
            + "\"in_bool\":[true,false],\"in_string\":[\"a\",\"b\"]";
    assertThat(
        assertThrows(
                InvalidRecordException.class,
                () -> raw.apply(record("{" + valid + ",\"in_uint8\":[256,0]}")))
            .getMessage(),
        equalTo("field 'in_uint8' holds 256 where an integer in range is needed"));
    assertThat(
        assertThrows(
                InvalidRecordException.class,
                () ->
                    raw.apply(
                        record(
                            "{"
                                + valid.replace("\"in_float16\":[1,2]", "\"in_float16\":[1e5,2]")
                                + ",\"in_uint8\":[1,2]}")))
            .getMessage(),
        equalTo("field 'in_float16' holds 100000.0, beyond the range of a float16"));
    assertThat(
        assertThrows(
                InvalidRecordException.class,
                () ->
                    raw.apply(
                        record(
                            "{"
                                + valid.replace(
                                    "\"in_string\":[\"a\",\"b\"]", "\"in_string\":[1,2]")
                                + ",\"in_uint8\":[1,2]}")))
            .getMessage(),
        equalTo("field 'in_string' holds number where a string is needed"));
  }

  /** What RAW cannot run is refused when the model is opened, naming the input and its type. */
  @Test
  public void modelsWithInputsThatAreNotTensorsOfAKnownTypeAreRefused() {
    Exception uint16 = assertThrows(Exception.class, () -> signature(model("uint16")));
    assertThat(
        uint16.getMessage(),
        containsString(
            "has input 'u' of element type uint16; supported are float, double, float16,"
                + " bfloat16, int8, int16, int32, int64, uint8, bool and string"));
    Exception sequence = assertThrows(Exception.class, () -> signature(model("sequence_input")));
    assertThat(
        sequence.getMessage(),
        containsString("has input 'seq' of type sequence of float values; only tensors"));
    Exception optional = assertThrows(Exception.class, () -> signature(model("optional_input")));
    assertThat(
        optional.getMessage(),
        containsString("has input 'maybe' of type optional; only tensors are supported"));
  }
}
