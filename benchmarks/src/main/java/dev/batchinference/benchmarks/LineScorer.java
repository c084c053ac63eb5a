package dev.batchinference.benchmarks;

import ai.djl.huggingface.tokenizers.Encoding;
import ai.djl.huggingface.tokenizers.HuggingFaceTokenizer;
import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtSession;
import com.fasterxml.jackson.core.JsonGenerator;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.batchinference.transforms.model.ModelFiles;
import java.io.Serializable;
import java.io.StringWriter;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.FloatBuffer;
import java.nio.LongBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * What the hand-written baselines of the compare workload do to a batch of JSON lines: parse them,
 * run the model on the batch, and turn each row of the output into one JSON line. The plain loops
 * and the hand-written Flink job share it, so that they differ only in how lines reach it.
 *
 * <p>Serializable for Flink: only the configuration travels; the session (and tokenizer) are opened
 * by {@link #open()} where the scorer runs, once per plain loop or per Flink subtask.
 */
abstract class LineScorer implements Serializable, AutoCloseable {

  private static final long serialVersionUID = 1L;

  static final ObjectMapper JSON = new ObjectMapper();

  /** Opens the model (and tokenizer); called once before the first batch. */
  abstract void open() throws Exception;

  /** One output line per input line, in the input's order. */
  abstract List<String> score(List<String> lines) throws Exception;

  /** The scorer for {@code task} ({@code fashion} or {@code text}) with the baselines' args. */
  static LineScorer of(Map<String, String> args) {
    int threads = Integer.parseInt(args.getOrDefault("threads", "2"));
    return switch (args.get("task")) {
      case "fashion" -> new Fashion(args.get("model"), args.get("labels"), threads);
      case "text" ->
          new Text(
              args.get("model"),
              args.get("tokenizer"),
              Integer.parseInt(args.getOrDefault("maxTokens", "256")),
              threads);
      default -> throw new IllegalArgumentException("--task=fashion or --task=text");
    };
  }

  /** {@code --name=value} arguments as a map. */
  static Map<String, String> parseArgs(String[] args) {
    Map<String, String> map = new LinkedHashMap<>();
    for (String arg : args) {
      int eq = arg.indexOf('=');
      if (!arg.startsWith("--") || eq < 0) {
        throw new IllegalArgumentException("expected --name=value, got '" + arg + "'");
      }
      map.put(arg.substring(2, eq), arg.substring(eq + 1));
    }
    return map;
  }

  /**
   * The JSON Lines files of an input: the file itself, or the visible {@code *.jsonl} files of a
   * directory in name order.
   */
  static List<Path> inputFiles(Path input) throws Exception {
    if (!Files.isDirectory(input)) {
      return List.of(input);
    }
    try (var files = Files.list(input)) {
      return files
          .filter(f -> f.getFileName().toString().endsWith(".jsonl"))
          .filter(f -> !f.getFileName().toString().startsWith("."))
          .sorted()
          .toList();
    }
  }

  /**
   * Fashion-MNIST: Jackson {@code readTree} of each line, its {@code features} as a {@code
   * float[784]}, one {@code [N, 784]} tensor per batch, argmax of the class scores; writes {@code
   * {"id", "label", "score"}}.
   */
  static final class Fashion extends LineScorer {
    private static final long serialVersionUID = 1L;

    private final String model;
    private final String labelsFile;
    private final int threads;
    private transient OrtEnvironment env;
    private transient OrtSession session;
    private transient String inputName;
    private transient List<String> labels;

    Fashion(String model, String labelsFile, int threads) {
      this.model = model;
      this.labelsFile = labelsFile;
      this.threads = threads;
    }

    @Override
    void open() throws Exception {
      env = OrtEnvironment.getEnvironment();
      session = RawLoop.open(env, Files.readAllBytes(Path.of(model)), threads);
      inputName = session.getInputNames().iterator().next();
      labels = Files.readAllLines(Path.of(labelsFile), StandardCharsets.UTF_8);
    }

    @Override
    List<String> score(List<String> lines) throws Exception {
      List<String> ids = new ArrayList<>(lines.size());
      FloatBuffer buffer = null;
      int width = 0;
      for (String line : lines) {
        JsonNode record = JSON.readTree(line);
        ids.add(record.path("id").asText());
        JsonNode features = record.get("features");
        if (buffer == null) {
          width = features.size();
          buffer =
              ByteBuffer.allocateDirect(lines.size() * width * Float.BYTES)
                  .order(ByteOrder.nativeOrder())
                  .asFloatBuffer();
        }
        float[] v = new float[width];
        for (int i = 0; i < width; i++) {
          v[i] = (float) features.get(i).doubleValue();
        }
        buffer.put(v);
      }
      List<String> out = new ArrayList<>(lines.size());
      if (buffer == null) {
        return out;
      }
      buffer.rewind();
      try (OnnxTensor input =
              OnnxTensor.createTensor(env, buffer, new long[] {lines.size(), width});
          OrtSession.Result result = session.run(Map.of(inputName, input))) {
        FloatBuffer scores = ((OnnxTensor) result.get(0)).getFloatBuffer();
        int classes = scores.capacity() / lines.size();
        for (int r = 0; r < lines.size(); r++) {
          int best = 0;
          for (int c = 1; c < classes; c++) {
            if (scores.get(r * classes + c) > scores.get(r * classes + best)) {
              best = c;
            }
          }
          StringWriter w = new StringWriter(64);
          try (JsonGenerator g = JSON.getFactory().createGenerator(w)) {
            g.writeStartObject();
            g.writeStringField("id", ids.get(r));
            g.writeStringField("label", best < labels.size() ? labels.get(best) : "" + best);
            g.writeNumberField("score", scores.get(r * classes + best));
            g.writeEndObject();
          }
          out.add(w.toString());
        }
      }
      return out;
    }

    @Override
    public void close() throws Exception {
      if (session != null) {
        session.close();
      }
    }
  }

  /**
   * all-MiniLM-L6-v2: tokenize each line's {@code text} (truncated to {@code maxTokens}, no padding
   * of its own), pad the batch to its longest, run, mean-pool over the attention mask and
   * L2-normalise; writes {@code {"id", "embedding"}}.
   */
  static final class Text extends LineScorer {
    private static final long serialVersionUID = 1L;

    private final String model;
    private final String tokenizerFile;
    private final int maxTokens;
    private final int threads;
    private transient OrtEnvironment env;
    private transient OrtSession session;
    private transient Set<String> inputNames;
    private transient HuggingFaceTokenizer tokenizer;

    /** A tokenized line: its id and the model's three inputs, unpadded. */
    record Encoded(String id, long[] ids, long[] mask, long[] types) {}

    Text(String model, String tokenizerFile, int maxTokens, int threads) {
      this.model = model;
      this.tokenizerFile = tokenizerFile;
      this.maxTokens = maxTokens;
      this.threads = threads;
    }

    @Override
    void open() throws Exception {
      env = OrtEnvironment.getEnvironment();
      session = RawLoop.open(env, ModelFiles.readAll(model), threads);
      inputNames = session.getInputNames();
      tokenizer =
          HuggingFaceTokenizer.builder()
              .optTokenizerPath(ModelFiles.localCopy(tokenizerFile))
              .optPadding(false)
              .optTruncation(true)
              .optMaxLength(maxTokens)
              .build();
    }

    Encoded encode(String line) throws Exception {
      JsonNode record = JSON.readTree(line);
      Encoding e = tokenizer.encode(record.path("text").asText());
      return new Encoded(
          record.path("id").asText(), e.getIds(), e.getAttentionMask(), e.getTypeIds());
    }

    @Override
    List<String> score(List<String> lines) throws Exception {
      List<Encoded> batch = new ArrayList<>(lines.size());
      for (String line : lines) {
        batch.add(encode(line));
      }
      return run(batch);
    }

    /** Runs one batch, padded to its longest sequence. */
    List<String> run(List<Encoded> batch) throws Exception {
      List<String> out = new ArrayList<>(batch.size());
      if (batch.isEmpty()) {
        return out;
      }
      int width = batch.stream().mapToInt(e -> e.ids().length).max().getAsInt();
      Map<String, OnnxTensor> inputs = new LinkedHashMap<>();
      try {
        put(inputs, "input_ids", batch, width, Encoded::ids);
        put(inputs, "attention_mask", batch, width, Encoded::mask);
        put(inputs, "token_type_ids", batch, width, Encoded::types);
        try (OrtSession.Result result = session.run(inputs, Set.of(TextWorkload.OUTPUT))) {
          OnnxTensor hidden = (OnnxTensor) result.get(TextWorkload.OUTPUT).get();
          int dims = (int) hidden.getInfo().getShape()[2];
          FloatBuffer data = hidden.getFloatBuffer();
          float[] sum = new float[dims];
          for (int b = 0; b < batch.size(); b++) {
            double norm = meanPool(data, b, width, dims, batch.get(b).mask(), sum);
            double scale = norm > 0 ? 1 / Math.sqrt(norm) : 0;
            StringWriter w = new StringWriter(dims * 12);
            try (JsonGenerator g = JSON.getFactory().createGenerator(w)) {
              g.writeStartObject();
              g.writeStringField("id", batch.get(b).id());
              g.writeArrayFieldStart("embedding");
              for (int d = 0; d < dims; d++) {
                g.writeNumber((float) (sum[d] * scale));
              }
              g.writeEndArray();
              g.writeEndObject();
            }
            out.add(w.toString());
          }
        }
      } finally {
        for (OnnxTensor t : inputs.values()) {
          t.close();
        }
      }
      return out;
    }

    private void put(
        Map<String, OnnxTensor> inputs,
        String name,
        List<Encoded> batch,
        int width,
        java.util.function.Function<Encoded, long[]> field)
        throws Exception {
      if (!inputNames.contains(name)) {
        return;
      }
      LongBuffer buffer = LongBuffer.allocate(batch.size() * width);
      for (int b = 0; b < batch.size(); b++) {
        long[] row = field.apply(batch.get(b));
        buffer.put(b * width, row, 0, row.length);
      }
      inputs.put(name, OnnxTensor.createTensor(env, buffer, new long[] {batch.size(), width}));
    }

    @Override
    public void close() throws Exception {
      if (session != null) {
        session.close();
      }
      if (tokenizer != null) {
        tokenizer.close();
      }
    }
  }

  /**
   * Mean-pools row {@code b} of a {@code [batch, width, dims]} hidden state over the tokens {@code
   * mask} keeps, into {@code sum}; returns the squared L2 norm of the mean.
   */
  static double meanPool(FloatBuffer data, int b, int width, int dims, long[] mask, float[] sum) {
    Arrays.fill(sum, 0);
    int count = 0;
    for (int t = 0; t < mask.length; t++) {
      if (mask[t] == 0) {
        continue;
      }
      count++;
      int base = (b * width + t) * dims;
      for (int d = 0; d < dims; d++) {
        sum[d] += data.get(base + d);
      }
    }
    double norm = 0;
    for (int d = 0; d < dims; d++) {
      sum[d] /= Math.max(1, count);
      norm += sum[d] * sum[d];
    }
    return norm;
  }
}
