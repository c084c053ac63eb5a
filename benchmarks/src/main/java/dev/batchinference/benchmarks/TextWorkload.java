package dev.batchinference.benchmarks;

import ai.djl.huggingface.tokenizers.Encoding;
import ai.djl.huggingface.tokenizers.HuggingFaceTokenizer;
import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtSession;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.batchinference.transforms.RunInference;
import dev.batchinference.transforms.model.ModelFiles;
import dev.batchinference.transforms.onnx.OnnxModelHandler;
import dev.batchinference.transforms.onnx.SessionConfig;
import dev.batchinference.transforms.postprocess.MeanPooledEmbedding;
import dev.batchinference.transforms.tensor.Tensor;
import dev.batchinference.transforms.tensor.TensorExample;
import java.io.BufferedWriter;
import java.nio.FloatBuffer;
import java.nio.LongBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Text embedding with all-MiniLM-L6-v2 int8 over the sample fortunes: raw session.run loop (file
 * order and length-sorted batches), raw loop with tokenization, coder round trip, and the job.
 */
final class TextWorkload {

  static final String NAME = "text (MiniLM-L6 int8)";
  static final String MODEL = "classpath:all-minilm-l6-v2-q.onnx";
  static final String TOKENIZER = "classpath:all-minilm-l6-v2-q-tokenizer.json";
  static final String OUTPUT = "last_hidden_state";

  private static final ObjectMapper JSON = new ObjectMapper();

  private final Benchmark.Settings s;
  private final List<Row> rows;
  private final List<String> notes;

  TextWorkload(Benchmark.Settings settings, List<Row> rows, List<String> notes) {
    this.s = settings;
    this.rows = rows;
    this.notes = notes;
  }

  void run() throws Exception {
    List<String> texts = new ArrayList<>();
    Path input = writeInput(texts);
    System.out.printf(
        "%s: %d texts in %s, batch %d, <= %d tokens%n",
        NAME, texts.size(), input, s.textBatch, s.maxTokens);

    HuggingFaceTokenizer tokenizer =
        HuggingFaceTokenizer.builder()
            .optTokenizerPath(ModelFiles.localCopy(TOKENIZER))
            .optPadding(false)
            .optTruncation(true)
            .optMaxLength(s.maxTokens)
            .build();
    OrtEnvironment env = OrtEnvironment.getEnvironment();
    Set<String> outputs = Set.of(OUTPUT);
    try (OrtSession session = RawLoop.open(env, ModelFiles.readAll(MODEL), s.threads)) {
      Set<String> inputNames = session.getInputNames();
      List<long[][]> encoded = new ArrayList<>(); // per text: ids, mask, types
      for (String text : texts) {
        Encoding e = tokenizer.encode(text);
        encoded.add(new long[][] {e.getIds(), e.getAttentionMask(), e.getTypeIds()});
      }
      long realTokens = encoded.stream().mapToLong(e -> e[0].length).sum();

      // (a) raw session.run, batches in file order (as a plain loop would build them).
      List<Integer> fileOrder = new ArrayList<>();
      for (int i = 0; i < texts.size(); i++) {
        fileOrder.add(i);
      }
      rawRun(env, session, inputNames, outputs, encoded, fileOrder, "raw session.run", realTokens);

      // (a') the same, batches of similar lengths: what length bucketing would give.
      List<Integer> sorted = new ArrayList<>(fileOrder);
      sorted.sort(Comparator.comparingInt(i -> encoded.get(i)[0].length));
      rawRun(
          env,
          session,
          inputNames,
          outputs,
          encoded,
          sorted,
          "raw session.run, length-sorted",
          realTokens);

      // (b) raw loop with tokenization, tensor building, mean pooling and normalisation.
      rawWithTokenization(env, session, inputNames, outputs, tokenizer, texts);
    } finally {
      tokenizer.close();
    }

    // Coder round trip of the job's examples, as a runner that encodes would pay it.
    List<TensorExample> examples = new ArrayList<>();
    try (HuggingFaceTokenizer t =
        HuggingFaceTokenizer.builder()
            .optTokenizerPath(ModelFiles.localCopy(TOKENIZER))
            .optPadding(false)
            .optTruncation(true)
            .optMaxLength(s.maxTokens)
            .build()) {
      for (String text : texts) {
        Encoding e = t.encode(text);
        Map<String, Tensor> m = new LinkedHashMap<>();
        m.put("input_ids", Tensor.vector(e.getIds()));
        m.put("attention_mask", Tensor.vector(e.getAttentionMask()));
        m.put("token_type_ids", Tensor.vector(e.getTypeIds()));
        examples.add(TensorExample.of(m));
      }
    }
    rows.add(Benchmark.coderRoundTrip(NAME, examples));

    // The job's inference step alone, on the tokenized texts: with the job's default length
    // buckets, with naive batches (padded to each batch's longest), and with a token budget.
    OnnxModelHandler handler =
        OnnxModelHandler.of(MODEL)
            .withSessionConfig(SessionConfig.defaults().withIntraOpThreads(s.threads))
            .withOutputs(List.of(OUTPUT));
    RunInference<TensorExample, TensorExample> naive =
        RunInference.of(handler, MeanPooledEmbedding.of()).withBatchSize(s.textBatch);
    long budget = (long) s.textBatch * 32;
    Map<String, RunInference<TensorExample, TensorExample>> batchings = new LinkedHashMap<>();
    batchings.put("naive batches (padded to each batch's longest)", naive);
    batchings.put("length buckets 32/64/128", naive.withWeightBuckets(32, 64, 128));
    batchings.put(
        "token budget " + budget + " + buckets 32/64/128",
        naive.withWeightBuckets(32, 64, 128).withMaxBatchWeight(budget));
    batchings.put(
        "token budget " + budget + " + buckets 16/24/32/48/64/96/128/192 (default)",
        naive.withWeightBuckets(16, 24, 32, 48, 64, 96, 128, 192).withMaxBatchWeight(budget));
    for (List<String> runner : InferenceOnly.RUNNERS) {
      for (Map.Entry<String, RunInference<TensorExample, TensorExample>> b : batchings.entrySet()) {
        if (!runner.get(0).equals("DirectRunner") && !b.getKey().endsWith("(default)")) {
          continue;
        }
        rows.add(
            InferenceOnly.run(
                NAME,
                "inference step only, " + runner.get(0) + ", " + b.getKey(),
                runner.subList(1, runner.size()),
                examples,
                b.getValue()));
      }
    }

    // (c) the job, with intra-op threads = cores, then the sweep.
    List<String> job =
        List.of(
            "--task=EMBED",
            "--input=" + input.toAbsolutePath(),
            "--model=" + MODEL,
            "--tokenizer=" + TOKENIZER,
            "--batchSize=" + s.textBatch,
            "--maxSequenceLength=" + s.maxTokens);
    if (s.pipelineWarmup && !PipelineRun.warmedUp) {
      Path small = s.workDir.resolve("fortunes-warmup.jsonl");
      List<String> lines = Files.readAllLines(input, StandardCharsets.UTF_8);
      Files.write(small, lines.subList(0, Math.min(lines.size(), Benchmark.WARMUP_RECORDS)));
      List<String> warm = new ArrayList<>(job);
      warm.set(1, "--input=" + small.toAbsolutePath());
      warm.add("--intraOpThreads=" + s.threads);
      rows.add(
          PipelineRun.run(
                  NAME,
                  "pipeline, first run in JVM (warm-up)",
                  s.workDir.resolve("out-text-warmup"),
                  warm)
              .row);
      PipelineRun.warmedUp = true;
    }
    rows.add(pipeline(job, s.threads, "", s.workDir.resolve("out-text")));
    rows.add(
        JobProcess.run(
            NAME,
            "pipeline, Flink [local], intra-op " + s.threads,
            s.workDir.resolve("out-text-flink"),
            withFlink(job, s.threads),
            "4g"));

    // The intra-op thread sweep, on an evenly spaced sample of the texts (two DoFn threads share
    // one session, so intra-op threads multiply).
    if (s.sweep.length > 0) {
      List<String> lines = Files.readAllLines(input, StandardCharsets.UTF_8);
      int n = Math.min(lines.size(), s.sweepRecords);
      List<String> sample = new ArrayList<>(n);
      for (int i = 0; i < n; i++) {
        sample.add(lines.get((int) ((long) i * lines.size() / n)));
      }
      Path small = s.workDir.resolve("fortunes-sample-" + n + ".jsonl");
      Files.write(small, sample, StandardCharsets.UTF_8);
      List<String> sweepJob = new ArrayList<>(job);
      sweepJob.set(1, "--input=" + small.toAbsolutePath());
      for (int intra : s.sweep) {
        rows.add(
            pipeline(
                sweepJob, intra, ", sample", s.workDir.resolve("out-text-sweep-intra" + intra)));
      }
    }
  }

  /** The job's arguments for Flink's embedded cluster, two task slots. */
  static List<String> withFlink(List<String> job, int intra) {
    List<String> args = new ArrayList<>(job);
    args.add("--intraOpThreads=" + intra);
    args.addAll(PipelineRun.FLINK_LOCAL);
    return args;
  }

  private Row pipeline(List<String> job, int intra, String suffix, Path output) {
    List<String> args = new ArrayList<>(job);
    args.add("--intraOpThreads=" + intra);
    String mode =
        "pipeline, intra-op " + (intra == 0 ? "0 (ORT default)" : Integer.toString(intra)) + suffix;
    return PipelineRun.run(NAME, mode, output, args).row;
  }

  private void rawRun(
      OrtEnvironment env,
      OrtSession session,
      Set<String> inputNames,
      Set<String> outputs,
      List<long[][]> encoded,
      List<Integer> order,
      String mode,
      long realTokens)
      throws Exception {
    List<Map<String, OnnxTensor>> batches = new ArrayList<>();
    long paddedTokens = 0;
    for (int start = 0; start < order.size(); start += s.textBatch) {
      List<long[][]> chunk = new ArrayList<>();
      for (int i = start; i < Math.min(order.size(), start + s.textBatch); i++) {
        chunk.add(encoded.get(order.get(i)));
      }
      int width = chunk.stream().mapToInt(e -> e[0].length).max().getAsInt();
      paddedTokens += (long) width * chunk.size();
      batches.add(tensors(env, inputNames, chunk, width));
    }
    try {
      RawLoop.warmUp(session, batches, outputs, 3);
      Measurement m = Measurement.start();
      int passes;
      try {
        passes = RawLoop.timedPasses(session, batches, outputs, m, s.minRawSeconds);
      } finally {
        m.close();
      }
      String padding =
          String.format(
              "%d batches, tokens %,d real / %,d padded (%.0f%% useful)",
              batches.size(), realTokens, paddedTokens, 100.0 * realTokens / paddedTokens);
      Row row = new Row(NAME, mode, (long) passes * order.size(), m, padding);
      rows.add(row);
      System.out.printf("  %s: %.1f records/s; %s%n", mode, row.rate(), padding);
    } finally {
      RawLoop.closeAll(batches);
    }
  }

  private void rawWithTokenization(
      OrtEnvironment env,
      OrtSession session,
      Set<String> inputNames,
      Set<String> outputs,
      HuggingFaceTokenizer tokenizer,
      List<String> texts)
      throws Exception {
    double checksum = 0;
    Measurement m = Measurement.start();
    try {
      for (int start = 0; start < texts.size(); start += s.textBatch) {
        List<long[][]> chunk = new ArrayList<>();
        for (int i = start; i < Math.min(texts.size(), start + s.textBatch); i++) {
          Encoding e = tokenizer.encode(texts.get(i));
          chunk.add(new long[][] {e.getIds(), e.getAttentionMask(), e.getTypeIds()});
        }
        int width = chunk.stream().mapToInt(e -> e[0].length).max().getAsInt();
        Map<String, OnnxTensor> batch = tensors(env, inputNames, chunk, width);
        try (OrtSession.Result result = session.run(batch, outputs)) {
          OnnxTensor hidden = (OnnxTensor) result.get(OUTPUT).get();
          checksum += meanPoolChecksum(hidden, chunk, width);
        } finally {
          for (OnnxTensor t : batch.values()) {
            t.close();
          }
        }
      }
    } finally {
      m.close();
    }
    Row row =
        new Row(NAME, "raw + tokenization + pooling", texts.size(), m, "one pass, file order");
    rows.add(row);
    System.out.printf("  %s: %.1f records/s (checksum %.3f)%n", row.mode, row.rate(), checksum);
  }

  /** Mean-pools over the attention mask and L2-normalises each row; returns a checksum. */
  private static double meanPoolChecksum(OnnxTensor hidden, List<long[][]> chunk, int width) {
    long[] shape = hidden.getInfo().getShape();
    int dims = (int) shape[2];
    FloatBuffer data = hidden.getFloatBuffer();
    double checksum = 0;
    float[] sum = new float[dims];
    for (int b = 0; b < chunk.size(); b++) {
      double norm = LineScorer.meanPool(data, b, width, dims, chunk.get(b)[1], sum);
      checksum += sum[0] / Math.sqrt(norm);
    }
    return checksum;
  }

  /** The model's inputs for a chunk of encodings, zero-padded to {@code width}. */
  private static Map<String, OnnxTensor> tensors(
      OrtEnvironment env, Set<String> inputNames, List<long[][]> chunk, int width)
      throws Exception {
    String[] names = {"input_ids", "attention_mask", "token_type_ids"};
    Map<String, OnnxTensor> batch = new LinkedHashMap<>();
    for (int k = 0; k < names.length; k++) {
      if (!inputNames.contains(names[k])) {
        continue;
      }
      LongBuffer buffer = LongBuffer.allocate(chunk.size() * width);
      for (int b = 0; b < chunk.size(); b++) {
        long[] row = chunk.get(b)[k];
        buffer.put(b * width, row, 0, row.length);
      }
      batch.put(names[k], OnnxTensor.createTensor(env, buffer, new long[] {chunk.size(), width}));
    }
    return batch;
  }

  /**
   * Writes the first {@code textRecords} texts of the corpus, repeating it when asked for more, and
   * fills {@code texts}. Blank texts are left out (the job would fail them).
   */
  private Path writeInput(List<String> texts) throws Exception {
    return writeInput(s.corpus, s.workDir, s.textRecords, texts);
  }

  /** {@link #writeInput(List)} for any corpus and count: {@code workDir/fortunes-N.jsonl}. */
  static Path writeInput(Path corpusFile, Path workDir, int records, List<String> texts)
      throws Exception {
    List<JsonNode> corpus = new ArrayList<>();
    for (String line : Files.readAllLines(corpusFile, StandardCharsets.UTF_8)) {
      if (line.isBlank()) {
        continue;
      }
      JsonNode node = JSON.readTree(line);
      if (node.path("text").isTextual() && !node.get("text").asText().isBlank()) {
        corpus.add(node);
      }
    }
    if (corpus.isEmpty()) {
      throw new IllegalArgumentException("no texts in " + corpusFile);
    }
    Path file = workDir.resolve("fortunes-" + records + ".jsonl");
    Files.createDirectories(workDir);
    try (BufferedWriter out = Files.newBufferedWriter(file, StandardCharsets.UTF_8)) {
      for (int i = 0; i < records; i++) {
        JsonNode source = corpus.get(i % corpus.size());
        int round = i / corpus.size();
        ObjectNode record = JSON.createObjectNode();
        String id = source.path("id").asText("t" + (i % corpus.size()));
        record.put("id", round == 0 ? id : id + "#" + round);
        record.put("text", source.get("text").asText());
        out.write(JSON.writeValueAsString(record));
        out.write('\n');
        texts.add(source.get("text").asText());
      }
    }
    return file;
  }
}
