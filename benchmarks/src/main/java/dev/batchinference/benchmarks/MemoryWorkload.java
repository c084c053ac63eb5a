package dev.batchinference.benchmarks;

import dev.batchinference.transforms.testing.FashionMnist;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.Random;

/**
 * Larger than memory: the same job on the DirectRunner and on Flink's embedded mini cluster ({@code
 * [local]}), each run a fresh JVM with the same fixed heap ({@code --memoryHeap}, default 1g), on
 * three inputs: the README's default job (2,000 fortunes embedded with all-MiniLM-L6-v2 int8),
 * Fashion-MNIST images through the logistic regression, and generated tabular records (the scale
 * workload's) far larger than the heap. A run that runs out of memory or past its time cap is a
 * result, not an error: its row says so. Every row carries the child's resident set at each tenth
 * of the run, which shows whether memory grows with the records read.
 */
final class MemoryWorkload {

  static final String FORTUNES = "memory: fortunes, README default job (MiniLM int8)";
  static final String FASHION = "memory: fashion-mnist (logreg)";
  static final String TABULAR = "memory: tabular logreg (8 features)";

  private final Benchmark.Settings s;
  private final List<Row> rows;
  private final List<String> notes;

  MemoryWorkload(Benchmark.Settings settings, List<Row> rows, List<String> notes) {
    this.s = settings;
    this.rows = rows;
    this.notes = notes;
  }

  void run() throws Exception {
    Path dir = s.workDir.resolve("memory");
    Files.createDirectories(dir);
    for (String dataset : s.memoryDatasets) {
      switch (dataset) {
        case "fortunes" -> runAll(FORTUNES, "fortunes", fortunesJob(), s.corpus);
        case "fashion" -> {
          Path images = fashionImages(s, s.memoryFashion);
          runAll(FASHION, "fashion-" + s.memoryFashion, fashionJob(images), images);
        }
        case "tabular" -> {
          Path records = tabularRecords(dir, s.memoryTabular);
          runAll(TABULAR, "tabular-" + s.memoryTabular, tabularJob(dir, records), records);
        }
        default ->
            throw new IllegalArgumentException(
                "unknown memory dataset '" + dataset + "' (fortunes, fashion, tabular)");
      }
    }
    notes.add(
        String.format(
            Locale.ROOT,
            "memory: each run is a fresh JVM (-Xmx%s) running the job's command line; DirectRunner"
                + " runs pass --runner=DirectRunner, Flink runs %s, default runs no --runner (the"
                + " command line chooses); a DirectRunner run is killed after %d s, any other after"
                + " %d s",
            s.memoryHeap,
            String.join(" ", PipelineRun.FLINK_LOCAL),
            s.memoryDirectCapSeconds,
            s.memoryCapSeconds));
  }

  private void runAll(String workload, String tag, List<String> job, Path input) throws Exception {
    long bytes = inputBytes(input);
    notes.add(
        String.format(
            Locale.ROOT, "%s: input %.1f MB (%s)", workload, bytes / 1e6, input.getFileName()));
    for (String runner : s.memoryRunners) {
      List<String> args = new ArrayList<>(job);
      String mode;
      long cap = s.memoryCapSeconds;
      switch (runner) {
        case "direct" -> {
          args.add("--runner=DirectRunner");
          mode = "DirectRunner";
          cap = s.memoryDirectCapSeconds;
        }
        case "flink" -> {
          args.addAll(PipelineRun.FLINK_LOCAL);
          mode = "Flink [local]";
        }
        case "default" -> mode = "default (no --runner)";
        default ->
            throw new IllegalArgumentException(
                "unknown memory runner '" + runner + "' (direct, flink, default)");
      }
      mode = String.format(Locale.ROOT, "%s, -Xmx%s", mode, s.memoryHeap);
      Path output = s.workDir.resolve("memory/out-" + tag + "-" + runner).toAbsolutePath();
      rows.add(JobProcess.runBounded(workload, mode, output, args, s.memoryHeap, cap));
    }
  }

  private static long inputBytes(Path input) throws Exception {
    if (Files.isDirectory(input)) {
      long total = 0;
      try (var files = Files.list(input)) {
        for (Path f :
            (Iterable<Path>) files.filter(p -> p.toString().endsWith(".jsonl"))::iterator) {
          total += Files.size(f);
        }
      }
      return total;
    }
    return Files.size(input);
  }

  /** The README's first command: every default but the carried field. */
  private List<String> fortunesJob() {
    return List.of("--input=" + s.corpus.toAbsolutePath(), "--carryFields=category");
  }

  private List<String> fashionJob(Path images) {
    Path model = FashionMnist.trainedClassifier(s.workDir, s.fashionTrain);
    Path labels = FashionMnist.writeLabels(s.workDir.resolve("fashion-mnist-labels.txt"));
    return List.of(
        "--task=CLASSIFY",
        "--input=" + images.toAbsolutePath() + "/*.jsonl",
        "--model=" + model.toAbsolutePath(),
        "--classLabels=" + labels.toAbsolutePath(),
        "--batchSize=" + s.fashionBatch,
        "--intraOpThreads=" + s.threads);
  }

  private static List<String> tabularJob(Path dir, Path records) throws Exception {
    Path model = dir.resolve("tabular-logreg.onnx");
    if (!Files.exists(model)) {
      ScaleWorkload.train(model);
    }
    Path labels = dir.resolve("labels.txt");
    Files.write(labels, ScaleWorkload.CLASSES, StandardCharsets.UTF_8);
    return List.of(
        "--task=CLASSIFY",
        "--input=" + records.toAbsolutePath(),
        "--model=" + model.toAbsolutePath(),
        "--classLabels=" + labels.toAbsolutePath(),
        "--idField=id",
        "--batchSize=256",
        "--intraOpThreads=1");
  }

  private static Path tabularRecords(Path dir, int size) throws Exception {
    Path input = dir.resolve("records-" + size + ".jsonl");
    if (!Files.exists(input)) {
      ScaleWorkload.generate(input, size, new Random(ScaleWorkload.SEED + size));
    }
    return input;
  }

  /**
   * The first {@code records} Fashion-MNIST images not used for training (the test set, then the
   * training images past the first {@code fashionTrain}), as the fashion workload writes them.
   */
  static Path fashionImages(Benchmark.Settings s, int records) throws Exception {
    int fromTest = Math.min(records, FashionWorkload.TEST_IMAGES);
    int fromTrain = records - fromTest;
    Path dir = s.workDir.resolve("fashion-" + records);
    Path done = dir.resolve(".complete");
    if (!Files.exists(done)) {
      PipelineRun.deleteTree(dir);
      FashionMnist.writeJsonLines(
          dir.resolve("test.jsonl"), FashionMnist.load(false, fromTest), "test-");
      if (fromTrain > 0) {
        FashionMnist.Dataset all = FashionMnist.load(true, s.fashionTrain + fromTrain);
        FashionMnist.writeJsonLines(
            dir.resolve("train-unseen.jsonl"),
            new FashionMnist.Dataset(
                Arrays.copyOfRange(all.images(), s.fashionTrain, all.size()),
                Arrays.copyOfRange(all.labels(), s.fashionTrain, all.size())),
            "train-" + s.fashionTrain + "+");
      }
      Files.writeString(done, "");
    }
    return dir;
  }
}
