package dev.batchinference.benchmarks;

import dev.batchinference.transforms.tensor.TensorExample;
import dev.batchinference.transforms.tensor.TensorExampleCoder;
import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * Throughput of the batch inference job beside a raw ONNX Runtime loop on the same model, data,
 * batch size and threads, for a text embedding and an image classifier workload. Prints a table and
 * writes it as Markdown.
 *
 * <pre>
 * mvn -q -DskipTests install
 * mvn -q -pl benchmarks exec:exec [-Dbenchmark.args="--textRecords=500 --workloads=text"]
 * </pre>
 *
 * <p>Modes: {@code raw session.run} (inputs prepared and batches built before the clock starts,
 * warm-up first; the reference of the "vs raw" column), {@code raw + tokenization + pooling} /
 * {@code raw + JSON parsing} (the plain loop a user would write), {@code coder round trip} (only
 * encoding and decoding every example with the job's coder), and {@code pipeline} (the job on the
 * DirectRunner, from options parsing to the end, model loading included; the summary column is
 * summary.json's own throughput).
 */
public final class Benchmark {

  /** Records of the warm-up job. */
  static final int WARMUP_RECORDS = 64;

  /** The mode that every other mode of a workload is compared with. */
  static final String RAW = "raw session.run";

  /** The benchmark's arguments. */
  static final class Settings {
    List<String> workloads = List.of("text", "fashion", "scale");
    int[] scale = {1_000, 10_000, 100_000};
    List<String> scaleRunners = List.of("direct", "flink");
    String scaleHeap = "2g";
    List<String> memoryDatasets = List.of("fortunes", "fashion", "tabular");
    List<String> memoryRunners = List.of("direct", "flink");
    String memoryHeap = "1g";
    int memoryFashion = 50_000;
    int memoryTabular = 5_000_000;
    long memoryDirectCapSeconds = 300;
    long memoryCapSeconds = 1800;
    Path benchmarksDir = Path.of(System.getProperty("benchmarks.dir", "benchmarks"));
    Path corpus = benchmarksDir.resolve("../src/samples/fortunes.jsonl").normalize();
    Path workDir = benchmarksDir.resolve("target/bench-data");
    Path report = benchmarksDir.resolve("target/benchmark.md");
    int textRecords = 2000;
    int textBatch = 32;
    int maxTokens = 256;
    int fashionRecords = 20_000;
    int fashionTrain = 6000;
    int fashionBatch = 64;
    int threads = Runtime.getRuntime().availableProcessors();
    int[] sweep = {1, 2, 0};
    double minRawSeconds = 3;
    boolean pipelineWarmup = false;
    int sweepRecords = 500;
    int fashionPipelineRecords = 10_000;
    int compareFashion = 50_000;
    int compareText = 4000;
    List<String> compareModes = CompareWorkload.MODES;
    long compareCapSeconds = 1800;
    int compareRepeats = 1;

    static final String HELP =
        String.join(
            "\n",
            "Arguments (all optional, --name=value):",
            "  --workloads=text,fashion,scale which workloads to run (also: memory, compare)",
            "  --compareFashion=50000     images of the compare workload (0: none); each variant a fresh JVM",
            "  --compareText=4000         fortunes of the compare workload (0: none)",
            "  --compareModes=a,...,n     compare variants to run: a plain loop, b hand-written Flink,",
            "                             c/d/e the job on DirectRunner, Flink [local] p2, no --runner with -Xmx1g (as the README runs it)"
                + " (fashion);",
            "                             f plain loop, g length-sorted plain loop (padding-free limit),",
            "                             h hand-written Flink, i/j/k the job as c/d/e (text);",
            "                             l/m an empty Beam pipeline on DirectRunner / Flink [local];",
            "                             n a-d again on twice the images (cost of one more record)",
            "  --compareCap=1800          seconds after which a compare variant is killed",
            "  --compareRepeats=1         runs of each compare variant; the row is the run of median seconds",
            "  --scale=1000,10000,100000  dataset sizes of the scale workload (generated records)",
            "  --scaleRunners=direct,flink runners of the scale workload",
            "  --scaleHeap=2g             -Xmx of each scale run's JVM",
            "  --memoryDatasets=fortunes,fashion,tabular inputs of the memory workload",
            "  --memoryRunners=direct,flink runners of the memory workload (also: default, no --runner)",
            "  --memoryHeap=1g            -Xmx of each memory run's JVM",
            "  --memoryFashion=50000      Fashion-MNIST images of the memory workload",
            "  --memoryTabular=5000000    generated tabular records of the memory workload",
            "  --memoryDirectCap=300      seconds after which a memory run on the DirectRunner is killed",
            "  --memoryCap=1800           seconds after which any other memory run is killed",
            "  --corpus=PATH              JSON lines with a 'text' field (default src/samples/fortunes.jsonl)",
            "  --textRecords=N            texts to embed; the corpus repeats past its end (default 2000)",
            "  --textBatch=N              (default 32)",
            "  --maxTokens=N              most tokens per text (default 256)",
            "  --fashionRecords=N         images: the 10,000 test images, then unseen training images (default 20000)",
            "  --fashionTrain=N           training images for the classifier (default 6000)",
            "  --fashionBatch=N           (default 64)",
            "  --threads=N                intra-op threads for raw loops and the pipeline (default: cores)",
            "  --sweep=1,2,0              pipeline text runs with these intra-op threads (0: ORT default; empty: none)",
            "  --sweepRecords=N           texts for the sweep, evenly spaced over the input (default 500)",
            "  --fashionPipelineRecords=N images the pipelines run over: the first N (default 10000)",
            "  --minRawSeconds=S          raw session.run loops repeat passes for at least S seconds (default 3)",
            "  --pipelineWarmup=false     run the job once on "
                + WARMUP_RECORDS
                + " records before the first measured job (shown as its own row)",
            "  --workDir=PATH             generated data, model and job outputs (default benchmarks/target/bench-data)",
            "  --report=PATH              Markdown report (default benchmarks/target/benchmark.md)");

    static Settings parse(String[] args) {
      Settings s = new Settings();
      // exec:exec passes -Dbenchmark.args as one argument: split it.
      List<String> all = new ArrayList<>();
      for (String arg : args) {
        all.addAll(Arrays.asList(arg.trim().split("\\s+")));
      }
      for (String arg : all) {
        if (arg.isBlank()) {
          continue;
        }
        if (arg.equals("--help") || arg.equals("-h")) {
          System.out.println(HELP);
          return null;
        }
        int eq = arg.indexOf('=');
        if (!arg.startsWith("--") || eq < 0) {
          throw new IllegalArgumentException("expected --name=value, got '" + arg + "'\n" + HELP);
        }
        String name = arg.substring(2, eq);
        String value = arg.substring(eq + 1);
        switch (name) {
          case "workloads" -> s.workloads = Arrays.asList(value.split(","));
          case "scale" ->
              s.scale =
                  Arrays.stream(value.split(","))
                      .mapToInt(v -> Integer.parseInt(v.trim()))
                      .toArray();
          case "scaleRunners" -> s.scaleRunners = Arrays.asList(value.split(","));
          case "scaleHeap" -> s.scaleHeap = value;
          case "memoryDatasets" -> s.memoryDatasets = Arrays.asList(value.split(","));
          case "memoryRunners" -> s.memoryRunners = Arrays.asList(value.split(","));
          case "memoryHeap" -> s.memoryHeap = value;
          case "memoryFashion" -> s.memoryFashion = Integer.parseInt(value);
          case "memoryTabular" -> s.memoryTabular = Integer.parseInt(value);
          case "memoryDirectCap" -> s.memoryDirectCapSeconds = Long.parseLong(value);
          case "memoryCap" -> s.memoryCapSeconds = Long.parseLong(value);
          case "corpus" -> s.corpus = Path.of(value);
          case "textRecords" -> s.textRecords = Integer.parseInt(value);
          case "textBatch" -> s.textBatch = Integer.parseInt(value);
          case "maxTokens" -> s.maxTokens = Integer.parseInt(value);
          case "fashionRecords" -> s.fashionRecords = Integer.parseInt(value);
          case "fashionTrain" -> s.fashionTrain = Integer.parseInt(value);
          case "fashionBatch" -> s.fashionBatch = Integer.parseInt(value);
          case "threads" -> s.threads = Integer.parseInt(value);
          case "sweep" ->
              s.sweep =
                  value.isBlank()
                      ? new int[0]
                      : Arrays.stream(value.split(","))
                          .mapToInt(v -> Integer.parseInt(v.trim()))
                          .toArray();
          case "minRawSeconds" -> s.minRawSeconds = Double.parseDouble(value);
          case "pipelineWarmup" -> s.pipelineWarmup = Boolean.parseBoolean(value);
          case "sweepRecords" -> s.sweepRecords = Integer.parseInt(value);
          case "fashionPipelineRecords" -> s.fashionPipelineRecords = Integer.parseInt(value);
          case "compareFashion" -> s.compareFashion = Integer.parseInt(value);
          case "compareText" -> s.compareText = Integer.parseInt(value);
          case "compareModes" -> s.compareModes = Arrays.asList(value.split(","));
          case "compareCap" -> s.compareCapSeconds = Long.parseLong(value);
          case "compareRepeats" -> s.compareRepeats = Integer.parseInt(value);
          case "workDir" -> s.workDir = Path.of(value);
          case "report" -> s.report = Path.of(value);
          default -> throw new IllegalArgumentException("unknown argument --" + name + "\n" + HELP);
        }
      }
      for (String w : s.workloads) {
        if (!List.of("text", "fashion", "scale", "memory", "compare").contains(w)) {
          throw new IllegalArgumentException(
              "unknown workload '" + w + "' (text, fashion, scale, memory, compare)");
        }
      }
      for (String m : s.compareModes) {
        if (!CompareWorkload.MODES.contains(m)) {
          throw new IllegalArgumentException(
              "unknown compare mode '" + m + "' (" + String.join(",", CompareWorkload.MODES) + ")");
        }
      }
      return s;
    }

    Map<String, String> describe() {
      Map<String, String> d = new LinkedHashMap<>();
      d.put("workloads", String.join(",", workloads));
      d.put("scale", Arrays.toString(scale));
      d.put("scaleRunners", String.join(",", scaleRunners));
      if (workloads.contains("memory")) {
        d.put("memoryDatasets", String.join(",", memoryDatasets));
        d.put("memoryRunners", String.join(",", memoryRunners));
        d.put("memoryHeap", memoryHeap);
        d.put("memoryFashion", Integer.toString(memoryFashion));
        d.put("memoryTabular", Integer.toString(memoryTabular));
      }
      if (workloads.contains("compare")) {
        d.put("compareFashion", Integer.toString(compareFashion));
        d.put("compareText", Integer.toString(compareText));
        d.put("compareModes", String.join(",", compareModes));
        d.put("compareRepeats", Integer.toString(compareRepeats));
      }
      d.put("textRecords", Integer.toString(textRecords));
      d.put("textBatch", Integer.toString(textBatch));
      d.put("maxTokens", Integer.toString(maxTokens));
      d.put("fashionRecords", Integer.toString(fashionRecords));
      d.put("fashionTrain", Integer.toString(fashionTrain));
      d.put("fashionBatch", Integer.toString(fashionBatch));
      d.put("threads", Integer.toString(threads));
      d.put("sweep", Arrays.toString(sweep));
      d.put("minRawSeconds", Double.toString(minRawSeconds));
      d.put("sweepRecords", Integer.toString(sweepRecords));
      d.put("fashionPipelineRecords", Integer.toString(fashionPipelineRecords));
      d.put("pipelineWarmup", Boolean.toString(pipelineWarmup));
      return d;
    }
  }

  private Benchmark() {}

  public static void main(String[] args) throws Exception {
    Settings s = Settings.parse(args);
    if (s == null) {
      return;
    }
    Preload.classesNextTo(
        dev.batchinference.pipelines.BatchInference.class,
        dev.batchinference.transforms.RunInference.class,
        dev.batchinference.transforms.testing.FashionMnist.class);
    long start = System.nanoTime();
    List<Row> rows = new ArrayList<>();
    List<String> notes = new ArrayList<>();
    notes.add(String.format(Locale.ROOT, "load average at start: %.1f", Measurement.loadAverage()));
    System.out.printf(
        "batch-inference benchmark: %d cores, Java %s, max heap %d MiB; %s%n",
        Runtime.getRuntime().availableProcessors(),
        System.getProperty("java.version"),
        Runtime.getRuntime().maxMemory() >> 20,
        s.describe());
    if (s.workloads.contains("text")) {
      new TextWorkload(s, rows, notes).run();
    }
    if (s.workloads.contains("fashion")) {
      new FashionWorkload(s, rows, notes).run();
    }
    if (s.workloads.contains("scale")) {
      new ScaleWorkload(s, rows, notes).run();
    }
    if (s.workloads.contains("memory")) {
      new MemoryWorkload(s, rows, notes).run();
    }
    CompareWorkload compare = null;
    if (s.workloads.contains("compare")) {
      compare = new CompareWorkload(s, notes);
      compare.run();
    }
    for (Row r : rows) {
      r.rawRate =
          rows.stream()
              .filter(raw -> raw.workload.equals(r.workload) && raw.mode.equals(RAW))
              .findFirst()
              .map(Row::rate)
              .orElse(Double.NaN);
    }
    double total = (System.nanoTime() - start) / 1e9;
    notes.add(String.format(Locale.ROOT, "whole benchmark: %.0f s", total));

    System.out.println();
    if (!rows.isEmpty()) {
      System.out.println(textTable(rows));
    }
    if (compare != null) {
      System.out.println(compare.markdown());
    }
    notes.forEach(System.out::println);
    String markdown = markdown(s, rows, notes);
    if (compare != null) {
      // The compare tables go before the notes list, which ends the report.
      int at = rows.isEmpty() ? markdown.indexOf("Pipeline runs:") : markdown.indexOf("\n- ");
      String section = compare.markdown();
      markdown =
          at < 0
              ? markdown + "\n" + section
              : rows.isEmpty()
                  ? markdown.substring(0, at) + section + notesOf(markdown)
                  : markdown.substring(0, at + 1) + "\n" + section + markdown.substring(at + 1);
    }
    Files.createDirectories(s.report.toAbsolutePath().getParent());
    Files.writeString(s.report, markdown, StandardCharsets.UTF_8);
    String base = s.report.getFileName().toString().replaceFirst("\\.md$", "");
    if (!rows.isEmpty()) {
      Path chart = s.report.resolveSibling(base + ".png");
      Chart.write(rows, chart);
      System.out.println("Chart: " + chart.toAbsolutePath().normalize());
    }
    if (compare != null && !compare.results.isEmpty()) {
      Path chart = s.report.resolveSibling(base + (rows.isEmpty() ? "" : "-compare") + ".png");
      Chart.write(
          compare.chartRows(),
          chart,
          mode -> mode.startsWith("a. ") || mode.startsWith("f. "),
          "plain loop",
          false);
      System.out.println("Chart: " + chart.toAbsolutePath().normalize());
    }
    System.out.println("Report: " + s.report.toAbsolutePath().normalize());
  }

  /** The notes list that ends a report ({@code "- ..."} lines), with a blank line before it. */
  private static String notesOf(String markdown) {
    int at = markdown.indexOf("\n- ");
    return at < 0 ? "" : "\n" + markdown.substring(at + 1);
  }

  /** Encodes and decodes every example with the job's coder, passes until at least a second. */
  static Row coderRoundTrip(String workload, List<TensorExample> examples) throws Exception {
    TensorExampleCoder coder = TensorExampleCoder.of();
    ByteArrayOutputStream buffer = new ByteArrayOutputStream();
    long bytes = 0;
    int passes = 0;
    Measurement m = Measurement.start();
    try {
      do {
        for (TensorExample e : examples) {
          buffer.reset();
          coder.encode(e, buffer);
          bytes += buffer.size();
          coder.decode(new ByteArrayInputStream(buffer.toByteArray()));
        }
        passes++;
      } while (m.seconds() < 1);
    } finally {
      m.close();
    }
    long n = (long) passes * examples.size();
    return new Row(
        workload,
        "coder round trip only",
        n,
        m,
        String.format(
            Locale.ROOT,
            "TensorExampleCoder encode+decode, %.0f bytes/record",
            (double) bytes / n));
  }

  private static final String[] HEADER = {
    "workload",
    "mode",
    "records",
    "seconds",
    "records/s",
    "vs raw",
    "CPU ms/record",
    "summary rec/s",
    "peak heap MiB",
    "peak RSS MiB",
    "load",
    "notes"
  };

  private static String[] cells(Row r) {
    return new String[] {
      r.workload,
      r.mode,
      String.format(Locale.ROOT, "%,d", r.records),
      String.format(Locale.ROOT, "%.2f", r.seconds),
      String.format(Locale.ROOT, "%,.1f", r.rate()),
      ratio(r),
      r.child
          ? ""
          : String.format(Locale.ROOT, "%.3f", 1000 * r.cpuSeconds / Math.max(1, r.records)),
      Double.isNaN(r.summaryRate) ? "" : String.format(Locale.ROOT, "%,.1f", r.summaryRate),
      r.child ? "" : String.format(Locale.ROOT, "%.0f", r.peakHeapMiB),
      r.peakRssMiB < 0
          ? "n/a"
          : String.format(Locale.ROOT, "%.0f%s", r.peakRssMiB, r.rssReset ? "" : "*"),
      r.load < 0 ? "n/a" : String.format(Locale.ROOT, "%.1f", r.load),
      r.notes
    };
  }

  private static String ratio(Row r) {
    if (Double.isNaN(r.rawRate)) {
      return "";
    }
    double ratio = r.rate() / r.rawRate;
    return ratio >= 0.01
        ? String.format(Locale.ROOT, "%.3f", ratio)
        : String.format(Locale.ROOT, "1/%,.0f", 1 / ratio);
  }

  static String textTable(List<Row> rows) {
    List<String[]> all = new ArrayList<>();
    all.add(HEADER);
    rows.forEach(r -> all.add(cells(r)));
    int[] widths = new int[HEADER.length];
    for (String[] line : all) {
      for (int i = 0; i < line.length; i++) {
        widths[i] = Math.max(widths[i], line[i].length());
      }
    }
    StringBuilder sb = new StringBuilder();
    for (String[] line : all) {
      for (int i = 0; i < line.length; i++) {
        boolean left = i < 2 || i == line.length - 1;
        String cell = left ? pad(line[i], widths[i]) : padLeft(line[i], widths[i]);
        sb.append(cell).append(i == line.length - 1 ? "" : "  ");
      }
      sb.append('\n');
    }
    return sb.toString();
  }

  static String markdown(Settings s, List<Row> rows, List<String> notes) {
    StringBuilder sb = new StringBuilder();
    sb.append("# batch-inference benchmark\n\n");
    sb.append(
        String.format(
            Locale.ROOT,
            "%s; %d cores, Java %s, max heap %d MiB. Settings: %s%n%n",
            Instant.now(),
            Runtime.getRuntime().availableProcessors(),
            System.getProperty("java.version"),
            Runtime.getRuntime().maxMemory() >> 20,
            s.describe()));
    sb.append("Pipeline runs: DirectRunner, `")
        .append(String.join(" ", PipelineRun.RUNNER_ARGS))
        .append("`; seconds from options parsing to the job's end (model loading included).")
        .append(" \"vs raw\" divides by the workload's `raw session.run` rate.")
        .append(" Peak RSS is VmHWM reset before each mode (* where the reset was refused).")
        .append(" Load is the 1-minute load average at the end of the mode: above the core count,")
        .append(" other processes competed for the CPUs.\n\n");
    sb.append('|').append(String.join("|", HEADER)).append("|\n");
    sb.append('|');
    for (int i = 0; i < HEADER.length; i++) {
      sb.append(i < 2 || i == HEADER.length - 1 ? "---|" : "---:|");
    }
    sb.append('\n');
    for (Row r : rows) {
      sb.append('|').append(String.join("|", cells(r))).append("|\n");
    }
    sb.append('\n');
    for (String n : notes) {
      sb.append("- ").append(n).append('\n');
    }
    return sb.toString();
  }

  private static String pad(String s, int width) {
    return s + " ".repeat(Math.max(0, width - s.length()));
  }

  private static String padLeft(String s, int width) {
    return " ".repeat(Math.max(0, width - s.length())) + s;
  }
}
