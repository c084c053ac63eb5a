package dev.batchinference.transforms.onnx;

import static org.hamcrest.MatcherAssert.assertThat;
import static org.hamcrest.Matchers.anyOf;
import static org.hamcrest.Matchers.closeTo;
import static org.hamcrest.Matchers.containsString;
import static org.hamcrest.Matchers.equalTo;
import static org.junit.Assert.assertThrows;

import ai.onnx.proto.OnnxMl;
import dev.batchinference.transforms.model.LoadedModel;
import dev.batchinference.transforms.tensor.Tensor;
import dev.batchinference.transforms.tensor.TensorExample;
import dev.batchinference.transforms.testing.FashionMnist;
import dev.batchinference.transforms.testing.Fuzz;
import dev.batchinference.transforms.testing.TestModels;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import org.junit.AfterClass;
import org.junit.BeforeClass;
import org.junit.ClassRule;
import org.junit.Test;
import org.junit.rules.TemporaryFolder;
import org.junit.runner.RunWith;
import org.junit.runners.JUnit4;

/**
 * Bounded random tests of how {@link OnnxModel} (through {@link BatchStacker}) assembles batches:
 * stacking the examples' tensors into batch tensors (zero-padding dynamic dimensions) and splitting
 * the outputs per example.
 *
 * <ul>
 *   <li>On the Fashion-MNIST classifier, a batch of 1..64 images gives each image the scores it
 *       gets alone (within 1e-5).
 *   <li>On an identity model built here, with an input of each element type and dynamic, fixed and
 *       no per-example dimensions, each example's slice of the batch output is the example
 *       zero-padded to the batch's largest shape, and alone it is the example exactly.
 *   <li>In both, a batch with one example of a wrong element type, rank, fixed dimension or name
 *       fails with an {@link IllegalArgumentException} that names the input, and the model still
 *       runs good batches afterwards.
 * </ul>
 */
@RunWith(JUnit4.class)
public class OnnxBatchingFuzzTest {

  @ClassRule public static final TemporaryFolder TMP = new TemporaryFolder();

  /** The identity model's inputs: per-example shapes with -1 for a dynamic dimension. */
  private static final Map<String, Tensor.DType> DTYPES = new LinkedHashMap<>();

  private static final Map<String, long[]> SHAPES = new LinkedHashMap<>();

  static {
    input("a", Tensor.DType.FLOAT, -1, 3);
    input("b", Tensor.DType.DOUBLE, -1, -1);
    input("c", Tensor.DType.INT32, 2, -1);
    input("d", Tensor.DType.INT64); // one value per example
  }

  private static void input(String name, Tensor.DType dtype, long... shape) {
    DTYPES.put(name, dtype);
    SHAPES.put(name, shape);
  }

  private static LoadedModel<TensorExample, TensorExample> classifier;
  private static LoadedModel<TensorExample, TensorExample> identity;
  private static float[][] images;

  @BeforeClass
  public static void loadModels() throws Exception {
    classifier = OnnxModelHandler.of(TestModels.classifier().toString()).load();
    Path model = TMP.getRoot().toPath().resolve("identity.onnx");
    Files.write(model, identityModel().toByteArray());
    identity = OnnxModelHandler.of(model.toString()).load();
    images = FashionMnist.load(false, 200).images();
  }

  @AfterClass
  public static void closeModels() throws Exception {
    if (classifier != null) {
      classifier.close();
    }
    if (identity != null) {
      identity.close();
    }
  }

  // ---------------------------------------------------------------------------------------------
  // The classifier

  @Test
  public void classifierBatchGivesEachImageItsScoresAlone() {
    Fuzz.check(
        "onnx-classifier-batch",
        random -> {
          int n = 1 + random.nextInt(64);
          List<TensorExample> batch = new ArrayList<>(n);
          for (int i = 0; i < n; i++) {
            batch.add(TestModels.image(image(random)));
          }
          List<TensorExample> together = classifier.run(batch);
          assertThat("one output per example", together.size(), equalTo(n));
          for (int i = 0; i < n; i++) {
            Tensor inBatch = together.get(i).get(TestModels.CLASSIFIER_OUTPUT);
            assertThat("outputs of " + i, together.get(i).names().size(), equalTo(1));
            assertThat("shape of " + i, inBatch.shape(), equalTo(new long[] {10}));
            float[] alone = classifier.run(List.of(batch.get(i))).get(0).get("output").floats();
            float[] scores = inBatch.floats();
            for (int c = 0; c < alone.length; c++) {
              assertThat(
                  "example " + i + " of " + n + ", class " + c,
                  (double) scores[c],
                  closeTo(alone[c], 1e-5));
            }
          }
          Fuzz.note("batches");
          if (Fuzz.chance(random, 0.5)) {
            List<TensorExample> bad = new ArrayList<>(batch);
            int at = random.nextInt(n + 1);
            bad.add(at, badImage(random));
            IllegalArgumentException e =
                assertThrows(IllegalArgumentException.class, () -> classifier.run(bad));
            assertThat(
                e.getMessage(),
                anyOf(
                    containsString("Model input 'input' "),
                    containsString("no tensor named 'input'")));
            Fuzz.note("rejected");
            List<TensorExample> again = classifier.run(batch);
            for (int i = 0; i < n; i++) {
              assertThat(
                  "the same outputs after a rejected batch",
                  again.get(i).get("output").floats(),
                  equalTo(together.get(i).get("output").floats()));
            }
          }
        });
  }

  private static float[] image(Random random) {
    switch (random.nextInt(4)) {
      case 0:
        {
          float[] noise = new float[FashionMnist.PIXELS];
          for (int p = 0; p < noise.length; p++) {
            noise[p] = random.nextFloat();
          }
          return noise;
        }
      case 1:
        {
          float[] wide = new float[FashionMnist.PIXELS];
          for (int p = 0; p < wide.length; p++) {
            wide[p] = (float) random.nextGaussian() * 10;
          }
          return wide;
        }
      default:
        return images[random.nextInt(images.length)];
    }
  }

  private static TensorExample badImage(Random random) {
    switch (random.nextInt(6)) {
      case 0:
        {
          int length = random.nextInt(2000);
          return TensorExample.of("input", Tensor.vector(new float[length == 784 ? 0 : length]));
        }
      case 1:
        return TensorExample.of("input", Tensor.ofDoubles(new double[784], 784));
      case 2:
        return TensorExample.of("input", Tensor.ofLongs(new long[784], 784));
      case 3:
        return TensorExample.of("input", Tensor.ofFloats(new float[784], 28, 28));
      case 4:
        return TensorExample.of("input", Tensor.ofFloats(new float[] {0.5f}));
      default:
        return TensorExample.of("pixels", Tensor.vector(new float[784]));
    }
  }

  // ---------------------------------------------------------------------------------------------
  // The identity model

  @Test
  public void batchSlicesAreTheExamplesZeroPadded() {
    Fuzz.check(
        "onnx-padded-stacking",
        random -> {
          int n = 1 + random.nextInt(64);
          // the batch's dynamic sizes vary around a typical size, sometimes down to 0
          int typical = random.nextInt(6);
          List<TensorExample> batch = new ArrayList<>(n);
          for (int i = 0; i < n; i++) {
            batch.add(example(random, typical));
          }
          List<TensorExample> outputs = identity.run(batch);
          assertThat("one output per example", outputs.size(), equalTo(n));
          for (String name : DTYPES.keySet()) {
            long[] padded = largest(batch, name);
            if (Arrays.stream(padded).anyMatch(d -> d == 0)) {
              Fuzz.note("zero-size " + name);
            }
            for (int i = 0; i < n; i++) {
              if (!Arrays.equals(batch.get(i).get(name).shape(), padded)) {
                Fuzz.note("padded " + name);
              }
              Tensor out = outputs.get(i).get(name + "_out");
              checkPadded(batch.get(i).get(name), padded, out, "example " + i + " of " + n);
            }
          }
          for (int i = 0; i < n; i += 1 + random.nextInt(8)) {
            TensorExample alone = identity.run(List.of(batch.get(i))).get(0);
            for (String name : DTYPES.keySet()) {
              assertThat(
                  name + " of example " + i + " alone",
                  alone.get(name + "_out"),
                  equalTo(batch.get(i).get(name)));
            }
          }
          Fuzz.note("batches");
          if (Fuzz.chance(random, 0.5)) {
            checkRejected(random, batch, outputs);
          }
        });
  }

  /** An example with random values and random sizes for the dynamic dimensions. */
  private static TensorExample example(Random random, int typical) {
    Map<String, Tensor> tensors = new LinkedHashMap<>();
    for (String name : DTYPES.keySet()) {
      long[] shape = SHAPES.get(name).clone();
      for (int d = 0; d < shape.length; d++) {
        if (shape[d] < 0) {
          shape[d] = Math.max(0, typical + random.nextInt(5) - 2);
        }
      }
      tensors.put(name, random(random, DTYPES.get(name), shape));
    }
    return TensorExample.of(tensors);
  }

  private static Tensor random(Random random, Tensor.DType dtype, long... shape) {
    int size = Math.toIntExact(Tensor.elementCount(shape));
    switch (dtype) {
      case FLOAT:
        {
          float[] v = new float[size];
          for (int i = 0; i < size; i++) {
            v[i] =
                Float.intBitsToFloat(random.nextInt() & 0x7f7fffff)
                    * (random.nextBoolean() ? 1 : -1);
          }
          return Tensor.ofFloats(v, shape);
        }
      case DOUBLE:
        {
          double[] v = new double[size];
          for (int i = 0; i < size; i++) {
            v[i] = random.nextGaussian() * 1e6;
          }
          return Tensor.ofDoubles(v, shape);
        }
      case INT32:
        {
          int[] v = new int[size];
          for (int i = 0; i < size; i++) {
            v[i] = random.nextInt();
          }
          return Tensor.ofInts(v, shape);
        }
      default:
        {
          long[] v = new long[size];
          for (int i = 0; i < size; i++) {
            v[i] = random.nextLong();
          }
          return Tensor.ofLongs(v, shape);
        }
    }
  }

  private static long[] largest(List<TensorExample> batch, String name) {
    long[] largest = new long[SHAPES.get(name).length];
    for (TensorExample e : batch) {
      for (int d = 0; d < largest.length; d++) {
        largest[d] = Math.max(largest[d], e.get(name).dim(d));
      }
    }
    return largest;
  }

  /** Checks that {@code out} is {@code example} zero-padded to {@code padded}. */
  private static void checkPadded(Tensor example, long[] padded, Tensor out, String at) {
    String of = at + " (" + example + " padded to " + Arrays.toString(padded) + ")";
    assertThat("dtype of " + of, out.dtype(), equalTo(example.dtype()));
    assertThat("shape of " + of, out.shape(), equalTo(padded));
    long[] shape = example.shape();
    int[] index = new int[padded.length];
    for (int flat = 0; flat < out.size(); flat++) {
      // index: the position of out[flat] in the padded shape
      int rest = flat;
      boolean inside = true;
      int source = 0;
      for (int d = padded.length - 1; d >= 0; d--) {
        index[d] = (int) (rest % padded[d]);
        rest /= (int) padded[d];
      }
      for (int d = 0; d < padded.length; d++) {
        inside &= index[d] < shape[d];
        source = (int) (source * shape[d] + Math.min(index[d], Math.max(0, shape[d] - 1)));
      }
      Object expected = inside ? value(example, source) : zero(example.dtype());
      Object actual = value(out, flat);
      if (!expected.equals(actual)) {
        throw new AssertionError(
            "value at "
                + Arrays.toString(index)
                + " of "
                + of
                + " is "
                + actual
                + ", not "
                + expected);
      }
    }
  }

  private static Object value(Tensor t, int flat) {
    switch (t.dtype()) {
      case FLOAT:
        return ((float[]) t.data())[flat];
      case DOUBLE:
        return ((double[]) t.data())[flat];
      case INT32:
        return ((int[]) t.data())[flat];
      default:
        return ((long[]) t.data())[flat];
    }
  }

  private static Object zero(Tensor.DType dtype) {
    switch (dtype) {
      case FLOAT:
        return 0f;
      case DOUBLE:
        return 0d;
      case INT32:
        return 0;
      default:
        return 0L;
    }
  }

  /** A batch with one example that contradicts the model fails naming the input. */
  private static void checkRejected(
      Random random, List<TensorExample> batch, List<TensorExample> outputs) throws Exception {
    String name = Fuzz.oneOf(random, DTYPES.keySet().toArray(new String[0]));
    Map<String, Tensor> tensors =
        new LinkedHashMap<>(batch.get(random.nextInt(batch.size())).asMap());
    long[] declared = SHAPES.get(name);
    Tensor good = tensors.get(name);
    String expected = "Model input '" + name + "' ";
    switch (random.nextInt(4)) {
      case 0: // another element type
        {
          Tensor.DType other =
              Fuzz.oneOf(
                  random,
                  Arrays.stream(Tensor.DType.values())
                      // the types random() makes; Tensor has more since RAW takes every type
                      .filter(t -> t != good.dtype() && DTYPES.containsValue(t))
                      .toArray(Tensor.DType[]::new));
          tensors.put(name, random(random, other, good.shape()));
          Fuzz.note("rejected dtype");
          break;
        }
      case 1: // another rank
        {
          long[] shape =
              Arrays.copyOf(
                  good.shape(), good.rank() + (good.rank() > 0 && random.nextBoolean() ? -1 : 1));
          for (int d = 0; d < shape.length; d++) {
            shape[d] = d < good.rank() ? good.dim(d) : 1 + random.nextInt(3);
          }
          tensors.put(name, random(random, good.dtype(), shape));
          Fuzz.note("rejected rank");
          break;
        }
      case 2: // another size of a fixed dimension
        {
          int fixed = -1;
          for (int d = 0; d < declared.length; d++) {
            if (declared[d] > 0) {
              fixed = d;
            }
          }
          if (fixed < 0) { // d has none: a missing input instead
            tensors.remove(name);
            expected = "no tensor named '" + name + "'";
            Fuzz.note("rejected missing");
            break;
          }
          long[] shape = good.shape();
          shape[fixed] = declared[fixed] + (random.nextBoolean() ? 1 : -1);
          tensors.put(name, random(random, good.dtype(), shape));
          Fuzz.note("rejected fixed dimension");
          break;
        }
      default: // missing
        tensors.remove(name);
        expected = "no tensor named '" + name + "'";
        Fuzz.note("rejected missing");
    }
    List<TensorExample> bad = new ArrayList<>(batch);
    bad.add(random.nextInt(bad.size() + 1), TensorExample.of(tensors));
    IllegalArgumentException e =
        assertThrows(IllegalArgumentException.class, () -> identity.run(bad));
    assertThat(e.getMessage(), containsString(expected));
    List<TensorExample> again = identity.run(batch);
    assertThat("the same outputs after a rejected batch", again, equalTo(outputs));
  }

  /** An ONNX model whose outputs {@code <name>_out} are its inputs, one per {@link #DTYPES}. */
  private static OnnxMl.ModelProto identityModel() {
    OnnxMl.GraphProto.Builder graph = OnnxMl.GraphProto.newBuilder().setName("identity");
    for (String name : DTYPES.keySet()) {
      graph.addNode(
          OnnxMl.NodeProto.newBuilder()
              .setOpType("Identity")
              .setName("identity_" + name)
              .addInput(name)
              .addOutput(name + "_out"));
      graph.addInput(valueInfo(name, name));
      graph.addOutput(valueInfo(name + "_out", name));
    }
    return OnnxMl.ModelProto.newBuilder()
        .setIrVersion(8)
        .setProducerName("OnnxBatchingFuzzTest")
        .addOpsetImport(OnnxMl.OperatorSetIdProto.newBuilder().setDomain("").setVersion(13))
        .setGraph(graph)
        .build();
  }

  private static OnnxMl.ValueInfoProto valueInfo(String name, String input) {
    OnnxMl.TensorShapeProto.Builder shape =
        OnnxMl.TensorShapeProto.newBuilder()
            .addDim(OnnxMl.TensorShapeProto.Dimension.newBuilder().setDimParam("batch"));
    long[] dims = SHAPES.get(input);
    for (int d = 0; d < dims.length; d++) {
      OnnxMl.TensorShapeProto.Dimension.Builder dim =
          OnnxMl.TensorShapeProto.Dimension.newBuilder();
      shape.addDim(dims[d] > 0 ? dim.setDimValue(dims[d]) : dim.setDimParam(input + "_" + d));
    }
    OnnxMl.TensorProto.DataType type;
    switch (DTYPES.get(input)) {
      case FLOAT:
        type = OnnxMl.TensorProto.DataType.FLOAT;
        break;
      case DOUBLE:
        type = OnnxMl.TensorProto.DataType.DOUBLE;
        break;
      case INT32:
        type = OnnxMl.TensorProto.DataType.INT32;
        break;
      default:
        type = OnnxMl.TensorProto.DataType.INT64;
    }
    return OnnxMl.ValueInfoProto.newBuilder()
        .setName(name)
        .setType(
            OnnxMl.TypeProto.newBuilder()
                .setTensorType(
                    OnnxMl.TypeProto.Tensor.newBuilder()
                        .setElemType(type.getNumber())
                        .setShape(shape)))
        .build();
  }
}
