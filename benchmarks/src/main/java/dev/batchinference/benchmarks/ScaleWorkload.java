package dev.batchinference.benchmarks;

import dev.batchinference.transforms.testing.Tabular;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Random;

/**
 * Memory and throughput as the dataset grows: a risk-scoring style classifier (logistic regression
 * over 8 numeric features, 3 classes, trained here on generated data) scores generated JSON Lines
 * files of increasing size, each run in a fresh JVM through the job's command line with a fixed
 * heap, so that the peak resident set size ({@code VmHWM} of the child, polled) is the run's alone.
 */
final class ScaleWorkload {

  static final String NAME = "scale: tabular logreg (8 features)";
  static final List<String> CLASSES = Tabular.CLASSES;
  static final long SEED = Tabular.SEED;

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

  /** Generated records: {@link Tabular#generate}. */
  static void generate(Path file, int size, Random random) throws IOException {
    Tabular.generate(file, size, random);
  }

  /** Trains the classifier on 3,000 generated examples: {@link Tabular#train}. */
  static void train(Path model) throws IOException {
    Tabular.train(model, "dev.batchinference.benchmarks");
  }
}
