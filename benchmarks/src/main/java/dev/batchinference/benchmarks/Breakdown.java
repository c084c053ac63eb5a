package dev.batchinference.benchmarks;

import dev.batchinference.pipelines.BatchInference;
import dev.batchinference.pipelines.options.BatchInferenceOptions;
import dev.batchinference.transforms.io.RawRecord;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import jdk.jfr.consumer.RecordedEvent;
import jdk.jfr.consumer.RecordedFrame;
import jdk.jfr.consumer.RecordedThread;
import jdk.jfr.consumer.RecordingFile;
import org.apache.beam.sdk.Pipeline;
import org.apache.beam.sdk.PipelineResult;
import org.apache.beam.sdk.coders.Coder;
import org.apache.beam.sdk.metrics.DistributionResult;
import org.apache.beam.sdk.metrics.MetricQueryResults;
import org.apache.beam.sdk.metrics.MetricResult;
import org.apache.beam.sdk.metrics.Metrics;
import org.apache.beam.sdk.metrics.MetricsFilter;
import org.apache.beam.sdk.options.PipelineOptionsFactory;
import org.apache.beam.sdk.runners.TransformHierarchy;
import org.apache.beam.sdk.transforms.DoFn;
import org.apache.beam.sdk.transforms.PTransform;
import org.apache.beam.sdk.transforms.ParDo;
import org.apache.beam.sdk.util.CoderUtils;
import org.apache.beam.sdk.values.PCollection;
import org.apache.beam.sdk.values.PValue;

/**
 * Where the job's time and bytes go (issue 17, item 2). Two commands, both measuring only:
 *
 * <ul>
 *   <li>{@code profile FILE.jfr RECORDS}: reads a Java Flight Recorder file of a whole job run and
 *       prints, as Markdown, the share of stack samples per step of the job (the innermost job step
 *       on the stack: the job's own DoFns, Beam's Reshuffle and GroupIntoBatches) and per kind of
 *       code (coders, JSON parsing, ONNX Runtime, the job's code, Beam, Flink, JDK), plus the time
 *       in garbage collection and JIT compilation, which the samples do not see. Samples of the
 *       {@code main} thread and of pipeline translation are counted apart, as fixed costs.
 *   <li>{@code coders JOB_ARGS...}: builds the job exactly as {@link BatchInference} does, then
 *       encodes every element entering each shuffle (the input of Redistribute, of
 *       GroupIntoBatches, and of every GroupByKey outside a Combine) with that PCollection's own
 *       coder and reports the mean bytes per element, beside the JSON record's own size. Runs the
 *       job on the runner its arguments name (the extra encoding makes it slower: not a timing
 *       run).
 * </ul>
 */
public final class Breakdown {

  private Breakdown() {}

  public static void main(String[] args) throws Exception {
    if (args.length == 3 && args[0].equals("profile")) {
      profile(Path.of(args[1]), Long.parseLong(args[2]));
    } else if (args.length >= 1 && args[0].equals("coders")) {
      coders(List.of(args).subList(1, args.length));
    } else {
      System.err.println(
          "usage: Breakdown profile FILE.jfr RECORDS | Breakdown coders JOB_ARGS...");
      System.exit(2);
    }
  }

  // ---------------------------------------------------------------- profile

  /** Step rules, tried on each frame from the top of the stack down; the first match wins. */
  private static String step(String type) {
    if (type.startsWith("dev.batchinference.transforms.io.")) {
      return "read (files to RawRecord)";
    }
    if (type.contains("Reshuffle") || type.contains("Redistribute")) {
      return "Redistribute (Reshuffle)";
    }
    if (type.startsWith("dev.batchinference.transforms.preprocess.")) {
      return "Preprocess (JSON parse, featurize, sha256)";
    }
    if (type.startsWith("dev.batchinference.transforms.RunInference$AssignShard")
        || type.startsWith("dev.batchinference.transforms.RunInference$PackFn")) {
      return "AssignShards / PackBatches";
    }
    if (type.startsWith("org.apache.beam.sdk.transforms.GroupIntoBatches")) {
      return "GroupIntoBatches (state)";
    }
    if (type.startsWith("dev.batchinference.transforms.postprocess.")) {
      return "Infer: postprocess";
    }
    if (type.startsWith("ai.onnxruntime.")) {
      return "Infer: ONNX Runtime run";
    }
    if (type.startsWith("dev.batchinference.transforms.onnx.")) {
      return "Infer: stack batch, split outputs";
    }
    if (type.startsWith("dev.batchinference.transforms.RunInference$")) {
      return "Infer: other";
    }
    if (type.startsWith("dev.batchinference.pipelines.sinks.")) {
      return "write (predictions, failures)";
    }
    if (type.startsWith("dev.batchinference.pipelines.summary.")
        || type.startsWith("dev.batchinference.transforms.stats.")
        || type.startsWith("dev.batchinference.transforms.BatchStats")) {
      return "summary (RunStats combines)";
    }
    if (type.startsWith("dev.batchinference.pipelines.SkipPredicted")) {
      return "SkipPredicted";
    }
    return null;
  }

  private static boolean onStack(List<RecordedFrame> frames, String prefix) {
    for (RecordedFrame f : frames) {
      if (f.isJavaFrame() && f.getMethod().getType().getName().startsWith(prefix)) {
        return true;
      }
    }
    return false;
  }

  private static boolean coderFrame(RecordedFrame frame) {
    String method = frame.getMethod().getName();
    String type = frame.getMethod().getType().getName();
    return (method.startsWith("encode")
            || method.startsWith("decode")
            || method.equals("serialize")
            || method.equals("deserialize")
            || method.equals("copy"))
        && (type.endsWith("Coder") || type.contains("CoderTypeSerializer"));
  }

  private static boolean jdk(String type) {
    return type.startsWith("java.")
        || type.startsWith("jdk.")
        || type.startsWith("sun.")
        || type.startsWith("com.sun.");
  }

  /**
   * The kind of code a sample is in: coders and JSON anywhere on the stack, else the top frame's.
   */
  private static String kind(List<RecordedFrame> frames) {
    String first = null;
    for (RecordedFrame f : frames) {
      if (!f.isJavaFrame()) {
        continue;
      }
      if (coderFrame(f)) {
        return "coders (encode/decode/copy)";
      }
      String type = f.getMethod().getType().getName();
      if (type.startsWith("com.fasterxml.jackson.")) {
        return "JSON (Jackson)";
      }
      if (first == null && !jdk(type)) {
        first = type;
      }
    }
    if (first == null) {
      return "JDK only (no other frame)";
    }
    if (first.startsWith("ai.onnxruntime.")) {
      return "ONNX Runtime (Java side + native call)";
    }
    if (first.startsWith("dev.batchinference.")) {
      return "the job's own code";
    }
    if (first.startsWith("org.apache.beam.runners.flink.")
        || first.startsWith("org.apache.flink.")) {
      return "Flink runtime (and Beam's Flink runner)";
    }
    if (first.startsWith("org.apache.beam.runners.direct.")) {
      return "DirectRunner runtime";
    }
    if (first.startsWith("org.apache.beam.")) {
      return "Beam SDK";
    }
    return "other libraries (" + first.replaceAll("^((?:[^.]+\\.){2}).*", "$1") + "*)";
  }

  private static void profile(Path file, long records) throws Exception {
    Map<String, long[]> steps = new LinkedHashMap<>();
    Map<String, long[]> kinds = new LinkedHashMap<>();
    Map<String, Map<String, long[]>> cross = new LinkedHashMap<>();
    Map<String, long[]> tops = new HashMap<>();
    Map<String, long[]> threads = new HashMap<>();
    long samples = 0;
    long natives = 0;
    long nativeOrt = 0;
    Duration gc = Duration.ZERO;
    Duration pauses = Duration.ZERO;
    Duration jit = Duration.ZERO;
    long gcs = 0;
    double cpuSum = 0;
    long cpuN = 0;
    for (RecordedEvent e : RecordingFile.readAllEvents(file)) {
      String name = e.getEventType().getName();
      switch (name) {
        case "jdk.GarbageCollection" -> {
          gc = gc.plus(e.getDuration());
          pauses = pauses.plus(e.getDuration("sumOfPauses"));
          gcs++;
        }
        case "jdk.Compilation" -> jit = jit.plus(e.getDuration());
        case "jdk.CPULoad" -> {
          cpuSum += e.getFloat("jvmUser") + e.getFloat("jvmSystem");
          cpuN++;
        }
        case "jdk.NativeMethodSample" -> {
          natives++;
          if (e.getStackTrace() != null) {
            for (RecordedFrame f : e.getStackTrace().getFrames()) {
              if (f.isJavaFrame()
                  && f.getMethod().getType().getName().startsWith("ai.onnxruntime.")) {
                nativeOrt++;
                break;
              }
            }
          }
        }
        case "jdk.ExecutionSample" -> {
          if (e.getStackTrace() == null) {
            continue;
          }
          samples++;
          List<RecordedFrame> frames = e.getStackTrace().getFrames();
          String s = null;
          String top = null;
          for (RecordedFrame f : frames) {
            if (!f.isJavaFrame()) {
              continue;
            }
            String type = f.getMethod().getType().getName();
            if (top == null && !jdk(type)) {
              top = type.replaceAll("^.*\\.", "") + "." + f.getMethod().getName();
            }
            if (s == null) {
              s = step(type);
            }
          }
          RecordedThread t = e.getThread("sampledThread");
          String tn = t == null ? "?" : String.valueOf(t.getJavaName());
          if (tn.equals("main")) {
            s = "fixed: main thread (options, job checks, construction, translation)";
          } else if (s == null && onStack(frames, "org.apache.beam.sdk.util.construction.")) {
            s = "fixed: pipeline translation on a worker thread";
          } else if (s == null) {
            s = "no job step on the stack (runner, shuffle I/O, other)";
          }
          String k = kind(frames);
          steps.computeIfAbsent(s, x -> new long[1])[0]++;
          kinds.computeIfAbsent(k, x -> new long[1])[0]++;
          cross.computeIfAbsent(s, x -> new LinkedHashMap<>())
              .computeIfAbsent(k, x -> new long[1])[0]++;
          if (!s.startsWith("fixed")) {
            tops.computeIfAbsent(top == null ? "(JDK only)" : top, x -> new long[1])[0]++;
          }
          tn = tn.replaceAll("\\(\\d+/\\d+\\).*$", "").replaceAll("-\\d+$", "-N");
          if (tn.length() > 90) {
            tn = tn.substring(0, 87) + "...";
          }
          threads.computeIfAbsent(tn, x -> new long[1])[0]++;
        }
        default -> {}
      }
    }
    System.out.printf(
        Locale.ROOT,
        "%s: %d execution samples (Java code running), %d native-method samples (%d of them in"
            + " ONNX Runtime); %d records; mean JVM CPU load %.0f%% of the machine;"
            + " %d GCs, %.2f s in GC (%.2f s of pauses); %.2f s compiling (JIT, sum over"
            + " compiler threads). A sample stands for about 10 ms of Java code running (20 ms"
            + " for native samples); µs/record = samples × 10 ms / records.%n%n",
        file.getFileName(),
        samples,
        natives,
        nativeOrt,
        records,
        cpuN == 0 ? Double.NaN : 100 * cpuSum / cpuN,
        gcs,
        gc.toMillis() / 1000.0,
        pauses.toMillis() / 1000.0,
        jit.toMillis() / 1000.0);
    perRecord = records;
    table("step (innermost job step on the stack)", steps, samples);
    table("kind of code", kinds, samples);
    System.out.println("Step × kind (share of all execution samples):\n");
    for (Map.Entry<String, Map<String, long[]>> row : sorted(cross)) {
      StringBuilder b = new StringBuilder("- " + row.getKey() + ": ");
      List<String> parts = new ArrayList<>();
      for (Map.Entry<String, long[]> c : sorted(row.getValue())) {
        parts.add(
            String.format(Locale.ROOT, "%s %.1f%%", c.getKey(), 100.0 * c.getValue()[0] / samples));
      }
      System.out.println(b.append(String.join(", ", parts)));
    }
    System.out.println();
    table("top non-JDK frame, fixed costs left out (first 15)", first(tops, 15), samples);
    table("thread (first 10)", first(threads, 10), samples);
  }

  private static <V> List<Map.Entry<String, V>> sorted(Map<String, V> map) {
    List<Map.Entry<String, V>> list = new ArrayList<>(map.entrySet());
    list.sort((a, b) -> Long.compare(count(b.getValue()), count(a.getValue())));
    return list;
  }

  private static long count(Object v) {
    if (v instanceof long[] l) {
      return l[0];
    }
    long n = 0;
    for (Object o : ((Map<?, ?>) v).values()) {
      n += ((long[]) o)[0];
    }
    return n;
  }

  private static Map<String, long[]> first(Map<String, long[]> map, int n) {
    Map<String, long[]> out = new LinkedHashMap<>();
    for (Map.Entry<String, long[]> e : sorted(map)) {
      if (out.size() == n) {
        break;
      }
      out.put(e.getKey(), e.getValue());
    }
    return out;
  }

  /** Records of the profiled run, to turn samples into µs per record. */
  private static long perRecord = 1;

  private static void table(String title, Map<String, long[]> rows, long total) {
    System.out.printf(
        "| %s | samples | share | µs/record |%n| --- | ---: | ---: | ---: |%n", title);
    for (Map.Entry<String, long[]> e : sorted(rows)) {
      System.out.printf(
          Locale.ROOT,
          "| %s | %d | %.1f%% | %.1f |%n",
          e.getKey(),
          e.getValue()[0],
          100.0 * e.getValue()[0] / total,
          e.getValue()[0] * 10_000.0 / perRecord);
    }
    System.out.println();
  }

  // ---------------------------------------------------------------- coders

  private static void coders(List<String> jobArgs) {
    PipelineOptionsFactory.register(BatchInferenceOptions.class);
    BatchInferenceOptions options =
        PipelineOptionsFactory.fromArgs(jobArgs.toArray(new String[0]))
            .withValidation()
            .as(BatchInferenceOptions.class);
    Pipeline pipeline = Pipeline.create(options);
    BatchInference.build(pipeline, options);
    Map<String, PCollection<?>> shuffled = new LinkedHashMap<>();
    pipeline.traverseTopologically(
        new Pipeline.PipelineVisitor.Defaults() {
          @Override
          public CompositeBehavior enterCompositeTransform(TransformHierarchy.Node node) {
            String n = node.getFullName();
            if (n.equals("Redistribute") || n.endsWith("/GroupIntoBatches")) {
              capture(n, node);
            }
            return CompositeBehavior.ENTER_TRANSFORM;
          }

          @Override
          public void visitPrimitiveTransform(TransformHierarchy.Node node) {
            PTransform<?, ?> t = node.getTransform();
            // A GroupByKey inside a Combine is lifted by both runners (it carries accumulators,
            // not elements), and a consumer added inside it would defeat the lifting.
            if (t != null
                && t.getClass().getSimpleName().equals("GroupByKey")
                && !node.getFullName().contains("/Combine.perKey(")) {
              capture(node.getFullName(), node);
            }
          }

          private void capture(String name, TransformHierarchy.Node node) {
            for (PValue v : node.getInputs().values()) {
              if (v instanceof PCollection<?> pc) {
                shuffled.put(name, pc);
              }
            }
          }
        });
    int i = 0;
    for (Map.Entry<String, PCollection<?>> e : shuffled.entrySet()) {
      measure(e.getValue(), "Bytes" + i++, e.getKey());
    }
    PipelineResult result = pipeline.run();
    result.waitUntilFinish();
    MetricQueryResults metrics = result.metrics().queryMetrics(MetricsFilter.builder().build());
    System.out.println(
        "| shuffle (input of) | coder | elements | mean bytes/element | total MB |\n"
            + "| --- | --- | ---: | ---: | ---: |");
    Map<String, String> coderNames = new HashMap<>();
    for (Map.Entry<String, PCollection<?>> e : shuffled.entrySet()) {
      coderNames.put(e.getKey(), e.getValue().getCoder().toString());
    }
    for (MetricResult<DistributionResult> d : metrics.getDistributions()) {
      if (!d.getName().getNamespace().equals(Breakdown.class.getName())) {
        continue;
      }
      DistributionResult r = d.getAttempted();
      String n = d.getName().getName();
      System.out.printf(
          Locale.ROOT,
          "| %s | %s | %d | %.1f | %.1f |%n",
          n,
          coderNames.getOrDefault(n, "(UTF-8 bytes of the JSON line itself)"),
          r.getCount(),
          r.getMean(),
          r.getSum() / 1e6);
    }
  }

  private static <T> void measure(PCollection<T> pc, String step, String name) {
    pc.apply(step, ParDo.of(new SizeFn<>(pc.getCoder(), name)));
  }

  /** Encodes each element with its PCollection's coder and records the size in a distribution. */
  static final class SizeFn<T> extends DoFn<T, Void> {
    private final Coder<T> coder;
    private final String name;

    SizeFn(Coder<T> coder, String name) {
      this.coder = coder;
      this.name = name;
    }

    @ProcessElement
    public void process(@Element T element) throws Exception {
      Metrics.distribution(Breakdown.class, name)
          .update(CoderUtils.encodeToByteArray(coder, element).length);
      if (element instanceof RawRecord raw) {
        Metrics.distribution(Breakdown.class, "JSON line itself (UTF-8)")
            .update(raw.text().getBytes(StandardCharsets.UTF_8).length);
      }
    }
  }
}
