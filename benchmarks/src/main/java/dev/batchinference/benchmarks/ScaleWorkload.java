package dev.batchinference.benchmarks;

import java.io.BufferedWriter;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
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
 * Memory and throughput as the dataset grows: a risk-scoring style classifier (logistic regression
 * over 8 numeric features, 3 classes, trained here on generated data) scores generated JSON Lines
 * files of increasing size, each run in a fresh JVM through the job's command line with a fixed
 * heap, so that the peak resident set size ({@code VmHWM} of the child, polled) is the run's alone.
 */
final class ScaleWorkload {

  static final String NAME = "scale: tabular logreg (8 features)";
  static final int FEATURES = 8;
  static final List<String> CLASSES = List.of("low", "medium", "high");
  static final long SEED = 20261128L;

  private final Benchmark.Settings s;
  private final List<Row> rows;
  private final List<String> notes;

  ScaleWorkload(Benchmark.Settings settings, List<Row> rows, List<String> notes) {
    this.s = settings;
    this.rows = rows;
    this.notes = notes;
  }

  void run() throws Exception {
    Path dir = s.workDir.resolve("scale");
    Files.createDirectories(dir);
    Path model = dir.resolve("tabular-logreg.onnx");
    if (!Files.exists(model)) {
      train(model);
    }
    Path labels = dir.resolve("labels.txt");
    Files.write(labels, CLASSES, StandardCharsets.UTF_8);
    for (String runner : s.scaleRunners) {
      for (int size : s.scale) {
        Path input = dir.resolve("records-" + size + ".jsonl");
        if (!Files.exists(input)) {
          generate(input, size, new Random(SEED + size));
        }
        List<String> args = new ArrayList<>();
        args.add("--task=CLASSIFY");
        args.add("--input=" + input.toAbsolutePath());
        args.add("--model=" + model.toAbsolutePath());
        args.add("--classLabels=" + labels.toAbsolutePath());
        args.add("--idField=id");
        args.add("--batchSize=256");
        args.add("--intraOpThreads=1");
        Path output = dir.resolve("out-" + runner + "-" + size).toAbsolutePath();
        if (runner.equals("flink")) {
          args.addAll(PipelineRun.FLINK_LOCAL);
        }
        String mode =
            String.format(
                Locale.ROOT,
                "job, %s, %,d records",
                runner.equals("flink") ? "Flink [local]" : "DirectRunner",
                size);
        Row row = JobProcess.run(NAME, mode, output, args, s.scaleHeap);
        if (row.records != size) {
          throw new IllegalStateException(mode + ": " + row.records + " records read");
        }
        rows.add(row);
      }
    }
    notes.add(
        String.format(
            Locale.ROOT,
            "%s: each run is a fresh JVM (-Xmx%s) running the job's command line; peak RSS is"
                + " the child's VmHWM",
            NAME,
            s.scaleHeap));
  }

  /** Generated records: 8 features around a class centre, a few fields carried along. */
  static void generate(Path file, int size, Random random) throws IOException {
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
    Files.move(tmp, file, java.nio.file.StandardCopyOption.REPLACE_EXISTING);
  }

  private static double centre(int cls, int feature) {
    return (cls - 1) * (feature % 2 == 0 ? 1.5 : -0.75);
  }

  /** Trains the classifier on 3,000 generated examples and writes it as ONNX. */
  static void train(Path model) throws IOException {
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
    trained.saveONNXModel("dev.batchinference.benchmarks", 1, tmp);
    Files.move(tmp, model, java.nio.file.StandardCopyOption.REPLACE_EXISTING);
  }
}
