package dev.batchinference.transforms.onnx;

import static org.hamcrest.MatcherAssert.assertThat;
import static org.hamcrest.Matchers.equalTo;
import static org.hamcrest.Matchers.greaterThan;

import ai.onnxruntime.OnnxJavaType;
import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtSession;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.batchinference.transforms.Failure;
import dev.batchinference.transforms.Prediction;
import dev.batchinference.transforms.RunInference;
import dev.batchinference.transforms.io.JsonLines;
import dev.batchinference.transforms.io.RawRecord;
import dev.batchinference.transforms.model.BatchMode;
import dev.batchinference.transforms.model.ModelSignature;
import dev.batchinference.transforms.postprocess.RawOutputs;
import dev.batchinference.transforms.preprocess.Preprocess;
import dev.batchinference.transforms.preprocess.RawTensors;
import dev.batchinference.transforms.tensor.Tensor;
import dev.batchinference.transforms.tensor.TensorExample;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Queue;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.stream.Collectors;
import java.util.stream.Stream;
import org.apache.beam.runners.direct.DirectOptions;
import org.apache.beam.sdk.Pipeline;
import org.apache.beam.sdk.coders.StringUtf8Coder;
import org.apache.beam.sdk.options.PipelineOptionsFactory;
import org.apache.beam.sdk.transforms.Create;
import org.apache.beam.sdk.transforms.DoFn;
import org.apache.beam.sdk.transforms.Flatten;
import org.apache.beam.sdk.transforms.MapElements;
import org.apache.beam.sdk.transforms.ParDo;
import org.apache.beam.sdk.values.PCollection;
import org.apache.beam.sdk.values.PCollectionList;
import org.apache.beam.sdk.values.TypeDescriptors;
import org.junit.Assume;
import org.junit.Test;
import org.junit.runner.RunWith;
import org.junit.runners.JUnit4;

/**
 * The ONNX project's own backend node tests (Debian's {@code libonnx-testdata}: {@code
 * node/<case>/model.onnx} with {@code test_data_set_0/input_*.pb} and {@code output_*.pb}) run as
 * RAW runs through the job's transforms on the DirectRunner: each case is one JSON record holding
 * the inputs (the {@code .pb} tensors written as nested arrays), preprocessed by {@link
 * RawTensors}, run by {@link RunInference} with the batch size the model's {@link BatchMode}
 * requires, and written by {@link JsonLines}; the JSON outputs are compared with the expected
 * tensors (floats within rtol 1e-4, atol 1e-5; integers, bools and strings exactly).
 *
 * <p>Eligible: a case with one data set whose model's inputs and outputs are all tensors and whose
 * tensors all have a type RAW takes. For each failure, the same model is also run directly through
 * {@code OrtSession} on the {@code .pb} inputs, which says whether ONNX Runtime itself fails the
 * case. The report goes to {@code target/onnx-node-conformance.md}. It takes minutes, so it runs
 * only with {@code -Ponnx-conformance} (which {@code .ci/run} gives).
 */
@RunWith(JUnit4.class)
public class OnnxNodeConformanceTest {

  private static final Path NODE = Path.of("/usr/share/libonnx-testdata/data/node");
  private static final ObjectMapper JSON = new ObjectMapper();
  private static final int CASES_PER_PIPELINE = 150;

  /** What the pipelines wrote, by case: JSON Lines of predictions and failures. */
  private static final Map<String, Queue<String>> WRITTEN =
      new java.util.concurrent.ConcurrentHashMap<>();

  /** One node test: its model, its record, and its expected outputs. */
  private static final class Case {
    final String name;
    final Path model;
    final Map<String, Tensor> inputs = new LinkedHashMap<>();
    final Map<String, Tensor> expected = new LinkedHashMap<>();
    String record;
    String notExpressible;
    ModelSignature signature;
    String outcome;
    String reason;
    String direct;

    Case(String name) {
      this.name = name;
      this.model = NODE.resolve(name).resolve("model.onnx");
    }
  }

  @Test
  public void onnxNodeTestsRunThroughThePipeline() throws Exception {
    Assume.assumeTrue(
        "several minutes: run with -Ponnx-conformance (.ci/run does)",
        Boolean.getBoolean("onnx.conformance"));
    List<Case> eligible = new ArrayList<>();
    int all = 0;
    Map<String, Integer> ineligible = new TreeMap<>();
    try (Stream<Path> dirs = Files.list(NODE)) {
      for (Path dir : dirs.sorted().collect(Collectors.toList())) {
        all++;
        String why = eligibility(dir);
        if (why != null) {
          ineligible.merge(why, 1, Integer::sum);
          continue;
        }
        eligible.add(load(dir));
      }
    }

    List<Case> runnable = new ArrayList<>();
    for (Case c : eligible) {
      if (c.notExpressible != null) {
        fail(c, "record", c.notExpressible);
        continue;
      }
      try {
        c.signature = OnnxModelHandler.of(c.model.toString()).inspect();
        runnable.add(c);
      } catch (Exception e) {
        fail(c, "model refused or not loaded", Failure.describe(e));
      }
    }
    long start = System.nanoTime();
    for (int from = 0; from < runnable.size(); from += CASES_PER_PIPELINE) {
      runPipeline(runnable.subList(from, Math.min(runnable.size(), from + CASES_PER_PIPELINE)));
    }
    double seconds = (System.nanoTime() - start) / 1e9;
    for (Case c : runnable) {
      judge(c);
    }
    List<Case> failed = new ArrayList<>();
    for (Case c : eligible) {
      if (!"passed".equals(c.outcome)) {
        failed.add(c);
        c.direct = direct(c);
      }
    }
    String report = report(all, eligible, failed, ineligible, seconds);
    Files.createDirectories(Path.of("target"));
    Files.writeString(Path.of("target", "onnx-node-conformance.md"), report);
    System.out.println(report);

    long passed = eligible.stream().filter(c -> "passed".equals(c.outcome)).count();
    assertThat("node tests eligible", eligible.size(), greaterThan(800));
    // Every case ONNX Runtime passes on its own must pass through the pipeline too, except those
    // whose inputs a JSON record cannot hold (NaN, infinities).
    List<String> pipelineOnly =
        failed.stream()
            .filter(c -> c.direct.startsWith("passes") && c.notExpressible == null)
            .map(c -> c.name + " (" + c.reason + ")")
            .collect(Collectors.toList());
    assertThat("cases that fail only through the pipeline", pipelineOnly, equalTo(List.of()));
    assertThat("cases passed", passed, greaterThan(800L));
  }

  /** Null when {@code dir} is a case RAW can run, else why not. */
  private static String eligibility(Path dir) throws IOException {
    Path model = dir.resolve("model.onnx");
    if (!Files.exists(model)) {
      return "no model.onnx";
    }
    try (Stream<Path> sets = Files.list(dir)) {
      if (sets.filter(p -> p.getFileName().toString().startsWith("test_data_set")).count() != 1) {
        return "more than one data set";
      }
    }
    byte[] bytes = Files.readAllBytes(model);
    Map<String, String> kinds = new LinkedHashMap<>(OnnxProtos.inputKinds(bytes));
    kinds.putAll(OnnxProtos.outputKinds(bytes));
    for (String kind : kinds.values()) {
      if (!"tensor".equals(kind)) {
        return "an input or output that is not a tensor (" + kind + ")";
      }
    }
    for (Path pb : pbFiles(dir)) {
      if (OnnxProtos.readTensor(Files.readAllBytes(pb)).tensor() == null) {
        return "an element type RAW does not take";
      }
    }
    return null;
  }

  private static List<Path> pbFiles(Path dir) throws IOException {
    try (Stream<Path> files = Files.list(dir.resolve("test_data_set_0"))) {
      return files
          .filter(p -> p.getFileName().toString().endsWith(".pb"))
          .sorted()
          .collect(Collectors.toList());
    }
  }

  private static Case load(Path dir) throws IOException {
    Case c = new Case(dir.getFileName().toString());
    byte[] model = Files.readAllBytes(c.model);
    List<String> inputNames = new ArrayList<>(OnnxProtos.inputKinds(model).keySet());
    List<String> outputNames = new ArrayList<>(OnnxProtos.outputKinds(model).keySet());
    for (Path pb : pbFiles(dir)) {
      String file = pb.getFileName().toString();
      OnnxProtos.TensorProto t = OnnxProtos.readTensor(Files.readAllBytes(pb));
      int index = Integer.parseInt(file.replaceAll("\\D", ""));
      if (file.startsWith("input_")) {
        c.inputs.put(t.name().isEmpty() ? inputNames.get(index) : t.name(), t.tensor());
      } else {
        c.expected.put(t.name().isEmpty() ? outputNames.get(index) : t.name(), t.tensor());
      }
    }
    ObjectNode record = JSON.createObjectNode();
    for (Map.Entry<String, Tensor> input : c.inputs.entrySet()) {
      Tensor t = input.getValue();
      for (int i = 0; i < t.size() && c.notExpressible == null; i++) {
        if (t.dtype() != Tensor.DType.STRING && !Double.isFinite(t.getAsDouble(i))) {
          c.notExpressible =
              "input '" + input.getKey() + "' holds " + t.getAsDouble(i) + ", which JSON cannot";
        }
      }
      record.set(input.getKey(), nested(t, 0, new int[] {0}));
    }
    c.record = JSON.writeValueAsString(record);
    return c;
  }

  /** A tensor as the nested JSON arrays a RAW record holds. */
  private static JsonNode nested(Tensor t, int dim, int[] next) {
    JsonNodeFactory f = JsonNodeFactory.instance;
    if (dim == t.rank()) {
      int i = next[0]++;
      switch (t.dtype()) {
        case STRING:
          return f.textNode(((String[]) t.data())[i]);
        case BOOL:
          return f.booleanNode(((byte[]) t.data())[i] != 0);
        case FLOAT:
        case FLOAT16:
        case BFLOAT16:
          return f.numberNode((float) t.getAsDouble(i));
        case DOUBLE:
          return f.numberNode(t.getAsDouble(i));
        default:
          return f.numberNode(t.getAsLong(i));
      }
    }
    ArrayNode array = f.arrayNode();
    for (long k = 0; k < t.dim(dim); k++) {
      array.add(nested(t, dim + 1, next));
    }
    return array;
  }

  private static void runPipeline(List<Case> cases) {
    DirectOptions options = PipelineOptionsFactory.as(DirectOptions.class);
    options.setEnforceImmutability(false);
    options.setEnforceEncodability(false);
    Pipeline pipeline = Pipeline.create(options);
    List<PCollection<String>> lines = new ArrayList<>();
    for (Case c : cases) {
      WRITTEN.put(c.name, new ConcurrentLinkedQueue<>());
      PCollection<RawRecord> records =
          pipeline.apply(
              c.name + "/Read",
              Create.of(RawRecord.of(c.name, 0, c.record)).withCoder(RawRecord.Coder.of()));
      Preprocess.Result<TensorExample> examples =
          records.apply(c.name + "/Preprocess", Preprocess.with(RawTensors.forModel(c.signature)));
      int batchSize = BatchMode.of(c.signature).requiredBatchSize();
      RunInference<TensorExample, TensorExample> infer =
          RunInference.of(OnnxModelHandler.of(c.model.toString()), RawOutputs.of()).withShards(1);
      if (batchSize > 0) {
        infer = infer.withBatchSize(batchSize);
      }
      RunInference.Result result = examples.examples().apply(c.name + "/RunInference", infer);
      lines.add(
          result
              .predictions()
              .apply(
                  c.name + "/Write",
                  MapElements.into(TypeDescriptors.strings())
                      .via((Prediction p) -> JsonLines.prediction(p))));
      lines.add(
          PCollectionList.of(examples.failures())
              .and(result.failures())
              .apply(c.name + "/Failures", Flatten.pCollections())
              .apply(
                  c.name + "/WriteFailures",
                  MapElements.into(TypeDescriptors.strings())
                      .via((Failure f) -> JsonLines.failure(f))));
    }
    PCollectionList.of(lines)
        .apply("All", Flatten.pCollections())
        .setCoder(StringUtf8Coder.of())
        .apply("Collect", ParDo.of(new CollectFn()));
    pipeline.run().waitUntilFinish();
  }

  /** Keeps each written line by its case (the DirectRunner runs in this JVM). */
  private static final class CollectFn extends DoFn<String, Void> {
    @ProcessElement
    public void process(@Element String line) throws IOException {
      JsonNode json = JSON.readTree(line);
      WRITTEN.get(json.path("source").asText()).add(line);
    }
  }

  private static void judge(Case c) throws IOException {
    Queue<String> lines = WRITTEN.getOrDefault(c.name, new ConcurrentLinkedQueue<>());
    if (lines.size() != 1) {
      fail(c, "pipeline", lines.size() + " lines written for one record");
      return;
    }
    JsonNode line = JSON.readTree(lines.peek());
    if (line.has("stage")) {
      fail(c, line.path("stage").asText(), line.path("error").asText());
      return;
    }
    JsonNode outputs = line.path("outputs");
    for (Map.Entry<String, Tensor> expected : c.expected.entrySet()) {
      if (!outputs.has(expected.getKey())) {
        fail(c, "compare", "no output '" + expected.getKey() + "'");
        return;
      }
      String difference = compare(expected.getValue(), outputs.get(expected.getKey()));
      if (difference != null) {
        fail(c, "compare", "output '" + expected.getKey() + "' " + difference);
        return;
      }
    }
    c.outcome = "passed";
  }

  private static void fail(Case c, String stage, String reason) {
    c.outcome = "failed";
    c.reason = stage + ": " + oneLine(reason);
  }

  private static String oneLine(String text) {
    String line = text == null ? "" : text.replaceAll("\\s+", " ");
    return line.length() > 160 ? line.substring(0, 160) + "…" : line;
  }

  /** Null when {@code actual} (JSON) holds {@code expected}, else how it differs. */
  private static String compare(Tensor expected, JsonNode actual) {
    List<Long> shape = new ArrayList<>();
    for (JsonNode n = actual; n.isArray(); n = n.size() > 0 ? n.get(0) : null) {
      shape.add((long) n.size());
      if (n.size() == 0) {
        break;
      }
    }
    long[] dims = shape.stream().mapToLong(Long::longValue).toArray();
    if (expected.size() == 0 && emptyPrefix(dims, expected.shape())) {
      // JSON arrays cannot show the dimensions inside an empty one ([3,0,5] is [[],[],[]]).
      return null;
    }
    if (!java.util.Arrays.equals(dims, expected.shape())) {
      return "has shape "
          + java.util.Arrays.toString(dims)
          + ", expected "
          + java.util.Arrays.toString(expected.shape());
    }
    List<JsonNode> values = new ArrayList<>();
    flatten(actual, values);
    for (int i = 0; i < values.size(); i++) {
      String difference = compare(expected, i, values.get(i));
      if (difference != null) {
        return "[" + i + "] " + difference;
      }
    }
    return null;
  }

  /** Whether {@code dims} is {@code shape} cut after its first 0. */
  private static boolean emptyPrefix(long[] dims, long[] shape) {
    if (dims.length == 0 || dims[dims.length - 1] != 0 || dims.length > shape.length) {
      return false;
    }
    return java.util.Arrays.equals(dims, java.util.Arrays.copyOf(shape, dims.length));
  }

  private static String compare(Tensor expected, int i, JsonNode actual) {
    switch (expected.dtype()) {
      case STRING:
        String s = ((String[]) expected.data())[i];
        return s.equals(actual.asText()) ? null : "is " + actual + ", expected \"" + s + "\"";
      case BOOL:
        boolean b = ((byte[]) expected.data())[i] != 0;
        return actual.isBoolean() && actual.booleanValue() == b
            ? null
            : "is " + actual + ", expected " + b;
      case FLOAT:
      case DOUBLE:
      case FLOAT16:
      case BFLOAT16:
        double e = expected.getAsDouble(i);
        double a = actual.isTextual() ? Double.parseDouble(actual.asText()) : actual.asDouble();
        boolean close =
            (Double.isNaN(e) && Double.isNaN(a))
                || e == a
                || Math.abs(a - e) <= 1e-5 + 1e-4 * Math.abs(e);
        return close ? null : "is " + a + ", expected " + e;
      default:
        long l = expected.getAsLong(i);
        return actual.isIntegralNumber() && actual.longValue() == l
            ? null
            : "is " + actual + ", expected " + l;
    }
  }

  private static void flatten(JsonNode node, List<JsonNode> out) {
    if (node.isArray()) {
      node.forEach(n -> flatten(n, out));
    } else {
      out.add(node);
    }
  }

  /** Runs the case straight through an OrtSession on the .pb inputs; says whether it passes. */
  private static String direct(Case c) {
    OrtEnvironment env = OrtEnvironment.getEnvironment();
    try (OrtSession session =
        env.createSession(c.model.toString(), new OrtSession.SessionOptions())) {
      Map<String, OnnxTensor> inputs = new LinkedHashMap<>();
      try {
        for (Map.Entry<String, Tensor> input : c.inputs.entrySet()) {
          inputs.put(input.getKey(), onnxTensor(env, input.getValue()));
        }
        try (OrtSession.Result result = session.run(inputs)) {
          for (Map.Entry<String, Tensor> expected : c.expected.entrySet()) {
            Tensor actual =
                BatchStacker.read((OnnxTensor) result.get(expected.getKey()).orElseThrow());
            if (!java.util.Arrays.equals(actual.shape(), expected.getValue().shape())) {
              return "fails too: output '"
                  + expected.getKey()
                  + "' has shape "
                  + java.util.Arrays.toString(actual.shape())
                  + ", expected "
                  + java.util.Arrays.toString(expected.getValue().shape());
            }
            String difference =
                compare(
                    expected.getValue(),
                    JSON.readTree(json(expected.getKey(), actual)).path(expected.getKey()));
            if (difference != null) {
              return "fails too: output '" + expected.getKey() + "' " + difference;
            }
          }
          return "passes";
        }
      } finally {
        inputs.values().forEach(OnnxTensor::close);
      }
    } catch (Exception e) {
      return "fails too: " + oneLine(Failure.describe(e));
    }
  }

  private static String json(String name, Tensor t) throws IOException {
    ObjectNode o = JSON.createObjectNode();
    o.set(name, nested(t, 0, new int[] {0}));
    return JSON.writeValueAsString(o);
  }

  private static OnnxTensor onnxTensor(OrtEnvironment env, Tensor t) throws Exception {
    if (t.dtype() == Tensor.DType.STRING) {
      return OnnxTensor.createTensor(env, (String[]) t.data(), t.shape());
    }
    ByteBuffer b =
        ByteBuffer.allocateDirect(Math.max(1, t.size() * t.dtype().width()))
            .order(ByteOrder.nativeOrder());
    switch (t.dtype()) {
      case FLOAT:
        b.asFloatBuffer().put((float[]) t.data());
        return OnnxTensor.createTensor(env, b.asFloatBuffer(), t.shape());
      case DOUBLE:
        b.asDoubleBuffer().put((double[]) t.data());
        return OnnxTensor.createTensor(env, b.asDoubleBuffer(), t.shape());
      case INT32:
        b.asIntBuffer().put((int[]) t.data());
        return OnnxTensor.createTensor(env, b.asIntBuffer(), t.shape());
      case INT64:
        b.asLongBuffer().put((long[]) t.data());
        return OnnxTensor.createTensor(env, b.asLongBuffer(), t.shape());
      case INT16:
      case FLOAT16:
      case BFLOAT16:
        b.asShortBuffer().put((short[]) t.data());
        return OnnxTensor.createTensor(
            env, b.asShortBuffer(), t.shape(), OnnxJavaType.valueOf(t.dtype().name()));
      default:
        b.put((byte[]) t.data()).rewind();
        return OnnxTensor.createTensor(env, b, t.shape(), OnnxJavaType.valueOf(t.dtype().name()));
    }
  }

  private static String report(
      int all, List<Case> eligible, List<Case> failed, Map<String, Integer> ineligible, double s) {
    StringBuilder r = new StringBuilder();
    long passed = eligible.size() - failed.size();
    long ortFails = failed.stream().filter(c -> c.direct.startsWith("fails")).count();
    r.append("# ONNX node tests through RAW (libonnx-testdata, DirectRunner)\n\n")
        .append(
            String.format(
                Locale.ROOT,
                "%d cases, %d eligible, %d passed, %d failed (%d of them fail in ONNX Runtime"
                    + " directly too); pipelines ran %.1f s\n\n",
                all,
                eligible.size(),
                passed,
                failed.size(),
                ortFails,
                s));
    r.append("Not eligible:\n\n");
    ineligible.forEach((why, n) -> r.append("- ").append(why).append(": ").append(n).append('\n'));
    r.append("\n| case | why it failed | ONNX Runtime directly |\n| --- | --- | --- |\n");
    for (Case c : failed) {
      r.append("| ")
          .append(c.name)
          .append(" | ")
          .append(c.reason.replace("|", "\\|"))
          .append(" | ")
          .append(c.direct.replace("|", "\\|"))
          .append(" |\n");
    }
    return r.toString();
  }
}
