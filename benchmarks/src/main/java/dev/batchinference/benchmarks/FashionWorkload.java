package dev.batchinference.benchmarks;

import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtSession;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.batchinference.transforms.RunInference;
import dev.batchinference.transforms.onnx.OnnxModelHandler;
import dev.batchinference.transforms.onnx.SessionConfig;
import dev.batchinference.transforms.postprocess.ClassScores;
import dev.batchinference.transforms.tensor.Tensor;
import dev.batchinference.transforms.tensor.TensorExample;
import dev.batchinference.transforms.testing.FashionMnist;
import java.io.BufferedReader;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.FloatBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * A Fashion-MNIST logistic regression (Tribuo, exported to ONNX): raw session.run loop, raw loop
 * that parses the JSON lines, coder round trip, and the job with --task=CLASSIFY.
 */
final class FashionWorkload {

  static final String NAME = "fashion-mnist (logreg)";
  static final int TEST_IMAGES = 10_000;
  private static final int TRAIN_IMAGES = 60_000;

  private static final ObjectMapper JSON = new ObjectMapper();

  private final Benchmark.Settings s;
  private final List<Row> rows;
  private final List<String> notes;

  FashionWorkload(Benchmark.Settings settings, List<Row> rows, List<String> notes) {
    this.s = settings;
    this.rows = rows;
    this.notes = notes;
  }

  void run() throws Exception {
    long t0 = System.nanoTime();
    Path model = FashionMnist.trainedClassifier(s.workDir, s.fashionTrain);
    Path labels = FashionMnist.writeLabels(s.workDir.resolve("fashion-mnist-labels.txt"));
    double trainSeconds = (System.nanoTime() - t0) / 1e9;

    t0 = System.nanoTime();
    int records = Math.min(s.fashionRecords, TEST_IMAGES + TRAIN_IMAGES - s.fashionTrain);
    int fromTest = Math.min(records, TEST_IMAGES);
    int fromTrain = records - fromTest;
    FashionMnist.Dataset test = FashionMnist.load(false, fromTest);
    FashionMnist.Dataset train = null;
    if (fromTrain > 0) {
      FashionMnist.Dataset all = FashionMnist.load(true, s.fashionTrain + fromTrain);
      train =
          new FashionMnist.Dataset(
              Arrays.copyOfRange(all.images(), s.fashionTrain, all.size()),
              Arrays.copyOfRange(all.labels(), s.fashionTrain, all.size()));
    }
    Path dir = s.workDir.resolve("fashion-" + records);
    List<Path> files = new ArrayList<>();
    files.add(dir.resolve("test.jsonl"));
    if (train != null) {
      files.add(dir.resolve("train-unseen.jsonl"));
    }
    Path done = dir.resolve(".complete");
    if (!Files.exists(done)) {
      PipelineRun.deleteTree(dir);
      FashionMnist.writeJsonLines(files.get(0), test, "test-");
      if (train != null) {
        FashionMnist.writeJsonLines(files.get(1), train, "train-" + s.fashionTrain + "+");
      }
      Files.writeString(done, "");
    }
    double dataSeconds = (System.nanoTime() - t0) / 1e9;
    long bytes = 0;
    for (Path f : files) {
      bytes += Files.size(f);
    }
    String setup =
        String.format(
            "%s: trained on %d images (or reused) in %.1f s; %d images (%d test + %d unseen train),"
                + " %.0f MB of JSON lines, loaded/written in %.1f s",
            NAME,
            s.fashionTrain,
            trainSeconds,
            records,
            fromTest,
            fromTrain,
            bytes / 1e6,
            dataSeconds);
    notes.add(setup);
    System.out.println(setup);

    List<float[]> images = new ArrayList<>(records);
    images.addAll(Arrays.asList(test.images()));
    if (train != null) {
      images.addAll(Arrays.asList(train.images()));
    }

    OrtEnvironment env = OrtEnvironment.getEnvironment();
    String inputName;
    Set<String> outputs;
    try (OrtSession session = RawLoop.open(env, Files.readAllBytes(model), s.threads)) {
      inputName = session.getInputNames().iterator().next();
      outputs = Set.of(session.getOutputNames().iterator().next());

      // (a) raw session.run over pre-built batches.
      List<Map<String, OnnxTensor>> batches = new ArrayList<>();
      for (int start = 0; start < images.size(); start += s.fashionBatch) {
        List<float[]> chunk =
            images.subList(start, Math.min(images.size(), start + s.fashionBatch));
        batches.add(Map.of(inputName, tensor(env, chunk)));
      }
      Row raw;
      try {
        RawLoop.warmUp(session, batches, outputs, 20);
        Measurement m = Measurement.start();
        int passes;
        try {
          passes = RawLoop.timedPasses(session, batches, outputs, m, s.minRawSeconds);
        } finally {
          m.close();
        }
        raw =
            new Row(
                NAME,
                "raw session.run",
                (long) passes * images.size(),
                m,
                passes + " passes over " + batches.size() + " batches");
        rows.add(raw);
        System.out.printf("  %s: %.0f records/s%n", raw.mode, raw.rate());
      } finally {
        RawLoop.closeAll(batches);
      }

      // (b) raw loop that reads and parses the JSON lines, builds each batch, runs, takes argmax.
      Measurement m = Measurement.start();
      long n = 0;
      long checksum = 0;
      try {
        List<float[]> chunk = new ArrayList<>(s.fashionBatch);
        for (Path f : files) {
          try (BufferedReader in = Files.newBufferedReader(f, StandardCharsets.UTF_8)) {
            String line;
            while ((line = in.readLine()) != null) {
              JsonNode features = JSON.readTree(line).get("features");
              float[] v = new float[features.size()];
              for (int i = 0; i < v.length; i++) {
                v[i] = (float) features.get(i).doubleValue();
              }
              chunk.add(v);
              if (chunk.size() == s.fashionBatch) {
                checksum += runArgmax(env, session, inputName, outputs, chunk);
                n += chunk.size();
                chunk.clear();
              }
            }
          }
        }
        if (!chunk.isEmpty()) {
          checksum += runArgmax(env, session, inputName, outputs, chunk);
          n += chunk.size();
        }
      } finally {
        m.close();
      }
      Row parsed = new Row(NAME, "raw + JSON parsing", n, m, "one pass; Jackson readTree per line");
      rows.add(parsed);
      System.out.printf(
          "  %s: %.0f records/s (checksum %d)%n", parsed.mode, parsed.rate(), checksum);
    }

    List<TensorExample> examples = new ArrayList<>(images.size());
    for (float[] image : images) {
      examples.add(TensorExample.of(inputName, Tensor.vector(image)));
    }
    Row coder = Benchmark.coderRoundTrip(NAME, examples);
    rows.add(coder);

    // (b') the job's inference step alone, on the featurized images, on each runner.
    List<TensorExample> featurized =
        examples.subList(0, Math.min(examples.size(), s.fashionPipelineRecords));
    RunInference<TensorExample, TensorExample> inference =
        RunInference.of(
                OnnxModelHandler.of(model.toAbsolutePath().toString())
                    .withSessionConfig(SessionConfig.defaults().withIntraOpThreads(s.threads)),
                ClassScores.of().withLabels(Files.readAllLines(labels, StandardCharsets.UTF_8)))
            .withBatchSize(s.fashionBatch);
    for (List<String> runner : InferenceOnly.RUNNERS) {
      rows.add(
          InferenceOnly.run(
              NAME,
              "inference step only, " + runner.get(0),
              runner.subList(1, runner.size()),
              featurized,
              inference));
    }
    examples.clear();

    // (c) the job, over the first pipelineRecords images (the DirectRunner is slow per record).
    int pipelineRecords = Math.min(records, s.fashionPipelineRecords);
    Path pipelineDir = dir;
    if (pipelineRecords < records) {
      pipelineDir = s.workDir.resolve("fashion-pipeline-" + pipelineRecords);
      PipelineRun.deleteTree(pipelineDir);
      Files.createDirectories(pipelineDir);
      List<String> lines = new ArrayList<>(pipelineRecords);
      for (Path f : files) {
        try (BufferedReader in = Files.newBufferedReader(f, StandardCharsets.UTF_8)) {
          for (String line; lines.size() < pipelineRecords && (line = in.readLine()) != null; ) {
            lines.add(line);
          }
        }
      }
      Files.write(pipelineDir.resolve("images.jsonl"), lines, StandardCharsets.UTF_8);
    }
    List<String> job =
        List.of(
            "--task=CLASSIFY",
            "--input=" + pipelineDir.toAbsolutePath() + "/*.jsonl",
            "--model=" + model.toAbsolutePath(),
            "--classLabels=" + labels.toAbsolutePath(),
            "--batchSize=" + s.fashionBatch,
            "--intraOpThreads=" + s.threads);
    if (s.pipelineWarmup && !PipelineRun.warmedUp) {
      Path small = s.workDir.resolve("fashion-warmup");
      if (!Files.exists(small.resolve("test.jsonl"))) {
        List<String> lines = new ArrayList<>();
        try (BufferedReader in = Files.newBufferedReader(files.get(0), StandardCharsets.UTF_8)) {
          for (String line;
              lines.size() < Benchmark.WARMUP_RECORDS && (line = in.readLine()) != null; ) {
            lines.add(line);
          }
        }
        Files.createDirectories(small);
        Files.write(small.resolve("test.jsonl"), lines);
      }
      List<String> warm = new ArrayList<>(job);
      warm.set(1, "--input=" + small.toAbsolutePath() + "/*.jsonl");
      rows.add(
          PipelineRun.run(
                  NAME,
                  "pipeline, first run in JVM (warm-up)",
                  s.workDir.resolve("out-fashion-warmup"),
                  warm)
              .row);
      PipelineRun.warmedUp = true;
    }
    rows.add(
        PipelineRun.run(
                NAME, "pipeline, intra-op " + s.threads, s.workDir.resolve("out-fashion"), job)
            .row);
    rows.add(
        JobProcess.run(
            NAME,
            "pipeline, Flink [local], intra-op " + s.threads,
            s.workDir.resolve("out-fashion-flink"),
            TextWorkload.withFlink(job.subList(0, job.size() - 1), s.threads),
            "4g"));
  }

  private static long runArgmax(
      OrtEnvironment env,
      OrtSession session,
      String inputName,
      Set<String> outputs,
      List<float[]> chunk)
      throws Exception {
    long checksum = 0;
    try (OnnxTensor input = tensor(env, chunk);
        OrtSession.Result result = session.run(Map.of(inputName, input), outputs)) {
      FloatBuffer scores = ((OnnxTensor) result.get(0)).getFloatBuffer();
      int classes = scores.capacity() / chunk.size();
      for (int r = 0; r < chunk.size(); r++) {
        int best = 0;
        for (int c = 1; c < classes; c++) {
          if (scores.get(r * classes + c) > scores.get(r * classes + best)) {
            best = c;
          }
        }
        checksum += best;
      }
    }
    return checksum;
  }

  private static OnnxTensor tensor(OrtEnvironment env, List<float[]> chunk) throws Exception {
    int width = chunk.get(0).length;
    FloatBuffer buffer =
        ByteBuffer.allocateDirect(chunk.size() * width * Float.BYTES)
            .order(ByteOrder.nativeOrder())
            .asFloatBuffer();
    for (float[] row : chunk) {
      buffer.put(row);
    }
    buffer.rewind();
    return OnnxTensor.createTensor(env, buffer, new long[] {chunk.size(), width});
  }
}
