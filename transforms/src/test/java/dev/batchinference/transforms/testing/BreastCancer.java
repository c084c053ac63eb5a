package dev.batchinference.transforms.testing;

import ai.onnx.proto.OnnxMl;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.nio.file.StandardCopyOption;
import java.util.List;

/**
 * The Wisconsin breast cancer data set (569 tumours, 30 features, malignant or benign) from
 * Debian's {@code python3-sklearn}, and a binary logistic regression trained on it here and
 * exported to ONNX the way binary classifiers usually are: one sigmoid output column, {@code
 * P(class 1)} per record.
 */
public final class BreastCancer {

  /** The CSV that {@code python3-sklearn} installs. */
  public static final Path CSV =
      Paths.get("/usr/lib/python3/dist-packages/sklearn/datasets/data/breast_cancer.csv");

  /** Class names in the order of the data set's targets: 0 malignant, 1 benign. */
  public static final List<String> LABELS = List.of("malignant", "benign");

  public static final int FEATURES = 30;

  /** Records the model is trained on; the rest are held out. */
  public static final int TRAINING_RECORDS = 400;

  private BreastCancer() {}

  /** The data set: features per record and the target class (0 or 1). */
  public static final class Dataset {
    private final float[][] features;
    private final int[] targets;

    Dataset(float[][] features, int[] targets) {
      this.features = features;
      this.targets = targets;
    }

    public float[][] features() {
      return features;
    }

    public int[] targets() {
      return targets;
    }

    public int size() {
      return targets.length;
    }
  }

  /** All 569 records, in file order. */
  public static Dataset load() {
    try {
      List<String> lines = Files.readAllLines(CSV, StandardCharsets.UTF_8);
      // The first line is a header: record count, feature count, class names.
      int n = Integer.parseInt(lines.get(0).split(",")[0].strip());
      float[][] features = new float[n][FEATURES];
      int[] targets = new int[n];
      for (int i = 0; i < n; i++) {
        String[] cells = lines.get(i + 1).split(",");
        for (int j = 0; j < FEATURES; j++) {
          features[i][j] = Float.parseFloat(cells[j]);
        }
        targets[i] = Integer.parseInt(cells[FEATURES].strip());
      }
      return new Dataset(features, targets);
    } catch (IOException e) {
      throw new UncheckedIOException("cannot read " + CSV + " (Debian package python3-sklearn)", e);
    }
  }

  /**
   * The binary classifier's file in {@code dir}, trained on the first {@link #TRAINING_RECORDS}
   * records if it does not exist yet: input {@code input} float {@code [N, 30]} (the raw features),
   * output {@code output} float {@code [N, 1]}, the sigmoid probability of {@code benign}.
   */
  public static synchronized Path trainedClassifier(Path dir) {
    Path model = dir.resolve("breast-cancer-logreg.onnx");
    if (Files.isRegularFile(model)) {
      return model;
    }
    try {
      Files.createDirectories(dir);
      Path tmp = Files.createTempFile(dir, "breast-cancer-logreg", ".tmp");
      try {
        Files.write(tmp, export(train(load(), 1.0)).toByteArray());
        Files.move(tmp, model, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
      } finally {
        Files.deleteIfExists(tmp);
      }
      return model;
    } catch (IOException e) {
      throw new UncheckedIOException("cannot write " + model, e);
    }
  }

  /**
   * The same model with its weights negated: it predicts the other class for every record. Two
   * models that disagree everywhere, for tests that replace one with the other.
   */
  public static byte[] invertedClassifier() {
    return export(train(load(), -1.0)).toByteArray();
  }

  /**
   * Weights {@code [0..29]} and bias {@code [30]} of a logistic regression on the raw features,
   * trained by full-batch gradient descent on standardised features (the standardisation folded
   * into the weights afterwards), so the result is the same on every machine.
   */
  static double[] train(Dataset data, double sign) {
    int n = TRAINING_RECORDS;
    double[] mean = new double[FEATURES];
    double[] sd = new double[FEATURES];
    for (int j = 0; j < FEATURES; j++) {
      for (int i = 0; i < n; i++) {
        mean[j] += data.features[i][j];
      }
      mean[j] /= n;
      for (int i = 0; i < n; i++) {
        sd[j] += Math.pow(data.features[i][j] - mean[j], 2);
      }
      sd[j] = Math.sqrt(sd[j] / n) + 1e-12;
    }
    double[] w = new double[FEATURES + 1];
    for (int epoch = 0; epoch < 300; epoch++) {
      double[] gradient = new double[FEATURES + 1];
      for (int i = 0; i < n; i++) {
        double z = w[FEATURES];
        for (int j = 0; j < FEATURES; j++) {
          z += w[j] * (data.features[i][j] - mean[j]) / sd[j];
        }
        double error = 1 / (1 + Math.exp(-z)) - data.targets[i];
        for (int j = 0; j < FEATURES; j++) {
          gradient[j] += error * (data.features[i][j] - mean[j]) / sd[j];
        }
        gradient[FEATURES] += error;
      }
      for (int j = 0; j <= FEATURES; j++) {
        w[j] -= 0.5 * gradient[j] / n;
      }
    }
    double[] raw = new double[FEATURES + 1];
    raw[FEATURES] = w[FEATURES];
    for (int j = 0; j < FEATURES; j++) {
      raw[j] = w[j] / sd[j];
      raw[FEATURES] -= w[j] * mean[j] / sd[j];
    }
    for (int j = 0; j <= FEATURES; j++) {
      raw[j] *= sign;
    }
    return raw;
  }

  /** input [N,30] → MatMul W [30,1] → Add b [1] → Sigmoid → output [N,1]. */
  static OnnxMl.ModelProto export(double[] weights) {
    OnnxMl.TensorProto.Builder w =
        OnnxMl.TensorProto.newBuilder()
            .setName("W")
            .setDataType(OnnxMl.TensorProto.DataType.FLOAT.getNumber())
            .addDims(FEATURES)
            .addDims(1);
    for (int j = 0; j < FEATURES; j++) {
      w.addFloatData((float) weights[j]);
    }
    OnnxMl.TensorProto b =
        OnnxMl.TensorProto.newBuilder()
            .setName("b")
            .setDataType(OnnxMl.TensorProto.DataType.FLOAT.getNumber())
            .addDims(1)
            .addFloatData((float) weights[FEATURES])
            .build();
    OnnxMl.GraphProto graph =
        OnnxMl.GraphProto.newBuilder()
            .setName("breast_cancer_logreg")
            .addInitializer(w)
            .addInitializer(b)
            .addNode(node("MatMul", "input", "W", "logit_w"))
            .addNode(node("Add", "logit_w", "b", "logit"))
            .addNode(
                OnnxMl.NodeProto.newBuilder()
                    .setOpType("Sigmoid")
                    .setName("sigmoid")
                    .addInput("logit")
                    .addOutput("output"))
            .addInput(valueInfo("input", FEATURES))
            .addOutput(valueInfo("output", 1))
            .build();
    return OnnxMl.ModelProto.newBuilder()
        .setIrVersion(7)
        .setProducerName("BreastCancer")
        .addOpsetImport(OnnxMl.OperatorSetIdProto.newBuilder().setDomain("").setVersion(13))
        .setGraph(graph)
        .build();
  }

  private static OnnxMl.NodeProto node(String op, String a, String b, String out) {
    return OnnxMl.NodeProto.newBuilder()
        .setOpType(op)
        .setName(out)
        .addInput(a)
        .addInput(b)
        .addOutput(out)
        .build();
  }

  private static OnnxMl.ValueInfoProto valueInfo(String name, int columns) {
    OnnxMl.TensorShapeProto shape =
        OnnxMl.TensorShapeProto.newBuilder()
            .addDim(OnnxMl.TensorShapeProto.Dimension.newBuilder().setDimParam("batch"))
            .addDim(OnnxMl.TensorShapeProto.Dimension.newBuilder().setDimValue(columns))
            .build();
    return OnnxMl.ValueInfoProto.newBuilder()
        .setName(name)
        .setType(
            OnnxMl.TypeProto.newBuilder()
                .setTensorType(
                    OnnxMl.TypeProto.Tensor.newBuilder()
                        .setElemType(OnnxMl.TensorProto.DataType.FLOAT.getNumber())
                        .setShape(shape)))
        .build();
  }

  /** The records from {@code from} (inclusive) to {@code to} as JSON Lines with id and features. */
  public static void writeJsonLines(Path file, Dataset data, int from, int to) {
    StringBuilder out = new StringBuilder();
    for (int i = from; i < to; i++) {
      out.append("{\"id\":\"bc-").append(i).append("\",\"features\":[");
      for (int j = 0; j < FEATURES; j++) {
        out.append(j == 0 ? "" : ",").append(data.features[i][j]);
      }
      out.append("]}\n");
    }
    try {
      Files.createDirectories(file.toAbsolutePath().getParent());
      Files.writeString(file, out, StandardCharsets.UTF_8);
    } catch (IOException e) {
      throw new UncheckedIOException("cannot write " + file, e);
    }
  }
}
