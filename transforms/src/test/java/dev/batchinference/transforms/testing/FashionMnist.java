package dev.batchinference.transforms.testing;

import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtException;
import ai.onnxruntime.OrtSession;
import com.fasterxml.jackson.core.JsonGenerator;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.BufferedInputStream;
import java.io.BufferedWriter;
import java.io.DataInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.io.Writer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.zip.GZIPInputStream;
import org.tribuo.ImmutableDataset;
import org.tribuo.ImmutableFeatureMap;
import org.tribuo.ImmutableOutputInfo;
import org.tribuo.MutableDataset;
import org.tribuo.Prediction;
import org.tribuo.RealInfo;
import org.tribuo.VariableInfo;
import org.tribuo.classification.Label;
import org.tribuo.classification.LabelFactory;
import org.tribuo.classification.sgd.linear.LinearSGDModel;
import org.tribuo.classification.sgd.linear.LinearSGDTrainer;
import org.tribuo.classification.sgd.objectives.LogMulticlass;
import org.tribuo.impl.ArrayExample;
import org.tribuo.math.optimisers.AdaGrad;
import org.tribuo.provenance.SimpleDataSourceProvenance;

/**
 * Test fixture for the Fashion-MNIST data set: loads the IDX files shipped by the Debian package,
 * trains a small ONNX classifier on them, and writes the images as JSON lines or CSV input files.
 */
public final class FashionMnist {

  /**
   * Directory holding the gzipped IDX files; the {@code fashionmnist.dir} system property overrides
   * the default {@code /usr/share/datasets/fashion-mnist}.
   */
  public static final Path DATA_DIR =
      Path.of(System.getProperty("fashionmnist.dir", "/usr/share/datasets/fashion-mnist"));

  /** The 10 class names; class {@code i} of the data set is {@code LABELS.get(i)}. */
  public static final List<String> LABELS =
      List.of(
          "T-shirt/top",
          "Trouser",
          "Pullover",
          "Dress",
          "Coat",
          "Sandal",
          "Shirt",
          "Sneaker",
          "Bag",
          "Ankle boot");

  /** Image height and width in pixels. */
  public static final int SIDE = 28;

  /** Number of pixels (features) per image. */
  public static final int PIXELS = SIDE * SIDE;

  private static final int IMAGES_MAGIC = 0x00000803;
  private static final int LABELS_MAGIC = 0x00000801;
  private static final long TRAINING_SEED = 20240607L;
  private static final int TRAINING_EPOCHS = 5;
  private static final String ONNX_DOMAIN = "dev.batchinference.fixtures";
  private static final ObjectMapper MAPPER = new ObjectMapper();
  private static final String[] FEATURE_NAMES = featureNames();

  private FashionMnist() {}

  /**
   * Images and their class indices.
   *
   * @param images one row of {@link #PIXELS} floats in [0, 1] per image, row-major pixel order
   * @param labels class index (0..9, see {@link #LABELS}) per image
   */
  public record Dataset(float[][] images, int[] labels) {

    /** Checks that there is one label per image. */
    public Dataset {
      if (images.length != labels.length) {
        throw new IllegalArgumentException(
            images.length + " images but " + labels.length + " labels");
      }
    }

    /** Returns the number of images. */
    public int size() {
      return labels.length;
    }
  }

  /**
   * Loads the first {@code limit} images of the training or test split.
   *
   * @param train {@code true} for the 60,000 training images, {@code false} for the 10,000 test
   *     (t10k) images
   * @param limit maximum number of images to load; fewer are returned if the split is smaller
   * @return the images, pixels scaled to [0, 1], with their labels
   */
  public static Dataset load(boolean train, int limit) {
    if (limit < 0) {
      throw new IllegalArgumentException("limit must be >= 0: " + limit);
    }
    String split = train ? "train" : "t10k";
    Path imageFile = DATA_DIR.resolve(split + "-images-idx3-ubyte.gz");
    Path labelFile = DATA_DIR.resolve(split + "-labels-idx1-ubyte.gz");
    try (DataInputStream images = openIdx(imageFile);
        DataInputStream labels = openIdx(labelFile)) {
      checkMagic(imageFile, images.readInt(), IMAGES_MAGIC);
      int imageCount = images.readInt();
      int rows = images.readInt();
      int cols = images.readInt();
      if (rows != SIDE || cols != SIDE) {
        throw new IOException(imageFile + ": unexpected image size " + rows + "x" + cols);
      }
      checkMagic(labelFile, labels.readInt(), LABELS_MAGIC);
      int labelCount = labels.readInt();
      if (labelCount != imageCount) {
        throw new IOException(imageCount + " images but " + labelCount + " labels in " + split);
      }
      int n = Math.min(limit, imageCount);
      float[][] pixels = new float[n][PIXELS];
      int[] classes = new int[n];
      byte[] buffer = new byte[PIXELS];
      for (int i = 0; i < n; i++) {
        images.readFully(buffer);
        for (int p = 0; p < PIXELS; p++) {
          pixels[i][p] = (buffer[p] & 0xFF) / 255f;
        }
        classes[i] = labels.readUnsignedByte();
        if (classes[i] >= LABELS.size()) {
          throw new IOException(labelFile + ": label " + classes[i] + " out of range");
        }
      }
      return new Dataset(pixels, classes);
    } catch (IOException e) {
      throw new UncheckedIOException("cannot read Fashion-MNIST from " + DATA_DIR, e);
    }
  }

  /**
   * Returns a multinomial logistic regression classifier trained with Tribuo on the first {@code
   * trainingImages} training images and exported to ONNX, training it only if {@code
   * dir/fashion-mnist-logreg-<trainingImages>.onnx} does not exist yet.
   *
   * <p>The model has one float input of shape [N, 784] (pixels in [0, 1], row-major) and one float
   * output of shape [N, 10] whose column {@code i} is the probability of class {@code
   * LABELS.get(i)} (Tribuo's export applies a softmax, so each row sums to 1). The column order is
   * checked against Tribuo's own predictions before the file is written.
   *
   * @param dir directory for the model file; created if missing
   * @param trainingImages number of training images to train on (at most 60,000)
   * @return path of the ONNX model file
   */
  public static synchronized Path trainedClassifier(Path dir, int trainingImages) {
    if (trainingImages <= 0) {
      throw new IllegalArgumentException("trainingImages must be > 0: " + trainingImages);
    }
    Path model = dir.resolve("fashion-mnist-logreg-" + trainingImages + ".onnx");
    if (Files.isRegularFile(model)) {
      return model;
    }
    try {
      Files.createDirectories(dir);
      Dataset data = load(true, trainingImages);
      LinearSGDModel trained = train(data);
      Path tmp = Files.createTempFile(dir, model.getFileName().toString(), ".tmp");
      try {
        trained.saveONNXModel(ONNX_DOMAIN, 1, tmp);
        verifyColumns(trained, tmp, data);
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
   * Writes the class names, one per line in {@link #LABELS} order.
   *
   * @param file file to write; parent directories are created
   * @return {@code file}
   */
  public static Path writeLabels(Path file) {
    try {
      createParent(file);
      Files.write(file, LABELS, StandardCharsets.UTF_8);
      return file;
    } catch (IOException e) {
      throw new UncheckedIOException("cannot write " + file, e);
    }
  }

  /**
   * Writes one JSON object per line: {@code {"id":"<idPrefix><i>","label":"<class
   * name>","features":[f0,...,f783]}}. Integral values are written without a fraction ({@code 0},
   * {@code 1}); others use the shortest decimal form that reads back as the same float.
   *
   * @param file file to write; parent directories are created
   * @param data images to write
   * @param idPrefix prefix of each record's id, followed by the image's index in {@code data}
   */
  public static void writeJsonLines(Path file, Dataset data, String idPrefix) {
    try {
      createParent(file);
      try (Writer out = Files.newBufferedWriter(file, StandardCharsets.UTF_8)) {
        for (int i = 0; i < data.size(); i++) {
          try (JsonGenerator json = MAPPER.getFactory().createGenerator(out)) {
            json.disable(JsonGenerator.Feature.AUTO_CLOSE_TARGET);
            json.writeStartObject();
            json.writeStringField("id", idPrefix + i);
            json.writeStringField("label", LABELS.get(data.labels()[i]));
            json.writeFieldName("features");
            json.writeStartArray();
            for (float value : data.images()[i]) {
              json.writeRawValue(format(value));
            }
            json.writeEndArray();
            json.writeEndObject();
          }
          out.write('\n');
        }
      }
    } catch (IOException e) {
      throw new UncheckedIOException("cannot write " + file, e);
    }
  }

  /** The Avro schema of {@link #writeParquet}: {@code id}, {@code label}, {@code features}. */
  public static final org.apache.avro.Schema PARQUET_SCHEMA =
      org.apache.avro.SchemaBuilder.record("image")
          .fields()
          .requiredString("id")
          .requiredString("label")
          .name("features")
          .type()
          .array()
          .items()
          .floatType()
          .noDefault()
          .endRecord();

  /**
   * Writes a Parquet file with columns {@code id}, {@code label} and {@code features} (the 784
   * pixels as a list of floats), one row per image, with parquet-avro directly.
   */
  public static void writeParquet(Path file, Dataset data, String idPrefix) {
    try {
      createParent(file);
    } catch (IOException e) {
      throw new UncheckedIOException("cannot write " + file, e);
    }
    List<org.apache.avro.generic.GenericRecord> rows = new java.util.ArrayList<>();
    for (int i = 0; i < data.size(); i++) {
      List<Float> pixels = new java.util.ArrayList<>(PIXELS);
      for (float v : data.images()[i]) {
        pixels.add(v);
      }
      rows.add(
          new org.apache.avro.generic.GenericRecordBuilder(PARQUET_SCHEMA)
              .set("id", idPrefix + i)
              .set("label", LABELS.get(data.labels()[i]))
              .set("features", pixels)
              .build());
    }
    ParquetFiles.write(file, PARQUET_SCHEMA, rows);
  }

  /**
   * Writes a CSV file with header {@code id,label,px000,...,px783} and one row per image, numbers
   * formatted as in {@link #writeJsonLines}.
   *
   * @param file file to write; parent directories are created
   * @param data images to write
   * @param idPrefix prefix of each record's id, followed by the image's index in {@code data}
   */
  public static void writeCsv(Path file, Dataset data, String idPrefix) {
    try {
      createParent(file);
      try (BufferedWriter out = Files.newBufferedWriter(file, StandardCharsets.UTF_8)) {
        out.write("id,label," + String.join(",", FEATURE_NAMES));
        out.write('\n');
        StringBuilder row = new StringBuilder();
        for (int i = 0; i < data.size(); i++) {
          row.setLength(0);
          row.append(csvField(idPrefix + i)).append(',');
          row.append(csvField(LABELS.get(data.labels()[i])));
          for (float value : data.images()[i]) {
            row.append(',').append(format(value));
          }
          row.append('\n');
          out.write(row.toString());
        }
      }
    } catch (IOException e) {
      throw new UncheckedIOException("cannot write " + file, e);
    }
  }

  private static LinearSGDModel train(Dataset data) {
    LabelFactory factory = new LabelFactory();
    MutableDataset<Label> examples =
        new MutableDataset<>(
            new SimpleDataSourceProvenance("Fashion-MNIST train[0:" + data.size() + "]", factory),
            factory);
    double[] values = new double[PIXELS];
    for (int i = 0; i < data.size(); i++) {
      float[] image = data.images()[i];
      for (int p = 0; p < PIXELS; p++) {
        values[p] = image[p];
      }
      examples.add(
          new ArrayExample<>(new Label(LABELS.get(data.labels()[i])), FEATURE_NAMES, values));
    }
    // Fix both domains explicitly: feature id p is pixel p (even for pixels that are zero in
    // every training image) and output id i is class i, whatever order Tribuo would infer.
    List<VariableInfo> features = new ArrayList<>(PIXELS);
    for (String name : FEATURE_NAMES) {
      features.add(new RealInfo(name));
    }
    ImmutableFeatureMap featureMap = new ImmutableFeatureMap(features);
    Map<Label, Integer> labelIds = new HashMap<>();
    for (int i = 0; i < LABELS.size(); i++) {
      labelIds.put(new Label(LABELS.get(i)), i);
    }
    ImmutableOutputInfo<Label> outputInfo = factory.constructInfoForExternalModel(labelIds);
    ImmutableDataset<Label> fixed = ImmutableDataset.copyDataset(examples, featureMap, outputInfo);

    LinearSGDTrainer trainer =
        new LinearSGDTrainer(
            new LogMulticlass(),
            new AdaGrad(0.1, 0.1),
            TRAINING_EPOCHS,
            Integer.MAX_VALUE,
            1,
            TRAINING_SEED);
    LinearSGDModel model = trainer.train(fixed);

    if (model.getFeatureIDMap().size() != PIXELS) {
      throw new IllegalStateException(
          "model has " + model.getFeatureIDMap().size() + " features, expected " + PIXELS);
    }
    for (int p = 0; p < PIXELS; p++) {
      if (model.getFeatureIDMap().getID(FEATURE_NAMES[p]) != p) {
        throw new IllegalStateException("feature " + FEATURE_NAMES[p] + " is not column " + p);
      }
    }
    for (int i = 0; i < LABELS.size(); i++) {
      if (model.getOutputIDInfo().getID(new Label(LABELS.get(i))) != i) {
        throw new IllegalStateException("class " + LABELS.get(i) + " is not output " + i);
      }
    }
    return model;
  }

  /** Checks that ONNX output column i equals Tribuo's score for class i on a few images. */
  private static void verifyColumns(LinearSGDModel model, Path onnx, Dataset data) {
    int n = Math.min(32, data.size());
    float[][] batch = new float[n][];
    System.arraycopy(data.images(), 0, batch, 0, n);
    OrtEnvironment env = OrtEnvironment.getEnvironment();
    float[][] scores;
    try (OrtSession session = env.createSession(onnx.toString(), new OrtSession.SessionOptions());
        OnnxTensor input = OnnxTensor.createTensor(env, batch)) {
      if (session.getInputNames().size() != 1 || session.getOutputNames().size() != 1) {
        throw new IllegalStateException(
            "expected one input and one output, got "
                + session.getInputNames()
                + " -> "
                + session.getOutputNames());
      }
      String inputName = session.getInputNames().iterator().next();
      try (OrtSession.Result result = session.run(Map.of(inputName, input))) {
        scores = (float[][]) result.get(0).getValue();
      }
    } catch (OrtException e) {
      throw new IllegalStateException("cannot run exported model " + onnx, e);
    }
    double[] values = new double[PIXELS];
    for (int r = 0; r < n; r++) {
      if (scores[r].length != LABELS.size()) {
        throw new IllegalStateException("model output has " + scores[r].length + " columns");
      }
      for (int p = 0; p < PIXELS; p++) {
        values[p] = batch[r][p];
      }
      Prediction<Label> expected =
          model.predict(new ArrayExample<>(LabelFactory.UNKNOWN_LABEL, FEATURE_NAMES, values));
      Map<String, Label> byName = expected.getOutputScores();
      for (int i = 0; i < LABELS.size(); i++) {
        double want = byName.get(LABELS.get(i)).getScore();
        if (Math.abs(want - scores[r][i]) > 1e-4) {
          throw new IllegalStateException(
              "ONNX column " + i + " = " + scores[r][i] + " but Tribuo scores " + want);
        }
      }
    }
  }

  private static String[] featureNames() {
    String[] names = new String[PIXELS];
    for (int p = 0; p < PIXELS; p++) {
      names[p] = String.format("px%03d", p);
    }
    return names;
  }

  private static DataInputStream openIdx(Path file) throws IOException {
    InputStream in = Files.newInputStream(file);
    try {
      return new DataInputStream(
          new BufferedInputStream(new GZIPInputStream(in, 1 << 16), 1 << 16));
    } catch (IOException e) {
      in.close();
      throw e;
    }
  }

  private static void checkMagic(Path file, int actual, int expected) throws IOException {
    if (actual != expected) {
      throw new IOException(
          String.format("%s: bad IDX magic 0x%08x, expected 0x%08x", file, actual, expected));
    }
  }

  private static void createParent(Path file) throws IOException {
    Path parent = file.toAbsolutePath().getParent();
    if (parent != null) {
      Files.createDirectories(parent);
    }
  }

  private static String format(float value) {
    if (value == (int) value) {
      return Integer.toString((int) value);
    }
    return Float.toString(value);
  }

  private static String csvField(String value) {
    if (value.indexOf(',') < 0 && value.indexOf('"') < 0 && value.indexOf('\n') < 0) {
      return value;
    }
    return '"' + value.replace("\"", "\"\"") + '"';
  }
}
