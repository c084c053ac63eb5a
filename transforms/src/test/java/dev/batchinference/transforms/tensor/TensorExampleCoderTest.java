package dev.batchinference.transforms.tensor;

import static org.hamcrest.MatcherAssert.assertThat;
import static org.hamcrest.Matchers.containsString;
import static org.hamcrest.Matchers.equalTo;
import static org.junit.Assert.assertThrows;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.apache.beam.sdk.coders.CoderException;
import org.apache.beam.sdk.testing.CoderProperties;
import org.apache.beam.sdk.util.CoderUtils;
import org.junit.Test;
import org.junit.runner.RunWith;
import org.junit.runners.JUnit4;

/** Tests of {@link TensorExampleCoder} and the value semantics of {@link Tensor}. */
@RunWith(JUnit4.class)
public class TensorExampleCoderTest {

  private static final TensorExampleCoder CODER = TensorExampleCoder.of();

  /** A tensor of {@code dtype} and {@code shape} with distinct values, negative ones included. */
  static Tensor sample(Tensor.DType dtype, long... shape) {
    int n = (int) Tensor.elementCount(shape);
    switch (dtype) {
      case FLOAT:
        {
          float[] v = new float[n];
          for (int i = 0; i < n; i++) {
            v[i] = i * 0.5f - 3.25f;
          }
          return Tensor.ofFloats(v, shape);
        }
      case DOUBLE:
        {
          double[] v = new double[n];
          for (int i = 0; i < n; i++) {
            v[i] = Math.PI * (i - 2);
          }
          return Tensor.ofDoubles(v, shape);
        }
      case INT32:
        {
          int[] v = new int[n];
          for (int i = 0; i < n; i++) {
            v[i] = i % 2 == 0 ? Integer.MIN_VALUE + i : Integer.MAX_VALUE - i;
          }
          return Tensor.ofInts(v, shape);
        }
      default:
        {
          long[] v = new long[n];
          for (int i = 0; i < n; i++) {
            v[i] = i % 2 == 0 ? Long.MIN_VALUE + i : Long.MAX_VALUE - i;
          }
          return Tensor.ofLongs(v, shape);
        }
    }
  }

  @Test
  public void roundTripsEveryDtypeAndRank() throws Exception {
    List<long[]> shapes =
        List.of(new long[] {}, new long[] {5}, new long[] {2, 3}, new long[] {2, 3, 4});
    for (Tensor.DType dtype : Tensor.DType.values()) {
      for (long[] shape : shapes) {
        TensorExample example = TensorExample.of("x", sample(dtype, shape));
        CoderProperties.coderDecodeEncodeEqual(CODER, example);
      }
    }
  }

  @Test
  public void roundTripsSeveralNamedTensorsInOrder() throws Exception {
    Map<String, Tensor> tensors = new LinkedHashMap<>();
    tensors.put("input_ids", sample(Tensor.DType.INT64, 7));
    tensors.put("attention_mask", sample(Tensor.DType.INT64, 7));
    tensors.put("empty", Tensor.ofFloats(new float[0], 0, 3));
    tensors.put("pixels", sample(Tensor.DType.FLOAT, 3, 4, 4));
    TensorExample example = TensorExample.of(tensors);
    CoderProperties.coderDecodeEncodeEqual(CODER, example);
    TensorExample decoded = CoderUtils.clone(CODER, example);
    assertThat(
        "names keep their order",
        List.copyOf(decoded.names()),
        equalTo(List.copyOf(tensors.keySet())));
    CoderProperties.coderDeterministic(CODER, example, TensorExample.of(tensors));
  }

  @Test
  public void encodesValuesWithoutFraming() throws Exception {
    TensorExample example = TensorExample.of("v", Tensor.vector(new float[100]));
    byte[] bytes = CoderUtils.encodeToByteArray(CODER, example);
    // count, name, dtype, rank, one dimension, then 4 bytes per value
    assertThat(bytes.length, equalTo(1 + 2 + 1 + 1 + 1 + 400));
  }

  @Test
  public void rejectsABadElementType() throws Exception {
    byte[] bytes =
        CoderUtils.encodeToByteArray(CODER, TensorExample.of("v", Tensor.vector(new float[1])));
    bytes[3] = 42; // the dtype byte after count (1) and name (2); 11 types are known
    CoderException e =
        assertThrows(CoderException.class, () -> CoderUtils.decodeFromByteArray(CODER, bytes));
    assertThat(e.getMessage(), containsString("bad tensor element type 42"));
  }

  @Test
  public void tensorChecksItsValueCount() {
    IllegalArgumentException e =
        assertThrows(IllegalArgumentException.class, () -> Tensor.ofFloats(new float[5], 2, 3));
    assertThat(e.getMessage(), equalTo("Tensor of shape [2, 3] needs 6 values, got 5"));
    assertThat(
        "equal values and shapes are equal",
        Tensor.ofLongs(new long[] {1, 2}, 2),
        equalTo(Tensor.vector(new long[] {1, 2})));
  }
}
