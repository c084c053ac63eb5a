package dev.batchinference.transforms.testing;

import java.io.BufferedWriter;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Random;
import org.tribuo.ImmutableDataset;
import org.tribuo.ImmutableFeatureMap;
import org.tribuo.ImmutableOutputInfo;
import org.tribuo.MutableDataset;
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
 * Generated tabular records for runs of millions (about 95 bytes of JSON each): record {@code
 * acct-N} on line N, 8 features around the centre of one of three classes, and a multinomial
 * logistic regression trained on 3,000 more, exported to ONNX. The benchmarks' scale and memory
 * runs and the Flink parallel-read test use them.
 */
public final class Tabular {

  public static final int FEATURES = 8;
  public static final List<String> CLASSES = List.of("low", "medium", "high");
  public static final long SEED = 20261128L;

  private Tabular() {}

  /** Writes {@code size} records to {@code file} (through a temporary file, then renamed). */
  public static void generate(Path file, int size, Random random) throws IOException {
    Path tmp = file.resolveSibling(file.getFileName() + ".tmp");
    try (BufferedWriter out = Files.newBufferedWriter(tmp, StandardCharsets.UTF_8)) {
      StringBuilder line = new StringBuilder(160);
      for (int i = 0; i < size; i++) {
        int cls = random.nextInt(CLASSES.size());
        line.setLength(0);
        line.append("{\"id\":\"acct-").append(i).append("\",\"features\":[");
        for (int f = 0; f < FEATURES; f++) {
          double v = centre(cls, f) + random.nextGaussian();
          line.append(f == 0 ? "" : ",").append(String.format(Locale.ROOT, "%.4f", v));
        }
        line.append("]}\n");
        out.append(line);
      }
    }
    Files.move(tmp, file, StandardCopyOption.REPLACE_EXISTING);
  }

  private static double centre(int cls, int feature) {
    return (cls - 1) * (feature % 2 == 0 ? 1.5 : -0.75);
  }

  /**
   * Trains the classifier on 3,000 generated examples and writes it as ONNX to {@code model}, with
   * {@code domain} as the ONNX model's domain.
   */
  public static void train(Path model, String domain) throws IOException {
    LabelFactory factory = new LabelFactory();
    MutableDataset<Label> examples =
        new MutableDataset<>(new SimpleDataSourceProvenance("generated", factory), factory);
    String[] names = new String[FEATURES];
    for (int f = 0; f < FEATURES; f++) {
      names[f] = "f" + f;
    }
    Random random = new Random(SEED);
    double[] values = new double[FEATURES];
    for (int i = 0; i < 3000; i++) {
      int cls = random.nextInt(CLASSES.size());
      for (int f = 0; f < FEATURES; f++) {
        values[f] = centre(cls, f) + random.nextGaussian();
      }
      examples.add(new ArrayExample<>(new Label(CLASSES.get(cls)), names, values));
    }
    List<VariableInfo> features = new ArrayList<>();
    for (String name : names) {
      features.add(new RealInfo(name));
    }
    Map<Label, Integer> ids = new HashMap<>();
    for (int i = 0; i < CLASSES.size(); i++) {
      ids.put(new Label(CLASSES.get(i)), i);
    }
    ImmutableOutputInfo<Label> outputs = factory.constructInfoForExternalModel(ids);
    ImmutableDataset<Label> fixed =
        ImmutableDataset.copyDataset(examples, new ImmutableFeatureMap(features), outputs);
    LinearSGDModel trained =
        new LinearSGDTrainer(
                new LogMulticlass(), new AdaGrad(0.1, 0.1), 5, Integer.MAX_VALUE, 1, SEED)
            .train(fixed);
    Path tmp = model.resolveSibling(model.getFileName() + ".tmp");
    trained.saveONNXModel(domain, 1, tmp);
    Files.move(tmp, model, StandardCopyOption.REPLACE_EXISTING);
  }
}
