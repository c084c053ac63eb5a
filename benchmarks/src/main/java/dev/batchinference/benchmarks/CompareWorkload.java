package dev.batchinference.benchmarks;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.batchinference.transforms.testing.FashionMnist;
import java.io.BufferedReader;
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
import java.util.stream.Stream;
import org.checkerframework.checker.nullness.qual.Nullable;

/**
 * The job beside what a user would write instead, side by side in one run: every variant a fresh
 * JVM with the default heap, measured the same way from outside ({@link ChildRun}): records / wall
 * seconds of the child (JVM start to exit, everything included), its CPU seconds and peak RSS.
 *
 * <p>Classifier (Fashion-MNIST logistic regression, {@code --compareFashion} images, batch 64): (a)
 * plain loop, (b) hand-written Flink DataStream job at parallelism 2, the job on (c) the
 * DirectRunner, (d) Flink {@code [local]} at parallelism 2 and (e) no {@code --runner}. Text
 * (all-MiniLM-L6-v2 int8, {@code --compareText} fortunes, batch 32, at most 256 tokens): (f) plain
 * loop in file order, (g) plain loop over length-sorted texts (the padding-free limit), (h)
 * hand-written Flink DataStream, and the job on (i) the DirectRunner, (j) Flink {@code [local]} and
 * (k) no {@code --runner}. (l, m) an empty Beam pipeline on the DirectRunner and Flink {@code
 * [local]}: the floor of any job's fixed cost. (n) a, b, c and d again on twice the images, for the
 * cost of one more record. The plain loops and the hand-written Flink jobs give ONNX Runtime 2
 * intra-op threads ({@code --threads}); the job keeps its default (its inference workers on this
 * machine share the cores: one thread each for two workers on two cores). {@code
 * --compareModes=a,b,f} runs a subset. Each variant writes to its own directory under {@code
 * workDir/compare/}, emptied before it runs; every row checks one output per input record.
 */
final class CompareWorkload {

  static final String FASHION = "compare: fashion-mnist (logreg), batch 64";
  static final String TEXT = "compare: text (MiniLM-L6 int8), batch 32, <= 256 tokens";
  static final String FASHION_TWICE = "compare: fashion-mnist (logreg), batch 64, twice the images";
  static final String FLOOR = "compare: an empty Beam pipeline (what any job pays here)";

  /** Every mode, in the order they run. */
  /** The heap the README's command gives the job: the single-machine default. */
  static final String README_HEAP = "-Xmx1g";

  static final List<String> MODES =
      List.of("a", "b", "c", "d", "e", "f", "g", "h", "i", "j", "k", "l", "m", "n");

  private static final ObjectMapper JSON = new ObjectMapper();

  /** One line of a compare table. */
  record Result(
      String workload,
      String mode,
      long records,
      double seconds,
      double cpuSeconds,
      double peakRssMiB,
      double summaryRate,
      String notes,
      boolean complete) {
    /** A row measured by {@code run}: its seconds, CPU and peak RSS. */
    static Result of(
        String workload,
        String mode,
        long records,
        ChildRun.Result run,
        double summaryRate,
        String notes,
        boolean complete) {
      return new Result(
          workload,
          mode,
          records,
          run.seconds(),
          run.cpuSeconds(),
          run.peakRssKb() / 1024.0,
          summaryRate,
          notes,
          complete);
    }

    double rate() {
      return records / Math.max(1e-9, seconds);
    }
  }

  private final Benchmark.Settings s;
  private final List<String> notes;
  final List<Result> results = new ArrayList<>();
  private String heap = "";

  CompareWorkload(Benchmark.Settings settings, List<String> notes) {
    this.s = settings;
    this.notes = notes;
  }

  private boolean wanted(String mode) {
    return s.compareModes.contains(mode);
  }

  void run() throws Exception {
    heap = ChildRun.defaultMaxHeap();
    System.out.println("compare: each variant a fresh JVM, default max heap " + heap);
    if (s.compareFashion > 0 && Stream.of("a", "b", "c", "d", "e", "n").anyMatch(this::wanted)) {
      fashion();
    }
    if (wanted("l") || wanted("m")) {
      floors();
    }
    if (s.compareText > 0 && Stream.of("f", "g", "h", "i", "j", "k").anyMatch(this::wanted)) {
      text();
    }
  }

  private void fashion() throws Exception {
    int n = s.compareFashion;
    Path model = FashionMnist.trainedClassifier(s.workDir, s.fashionTrain);
    Path labels = FashionMnist.writeLabels(s.workDir.resolve("fashion-mnist-labels.txt"));
    Path input = MemoryWorkload.fashionImages(s, n);
    notes.add(
        String.format(
            Locale.ROOT,
            "%s: %,d images (%,d test + %,d unseen training images), %.0f MB of JSON Lines in %s;"
                + " model trained on %,d images",
            FASHION,
            n,
            Math.min(n, FashionWorkload.TEST_IMAGES),
            Math.max(0, n - FashionWorkload.TEST_IMAGES),
            bytes(input) / 1e6,
            input,
            s.fashionTrain));
    List<String> baseline =
        List.of(
            "--task=fashion",
            "--input=" + input.toAbsolutePath(),
            "--model=" + model.toAbsolutePath(),
            "--labels=" + labels.toAbsolutePath(),
            "--batch=64",
            "--threads=" + s.threads);
    List<String> job =
        List.of(
            "--task=CLASSIFY",
            "--input=" + input.toAbsolutePath() + "/*.jsonl",
            "--model=" + model.toAbsolutePath(),
            "--classLabels=" + labels.toAbsolutePath(),
            "--batchSize=64");
    if (wanted("a")) {
      baseline(FASHION, "a. plain loop (1 thread + ORT threads)", "PlainLoop", baseline, n, "a");
    }
    if (wanted("b")) {
      List<String> args = new ArrayList<>(baseline);
      args.add("--parallelism=2");
      baseline(
          FASHION,
          "b. hand-written Flink DataStream, parallelism 2",
          "FlinkDataStreamBaseline",
          args,
          n,
          "b");
    }
    if (wanted("a") && wanted("b")) {
      notes.add(FASHION + ": " + sameLabels(output("a"), output("b")));
    }
    jobs(FASHION, job, n, "c", "d", "e");
    if (wanted("n")) {
      twice(baseline, job, n);
    }
  }

  /**
   * Mode n: a, b, c and d again on twice the images (the compare set, then the same images under
   * other ids), so that the cost of one more record is read apart from what a run pays whatever its
   * size.
   */
  private void twice(List<String> baseline, List<String> job, int n) throws Exception {
    Path once = MemoryWorkload.fashionImages(s, n);
    Path input = twiceImages(once, n);
    List<String> twiceBaseline = new ArrayList<>();
    for (String a : baseline) {
      twiceBaseline.add(a.startsWith("--input=") ? "--input=" + input.toAbsolutePath() : a);
    }
    List<String> twiceJob = new ArrayList<>();
    for (String a : job) {
      twiceJob.add(a.startsWith("--input=") ? "--input=" + input.toAbsolutePath() + "/*.jsonl" : a);
    }
    baseline(
        FASHION_TWICE,
        "a. plain loop (1 thread + ORT threads)",
        "PlainLoop",
        twiceBaseline,
        2 * n,
        "a2");
    List<String> flink = new ArrayList<>(twiceBaseline);
    flink.add("--parallelism=2");
    baseline(
        FASHION_TWICE,
        "b. hand-written Flink DataStream, parallelism 2",
        "FlinkDataStreamBaseline",
        flink,
        2 * n,
        "b2");
    List<String> direct = new ArrayList<>(twiceJob);
    direct.add("--runner=DirectRunner");
    job(FASHION_TWICE, "c. the job, DirectRunner (command-line defaults)", direct, 2 * n, "c2");
    List<String> local = new ArrayList<>(twiceJob);
    local.addAll(PipelineRun.FLINK_LOCAL);
    job(FASHION_TWICE, "d. the job, Flink [local], parallelism 2", local, 2 * n, "d2");
  }

  /** The {@code n} images of {@code once} twice: as they are, then each under the id "again-ID". */
  private Path twiceImages(Path once, int n) throws Exception {
    Path dir = s.workDir.resolve("fashion-" + n + "-twice");
    Path done = dir.resolve(".complete");
    if (!Files.exists(done)) {
      PipelineRun.deleteTree(dir);
      Files.createDirectories(dir);
      for (Path f : LineScorer.inputFiles(once)) {
        Files.copy(f, dir.resolve(f.getFileName()));
        try (BufferedReader in = Files.newBufferedReader(f, StandardCharsets.UTF_8);
            BufferedWriter out =
                Files.newBufferedWriter(
                    dir.resolve("again-" + f.getFileName()), StandardCharsets.UTF_8)) {
          for (String line; (line = in.readLine()) != null; ) {
            out.write(line.replaceFirst("^\\{\"id\":\"", "{\"id\":\"again-"));
            out.newLine();
          }
        }
      }
      Files.writeString(done, "");
    }
    return dir;
  }

  /** Modes l and m: an empty Beam pipeline on the DirectRunner and on Flink [local]. */
  private void floors() throws Exception {
    if (wanted("l")) {
      floor(
          "l. an empty Beam pipeline (three elements, one step), DirectRunner",
          List.of("--runner=DirectRunner"),
          "l");
    }
    if (wanted("m")) {
      floor(
          "m. an empty Beam pipeline (three elements, one step), Flink [local], parallelism 2",
          PipelineRun.FLINK_LOCAL,
          "m");
    }
  }

  private void floor(String mode, List<String> args, String key) throws Exception {
    add(repeated(() -> floorOnce(mode, args, key)));
  }

  private Result floorOnce(String mode, List<String> args, String key) throws Exception {
    Path out = output(key);
    List<String> all = emptied(out, args);
    System.out.printf("  %s / %s%n", FLOOR, mode);
    ChildRun.Result r =
        ChildRun.run(
            EmptyPipeline.class.getName(),
            all,
            out.resolveSibling(key + ".log"),
            s.compareCapSeconds);
    Path phases = out.resolve("phases.txt");
    String note =
        r.succeeded() && Files.exists(phases)
            ? "inside the JVM: " + Files.readString(phases, StandardCharsets.UTF_8).trim()
            : "FAILED (exit " + r.exit() + ", see " + r.log() + ")";
    return Result.of(FLOOR, mode, 0, r, Double.NaN, note, r.succeeded());
  }

  private void text() throws Exception {
    int n = s.compareText;
    Path input = TextWorkload.writeInput(s.corpus, s.workDir, n, new ArrayList<>());
    notes.add(
        String.format(
            Locale.ROOT,
            "%s: %,d texts from %s (repeated past its end), %.2f MB in %s",
            TEXT,
            n,
            s.corpus.getFileName(),
            Files.size(input) / 1e6,
            input));
    List<String> baseline =
        List.of(
            "--task=text",
            "--input=" + input.toAbsolutePath(),
            "--model=" + TextWorkload.MODEL,
            "--tokenizer=" + TextWorkload.TOKENIZER,
            "--batch=32",
            "--maxTokens=256",
            "--threads=" + s.threads);
    List<String> job =
        List.of(
            "--task=EMBED",
            "--input=" + input.toAbsolutePath(),
            "--model=" + TextWorkload.MODEL,
            "--tokenizer=" + TextWorkload.TOKENIZER,
            "--batchSize=32",
            "--maxSequenceLength=256");
    if (wanted("f")) {
      baseline(
          TEXT,
          "f. plain loop, file order (padded to each batch's longest)",
          "PlainLoop",
          baseline,
          n,
          "f");
    }
    if (wanted("g")) {
      List<String> args = new ArrayList<>(baseline);
      args.add("--order=sorted");
      baseline(
          TEXT,
          "g. plain loop, all texts tokenized and sorted by length (padding-free limit)",
          "PlainLoop",
          args,
          n,
          "g");
    }
    if (wanted("h")) {
      List<String> args = new ArrayList<>(baseline);
      args.add("--parallelism=2");
      baseline(
          TEXT,
          "h. hand-written Flink DataStream, parallelism 2, file order",
          "FlinkDataStreamBaseline",
          args,
          n,
          "h");
    }
    jobs(TEXT, job, n, "i", "j", "k");
  }

  private void jobs(
      String workload, List<String> job, int n, String direct, String flink, String none)
      throws Exception {
    if (wanted(direct)) {
      List<String> args = new ArrayList<>(job);
      args.add("--runner=DirectRunner");
      job(workload, direct + ". the job, DirectRunner (command-line defaults)", args, n, direct);
    }
    if (wanted(flink)) {
      List<String> args = new ArrayList<>(job);
      args.addAll(PipelineRun.FLINK_LOCAL);
      job(workload, flink + ". the job, Flink [local], parallelism 2", args, n, flink);
    }
    if (wanted(none)) {
      job(
          workload,
          none + ". the job as the README runs it: no --runner, " + README_HEAP,
          List.of(README_HEAP),
          job,
          n,
          none);
    }
  }

  /** Empties the variant's output directory {@code out}; {@code args} and --output=out. */
  private static List<String> emptied(Path out, List<String> args) {
    PipelineRun.deleteTree(out);
    List<String> all = new ArrayList<>(args);
    all.add("--output=" + out);
    return all;
  }

  private Path output(String mode) {
    return s.workDir.resolve("compare").resolve(mode).toAbsolutePath();
  }

  private void baseline(
      String workload, String mode, String mainClass, List<String> args, int n, String key)
      throws Exception {
    add(repeated(() -> baselineOnce(workload, mode, mainClass, args, n, key)));
  }

  private Result baselineOnce(
      String workload, String mode, String mainClass, List<String> args, int n, String key)
      throws Exception {
    Path out = output(key);
    List<String> all = emptied(out, args);
    System.out.printf("  %s / %s%n", workload, mode);
    ChildRun.Result r =
        ChildRun.run(
            Benchmark.class.getPackageName() + "." + mainClass,
            all,
            out.resolveSibling(key + ".log"),
            s.compareCapSeconds);
    long[] written = countLines(out);
    boolean complete = r.succeeded() && written[0] == n;
    String note =
        String.format(
            Locale.ROOT,
            "%s%,d lines written in %d file(s)%s",
            r.succeeded() ? "" : "FAILED (exit " + r.exit() + ", see " + r.log() + "); ",
            written[0],
            written[1],
            written[0] == n ? "" : String.format(Locale.ROOT, " (expected %,d: MISMATCH)", n));
    return Result.of(workload, mode, n, r, Double.NaN, note, complete);
  }

  private void job(String workload, String mode, List<String> args, int n, String key)
      throws Exception {
    job(workload, mode, List.of(), args, n, key);
  }

  private void job(
      String workload, String mode, List<String> jvmFlags, List<String> args, int n, String key)
      throws Exception {
    add(repeated(() -> jobOnce(workload, mode, jvmFlags, args, n, key)));
  }

  private Result jobOnce(
      String workload, String mode, List<String> jvmFlags, List<String> args, int n, String key)
      throws Exception {
    Path out = output(key);
    List<String> all = emptied(out, args);
    all.add("--progress=false");
    System.out.printf("  %s / %s%n", workload, mode);
    Path log = out.resolveSibling(key + ".log");
    ChildRun.Result r =
        ChildRun.run(
            "dev.batchinference.pipelines.BatchInference", jvmFlags, all, log, s.compareCapSeconds);
    StringBuilder note = new StringBuilder();
    double summaryRate = Double.NaN;
    boolean complete = false;
    if (!r.succeeded()) {
      note.append("FAILED (exit ").append(r.exit()).append(", see ").append(log).append("); ");
    }
    Path summaryFile = out.resolve("summary.json");
    if (Files.exists(summaryFile)) {
      JsonNode summary = JSON.readTree(summaryFile.toFile());
      long read = summary.path("records_read").asLong();
      long predicted = summary.path("predictions").asLong();
      long failed = summary.path("failures").asLong();
      summaryRate = summary.path("throughput_records_per_second").asDouble(Double.NaN);
      complete = r.succeeded() && read == n && predicted + failed == n;
      note.append(
          String.format(
              Locale.ROOT,
              "%,d read, %,d predicted + %,d failed%s; the job's own wall %.1f s",
              read,
              predicted,
              failed,
              predicted + failed == n && read == n
                  ? ""
                  : String.format(Locale.ROOT, " (expected %,d: MISMATCH)", n),
              summary.path("wall_seconds").asDouble()));
    } else {
      note.append("no summary.json");
    }
    String runner = runnerLine(log);
    if (!runner.isEmpty()) {
      note.append("; ").append(runner);
    }
    return Result.of(workload, mode, n, r, summaryRate, note.toString(), complete);
  }

  /** A measurement, run {@code --compareRepeats} times: the run of median seconds. */
  @FunctionalInterface
  private interface Measured {
    Result run() throws Exception;
  }

  /**
   * Runs {@code measure} {@code --compareRepeats} times and keeps the run of median seconds, noting
   * the spread; a row is complete only when every run was.
   */
  private Result repeated(Measured measure) throws Exception {
    int n = Math.max(1, s.compareRepeats);
    List<Result> runs = new ArrayList<>();
    for (int i = 0; i < n; i++) {
      Result r = measure.run();
      if (n > 1) {
        System.out.printf(Locale.ROOT, "    run %d of %d: %.1f s%n", i + 1, n, r.seconds());
      }
      runs.add(r);
    }
    if (n == 1) {
      return runs.get(0);
    }
    List<Result> bySeconds = new ArrayList<>(runs);
    bySeconds.sort(java.util.Comparator.comparingDouble(Result::seconds));
    Result median = bySeconds.get(n / 2);
    return new Result(
        median.workload(),
        median.mode(),
        median.records(),
        median.seconds(),
        median.cpuSeconds(),
        median.peakRssMiB(),
        median.summaryRate(),
        String.format(
            Locale.ROOT,
            "median of %d runs (%.1f–%.1f s); %s",
            n,
            bySeconds.get(0).seconds(),
            bySeconds.get(n - 1).seconds(),
            median.notes()),
        runs.stream().allMatch(Result::complete));
  }

  private void add(Result measured) {
    // The machine may be shared: the load when the variant ended says whether others competed.
    Result r =
        new Result(
            measured.workload(),
            measured.mode(),
            measured.records(),
            measured.seconds(),
            measured.cpuSeconds(),
            measured.peakRssMiB(),
            measured.summaryRate(),
            String.format(
                Locale.ROOT,
                "%s; load %.1f at the end",
                measured.notes(),
                Measurement.loadAverage()),
            measured.complete());
    results.add(r);
    System.out.printf(
        Locale.ROOT,
        "    %.1f s, %,.0f records/s, CPU %.1f s, peak RSS %.0f MiB; %s%n",
        r.seconds(),
        r.rate(),
        r.cpuSeconds(),
        r.peakRssMiB(),
        r.notes());
  }

  /** Which runner the command line chose, from its line starting {@code runner:}; else empty. */
  static String runnerLine(Path log) {
    try (Stream<String> lines = Files.lines(log, StandardCharsets.UTF_8)) {
      return lines
          .map(String::trim)
          .filter(l -> l.startsWith("runner:"))
          .findFirst()
          .map(
              l -> {
                // "runner: DirectRunner, since input 9.8 MB is within ...; larger inputs ..." or
                // "runner: Flink's embedded mini cluster (...), since input 244.6 MB is above ..."
                String said = l.substring("runner:".length()).trim();
                String name =
                    said.startsWith("DirectRunner")
                        ? "DirectRunner"
                        : said.contains("Flink") ? "Flink [local]" : said.split("[ ,]")[0];
                int since = said.indexOf("since ");
                int stop = said.indexOf(';', Math.max(0, since));
                String why =
                    since < 0
                        ? ""
                        : " (" + said.substring(since, stop < 0 ? said.length() : stop) + ")";
                why = why.length() > 160 ? why.substring(0, 158) + "…)" : why;
                return "picked " + name + why;
              })
          .orElse("");
    } catch (IOException | RuntimeException e) {
      return "";
    }
  }

  /** Lines in the visible files under {@code dir} (recursively), and the number of files. */
  static long[] countLines(Path dir) throws IOException {
    long lines = 0;
    long files = 0;
    if (!Files.isDirectory(dir)) {
      return new long[] {0, 0};
    }
    try (Stream<Path> all = Files.walk(dir)) {
      for (Path f : (Iterable<Path>) all.filter(Files::isRegularFile)::iterator) {
        if (f.getFileName().toString().startsWith(".")) {
          continue;
        }
        files++;
        try (BufferedReader in = Files.newBufferedReader(f, StandardCharsets.UTF_8)) {
          while (in.readLine() != null) {
            lines++;
          }
        }
      }
    }
    return new long[] {lines, files};
  }

  /** The label of every id in the JSON lines under {@code dir}. */
  static Map<String, String> labels(Path dir) throws IOException {
    Map<String, String> labels = new HashMap<>();
    try (Stream<Path> all = Files.walk(dir)) {
      for (Path f : (Iterable<Path>) all.filter(Files::isRegularFile)::iterator) {
        if (f.getFileName().toString().startsWith(".")) {
          continue;
        }
        for (String line : Files.readAllLines(f, StandardCharsets.UTF_8)) {
          JsonNode p = JSON.readTree(line);
          labels.put(p.get("id").asText(), p.get("label").asText());
        }
      }
    }
    return labels;
  }

  /** Whether two baselines' outputs give every id the same label, in words. */
  static String sameLabels(Path a, Path b) throws IOException {
    Map<String, String> left = labels(a);
    Map<String, String> right = labels(b);
    long differ =
        left.entrySet().stream().filter(e -> !e.getValue().equals(right.get(e.getKey()))).count();
    return differ == 0 && left.size() == right.size()
        ? String.format(Locale.ROOT, "a and b give the same label to all %,d ids", left.size())
        : String.format(
            Locale.ROOT,
            "a and b DIFFER: %,d of %,d ids (b has %,d)",
            differ,
            left.size(),
            right.size());
  }

  private static long bytes(Path dir) throws Exception {
    long total = 0;
    for (Path f : LineScorer.inputFiles(dir)) {
      total += Files.size(f);
    }
    return total;
  }

  private static final String[] HEADER = {
    "mode",
    "records",
    "seconds",
    "records/s",
    "vs plain loop",
    "CPU s",
    "peak RSS MiB",
    "heap",
    "summary rec/s",
    "notes"
  };

  private String[] cells(Result r, double plain, double limit) {
    String ratio = Double.isNaN(plain) ? "" : String.format(Locale.ROOT, "%.2f", r.rate() / plain);
    String note = r.notes();
    if (!Double.isNaN(limit) && TEXT.equals(r.workload())) {
      note =
          String.format(
              Locale.ROOT, "%.2f of the padding-free limit (g); %s", r.rate() / limit, note);
    }
    return new String[] {
      r.mode(),
      String.format(Locale.ROOT, "%,d", r.records()),
      String.format(Locale.ROOT, "%.1f", r.seconds()),
      String.format(Locale.ROOT, "%,.0f", r.rate()),
      ratio,
      String.format(Locale.ROOT, "%.1f", r.cpuSeconds()),
      String.format(Locale.ROOT, "%,.0f", r.peakRssMiB()),
      heap,
      Double.isNaN(r.summaryRate()) ? "" : String.format(Locale.ROOT, "%,.0f", r.summaryRate()),
      note
    };
  }

  private double rateOf(String workload, String prefix) {
    return results.stream()
        .filter(r -> r.workload().equals(workload) && r.mode().startsWith(prefix))
        .findFirst()
        .map(Result::rate)
        .orElse(Double.NaN);
  }

  /** One Markdown table per workload, with what the rows have in common above each. */
  String markdown() {
    StringBuilder sb = new StringBuilder();
    sb.append("## Side by side: the job and what a user would write instead\n\n")
        .append("Each row is a fresh JVM with the default heap (")
        .append(heap)
        .append(" here, no -Xmx), measured from outside: records/s = records / wall seconds of")
        .append(" the child process, JVM start to exit, everything included; CPU s = user + sys;")
        .append(" peak RSS = the child's VmHWM. \"vs plain loop\" divides by the workload's plain")
        .append(" loop (a, f). \"summary rec/s\" is the job's own summary.json throughput.")
        .append(" ONNX Runtime intra-op threads: ")
        .append(s.threads)
        .append(" in the plain loops and hand-written jobs; the job's default in the job's rows")
        .append(" (its workers on this machine share the cores).\n\n");
    for (String workload : List.of(FASHION, TEXT, FASHION_TWICE)) {
      List<Result> rows = results.stream().filter(r -> r.workload().equals(workload)).toList();
      if (rows.isEmpty()) {
        continue;
      }
      double plain = rateOf(workload, workload.equals(TEXT) ? "f." : "a.");
      double limit = workload.equals(TEXT) ? rateOf(workload, "g.") : Double.NaN;
      sb.append("### ").append(workload).append("\n\n");
      sb.append('|').append(String.join("|", HEADER)).append("|\n|");
      for (int i = 0; i < HEADER.length; i++) {
        sb.append(i == 0 || i == HEADER.length - 1 || i == 7 ? "---|" : "---:|");
      }
      sb.append('\n');
      for (Result r : rows) {
        sb.append('|').append(String.join("|", cells(r, plain, limit))).append("|\n");
      }
      sb.append('\n');
    }
    sb.append(margins());
    sb.append(floorTable());
    return sb.toString();
  }

  /**
   * The cost of one more record: for a, b, c and d, the images added between the compare set and
   * twice it, over the seconds (and CPU) they added. The job's rows are read against what a user
   * would write instead: c against the plain loop (a), d against the hand-written Flink job (b).
   */
  private String margins() {
    StringBuilder sb = new StringBuilder();
    String[][] rows = {
      {"a.", "", ""},
      {"b.", "", ""},
      {"c.", "a.", "the plain loop's"},
      {"d.", "b.", "the hand-written Flink job's"}
    };
    double[] rates = new double[rows.length];
    boolean any = false;
    StringBuilder body = new StringBuilder();
    for (int i = 0; i < rows.length; i++) {
      Result once = row(FASHION, rows[i][0]);
      Result twice = row(FASHION_TWICE, rows[i][0]);
      rates[i] = Double.NaN;
      if (once == null || twice == null || !once.complete() || !twice.complete()) {
        continue;
      }
      any = true;
      long extra = twice.records() - once.records();
      double seconds = twice.seconds() - once.seconds();
      if (seconds <= 0) {
        body.append(
            String.format(
                Locale.ROOT,
                "|%s|%,d|%.1f|||within the run-to-run spread: more images needed|%n",
                once.mode(),
                extra,
                seconds));
        continue;
      }
      rates[i] = extra / seconds;
      String versus = "";
      if (!rows[i][1].isEmpty()) {
        int j = rows[i][1].equals("a.") ? 0 : 1;
        versus =
            Double.isNaN(rates[j])
                ? ""
                : String.format(Locale.ROOT, "%.2f of %s", rates[i] / rates[j], rows[i][2]);
      }
      body.append(
          String.format(
              Locale.ROOT,
              "|%s|%,d|%.1f|%,.0f|%.0f|%s|%n",
              once.mode(),
              extra,
              seconds,
              rates[i],
              (twice.cpuSeconds() - once.cpuSeconds()) / extra * 1e6,
              versus));
    }
    if (!any) {
      return "";
    }
    sb.append(
            "### compare: the cost of one more record (fashion-mnist, the compare set to twice it)\n\n")
        .append("What the second half of the images added to each run, from the rows above (one")
        .append(" run each, so a single pair spreads by some 10% on a quiet machine): the rate at")
        .append(" which a run goes once it is going, without what it pays whatever its size.\n\n")
        .append("|mode|extra records|extra seconds|extra records/s|extra CPU µs/record|vs|\n")
        .append("|---|---:|---:|---:|---:|---|\n")
        .append(body)
        .append('\n');
    return sb.toString();
  }

  /** Modes l and m: seconds, CPU and memory of the empty pipeline, beside the plain loop's run. */
  private String floorTable() {
    List<Result> rows = results.stream().filter(r -> r.workload().equals(FLOOR)).toList();
    if (rows.isEmpty()) {
      return "";
    }
    StringBuilder sb = new StringBuilder();
    sb.append("### ").append(FLOOR).append("\n\n");
    sb.append("A Beam pipeline of three elements and one step that does nothing, each a fresh JVM")
        .append(" with the same classpath as the job: what every Beam job pays on this machine")
        .append(" before and after its records, and what no change to the job can lower.\n\n");
    sb.append("|mode|seconds|CPU s|peak RSS MiB|notes|\n|---|---:|---:|---:|---|\n");
    for (Result r : rows) {
      sb.append(
          String.format(
              Locale.ROOT,
              "|%s|%.1f|%.1f|%,.0f|%s|%n",
              r.mode(),
              r.seconds(),
              r.cpuSeconds(),
              r.peakRssMiB(),
              r.notes()));
    }
    sb.append('\n');
    return sb.toString();
  }

  private @Nullable Result row(String workload, String prefix) {
    return results.stream()
        .filter(r -> r.workload().equals(workload) && r.mode().startsWith(prefix))
        .findFirst()
        .orElse(null);
  }

  /** The rows as {@link Row}s for the chart: records/s per mode, one panel per workload. */
  List<Row> chartRows() {
    List<Row> rows = new ArrayList<>();
    for (Result r : results) {
      if (r.workload().equals(FLOOR)) {
        continue; // no records: seconds, in the floor table
      }
      rows.add(
          new Row(r.workload(), r.mode(), r.records(), r.seconds(), r.notes())
              .inChildProcess(r.peakRssMiB()));
    }
    return rows;
  }
}
