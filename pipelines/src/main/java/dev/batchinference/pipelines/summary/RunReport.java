package dev.batchinference.pipelines.summary;

import static dev.batchinference.pipelines.summary.Html.esc;
import static dev.batchinference.pipelines.summary.Html.num;
import static dev.batchinference.pipelines.summary.Html.numberRow;
import static dev.batchinference.pipelines.summary.Html.pct;
import static dev.batchinference.pipelines.summary.Html.row;
import static dev.batchinference.pipelines.summary.SvgCharts.barChart;

import com.fasterxml.jackson.databind.JsonNode;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import org.checkerframework.checker.nullness.qual.Nullable;

/**
 * Renders a run summary (and the previous run's, when compared) as one self-contained HTML page:
 * counts, alerts, the drift table, the class distribution against the previous run, histograms of
 * top scores, batch latency and batch size, and the top failure reasons with example records.
 * Inline CSS and SVG only, no scripts, nothing fetched. Every text from the summary is escaped:
 * failure messages, inputs and class names are data, never markup.
 */
public final class RunReport {

  /** Failure reasons shown, the most frequent first. */
  static final int TOP_FAILURES = 10;

  /** The page's style sheet, {@code report.css} beside this class, inlined into every report. */
  private static final Css CSS = new Css();

  /** Loads {@code report.css} once; its line breaks are for whoever edits it, not the page. */
  private static final class Css {
    private volatile String text;

    String get() {
      String css = text;
      if (css == null) {
        try (InputStream in = RunReport.class.getResourceAsStream("report.css")) {
          if (in == null) {
            throw new IllegalStateException("report.css is missing from the classpath");
          }
          css = new String(in.readAllBytes(), StandardCharsets.UTF_8).replace("\n", "");
        } catch (IOException e) {
          throw new UncheckedIOException(e);
        }
        text = css;
      }
      return css;
    }
  }

  private RunReport() {}

  /** The report of {@code summary}; {@code previous} is the previous run's summary, if any. */
  static String render(RunSummary summary, @Nullable RunSummary previous) {
    StringBuilder h = new StringBuilder(16_384);
    String job = text(summary.job());
    h.append("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">")
        .append("<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none';")
        .append(" style-src 'unsafe-inline'; img-src data:\">")
        .append("<title>Run report: ")
        .append(esc(job))
        .append("</title><style>")
        .append(CSS.get())
        .append("</style></head><body>\n");
    List<RunSummary.Alert> alerts = summary.alerts();
    RunSummary.Comparison comparison = summary.comparison();
    h.append("<h1>Run report: ").append(esc(job)).append(' ');
    // The badge says what the exit status says: RunStatus holds the rules for both.
    switch (RunStatus.of(summary).exitStatus()) {
      case FAILED:
        h.append("<span class=\"badge bad\" id=\"status\">LOST RECORDS</span>");
        break;
      case TOO_MANY_FAILURES:
        h.append("<span class=\"badge bad\" id=\"status\">TOO MANY FAILURES</span>");
        break;
      case DRIFT_ALERT:
        h.append("<span class=\"badge warn\" id=\"status\">")
            .append(alerts.size())
            .append(alerts.size() == 1 ? " DRIFT ALERT" : " DRIFT ALERTS")
            .append("</span>");
        break;
      default:
        h.append("<span class=\"badge ok\" id=\"status\">OK</span>");
    }
    h.append("</h1>\n");

    runTable(h, summary);
    counts(h, summary);
    if (comparison != null) {
      drift(h, comparison, alerts);
    }
    distribution(h, summary, previous, comparison);
    performance(h, summary);
    failures(h, summary);
    h.append("</body></html>\n");
    return h.toString();
  }

  /** {@link #render(RunSummary, RunSummary)} of summaries read as JSON trees. */
  static String render(JsonNode summary, @Nullable JsonNode previous) {
    return render(RunSummary.of(summary), previous == null ? null : RunSummary.of(previous));
  }

  private static void runTable(StringBuilder h, RunSummary s) {
    RunSummary.Model model = s.model();
    h.append("<h2>Run</h2><table id=\"run\">");
    row(h, "Task", text(s.task()));
    row(h, "Model", model == null ? "" : text(model.name()));
    row(h, "Model SHA-256", model == null ? "" : text(model.sha256()));
    row(h, "Input", text(s.input()));
    row(h, "Output", text(s.output()));
    row(h, "Runner", text(s.runner()));
    row(h, "Started", text(s.startedAt()));
    row(h, "Finished", text(s.finishedAt()));
    row(h, "Wall time", num(s.wallSeconds()) + " s");
    row(h, "Throughput", num(s.throughputRecordsPerSecond()) + " records/s");
    h.append("</table>\n");
  }

  private static void counts(StringBuilder h, RunSummary s) {
    h.append("<h2>Counts</h2><table id=\"counts\">");
    numberRow(h, "Records read", s.recordsRead());
    numberRow(h, "Predictions", s.predictions());
    numberRow(h, "Failures", s.failures());
    numberRow(h, "Carried forward", s.carriedForward());
    numberRow(h, "Batches", s.batches());
    RunSummary.InferenceWorkers workers = s.inferenceWorkers();
    if (workers != null) {
      row(
          h,
          "Inference workers",
          num(workers.count())
              + " (records per worker "
              + num(workers.recordsMin())
              + " to "
              + num(workers.recordsMax())
              + ", batches "
              + num(workers.batchesMin())
              + " to "
              + num(workers.batchesMax())
              + ")");
    }
    numberRow(h, "Memory back-offs", s.memoryBackoffs());
    row(h, "Nothing lost", text(s.nothingLostCheck()));
    if (s.failureGateExceeded()) {
      row(h, "Failure gate", text(s.failureGate().message()));
    }
    for (Map.Entry<String, Long> e : s.failuresByStage().entrySet()) {
      numberRow(h, "Failures in " + e.getKey(), e.getValue());
    }
    h.append("</table>\n");
  }

  private static void drift(
      StringBuilder h, RunSummary.Comparison c, List<RunSummary.Alert> alerts) {
    h.append("<h2>Compared with the previous run</h2>");
    h.append("<p>Previous summary: <code>")
        .append(esc(text(c.previousSummary())))
        .append("</code>, started ")
        .append(esc(c.previousStartedAt() == null ? "?" : c.previousStartedAt()))
        .append("</p>");
    if (!c.comparable()) {
      h.append("<p class=\"alert\" id=\"not-comparable\"><b>Not compared:</b> ")
          .append(esc(text(c.reason())))
          .append("</p>\n");
      return;
    }
    for (String note : c.notes() == null ? List.<String>of() : c.notes()) {
      h.append("<p class=\"muted\">Note: ").append(esc(note)).append("</p>");
    }
    if (!alerts.isEmpty()) {
      h.append("<ul class=\"alerts\" id=\"alerts\">");
      for (RunSummary.Alert a : alerts) {
        h.append("<li>").append(esc(text(a.message()))).append("</li>");
      }
      h.append("</ul>");
    } else {
      h.append("<p id=\"alerts\">No drift alerts.</p>");
    }
    h.append("<table id=\"drift\"><tr><th>Figure</th><th>Previous</th><th>Now</th>")
        .append("<th>Drift</th><th>Threshold</th><th>Status</th><th>Meaning</th></tr>");
    Map<String, RunSummary.Metric> metrics = c.metrics() == null ? Map.of() : c.metrics();
    for (Map.Entry<String, RunSummary.Metric> e : metrics.entrySet()) {
      RunSummary.Metric m = e.getValue();
      boolean alert = m.alert();
      h.append("<tr data-metric=\"")
          .append(esc(e.getKey()))
          .append('"')
          .append(alert ? " class=\"alert\"" : "")
          .append("><td>")
          .append(esc(e.getKey()))
          .append("</td>");
      cell(h, m.previous());
      cell(h, m.current());
      cell(h, m.value());
      cell(h, m.threshold());
      h.append("<td>")
          .append(alert ? "ALERT" : m.threshold() != null ? "ok" : "")
          .append("</td><td class=\"muted\">")
          .append(esc(meaning(e.getKey())))
          .append("</td></tr>");
    }
    h.append("</table>\n");
  }

  private static void distribution(
      StringBuilder h,
      RunSummary s,
      @Nullable RunSummary previous,
      RunSummary.@Nullable Comparison comparison) {
    RunSummary.Distribution dist = s.predictionDistribution();
    RunSummary.Distribution prevDist = previous == null ? null : previous.predictionDistribution();
    boolean compared = comparison != null && comparison.comparable();
    Map<String, RunSummary.ClassShare> classTable =
        comparison == null ? null : comparison.classDistribution();
    if (dist.classCounts() != null) {
      h.append("<h2>Class distribution</h2>");
      List<String> names = new ArrayList<>();
      List<double[]> shares = new ArrayList<>();
      h.append("<table id=\"classes\"><tr><th>Class</th>");
      if (compared && classTable != null) {
        h.append("<th>Previous</th><th>Previous share</th><th>Now</th><th>Share</th></tr>");
        for (Map.Entry<String, RunSummary.ClassShare> e : classTable.entrySet()) {
          RunSummary.ClassShare r = e.getValue();
          names.add(e.getKey());
          shares.add(new double[] {r.previousShare(), r.currentShare()});
          h.append("<tr><td>").append(esc(e.getKey())).append("</td>");
          h.append("<td class=\"n\">").append(r.previous()).append("</td>");
          h.append("<td class=\"n\">").append(pct(r.previousShare()));
          h.append("</td><td class=\"n\">").append(r.current()).append("</td>");
          h.append("<td class=\"n\">").append(pct(r.currentShare()));
          h.append("</td></tr>");
        }
        h.append("</table>");
        h.append(
            barChart(
                "class-chart",
                "Share of predictions per class: previous run (grey) and this run (blue)",
                names,
                shares,
                true));
      } else {
        h.append("<th>Predictions</th><th>Share</th></tr>");
        long total = 0;
        for (long v : dist.classCounts().values()) {
          total += v;
        }
        for (Map.Entry<String, Long> e : dist.classCounts().entrySet()) {
          double share = total == 0 ? 0 : e.getValue() / (double) total;
          names.add(e.getKey());
          shares.add(new double[] {share});
          h.append("<tr><td>").append(esc(e.getKey())).append("</td><td class=\"n\">");
          h.append(e.getValue().longValue()).append("</td><td class=\"n\">").append(pct(share));
          h.append("</td></tr>");
        }
        h.append("</table>");
        h.append(barChart("class-chart", "Share of predictions per class", names, shares, true));
      }
    }
    RunSummary.Score score = dist.score();
    if (score != null && score.histogram() != null && score.histogram().counts() != null) {
      h.append("<h2>Top scores</h2><p>Mean ")
          .append(num(orZero(score.mean())))
          .append(", std ")
          .append(num(orZero(score.std())))
          .append(", p05 ")
          .append(num(orZero(score.p05())))
          .append(", p50 ")
          .append(num(orZero(score.p50())))
          .append(", p95 ")
          .append(num(orZero(score.p95())))
          .append("</p>");
      long[] counts = score.histogram().counts();
      RunSummary.Score prevScore = prevDist == null ? null : prevDist.score();
      long[] prevCounts =
          compared && prevScore != null && prevScore.histogram() != null
              ? prevScore.histogram().counts()
              : null;
      boolean both = prevCounts != null && prevCounts.length == counts.length;
      double width = score.histogram().binWidth();
      List<String> labels = new ArrayList<>();
      List<double[]> values = new ArrayList<>();
      double total = sum(counts);
      double prevTotal = both ? sum(prevCounts) : 0;
      for (int i = 0; i < counts.length; i++) {
        labels.add(i % 4 == 0 ? String.format(Locale.ROOT, "%.2f", i * width) : "");
        double share = total == 0 ? 0 : counts[i] / total;
        values.add(
            both
                ? new double[] {prevTotal == 0 ? 0 : prevCounts[i] / prevTotal, share}
                : new double[] {share});
      }
      h.append(
          barChart(
              "score-chart",
              "Top score histogram (share of predictions per bin of "
                  + num(width)
                  + ")"
                  + (both ? ": previous run (grey) and this run (blue)" : ""),
              labels,
              values,
              true));
    }
    RunSummary.Centroid centroid = dist.embeddingCentroid();
    if (centroid != null) {
      h.append("<h2>Embeddings</h2><table id=\"embeddings\">");
      numberRow(h, "Embeddings", centroid.count());
      row(h, "Dimensions", Integer.toString(centroid.mean().length));
      row(h, "Norm mean", num(dist.embeddingNorm() == null ? 0 : dist.embeddingNorm().mean()));
      row(h, "Centroid norm (1 = all alike)", num(centroid.norm()));
      h.append("</table>\n");
    }
  }

  private static void performance(StringBuilder h, RunSummary s) {
    h.append("<h2>Batches</h2>");
    RunSummary.Latency latency = s.inferenceBatchLatencyMs();
    h.append("<p>Inference batch latency p50 ")
        .append(num(latency == null ? 0 : latency.p50()))
        .append(" ms, p95 ")
        .append(num(latency == null ? 0 : latency.p95()))
        .append(" ms, p99 ")
        .append(num(latency == null ? 0 : latency.p99()))
        .append(" ms; mean batch size ")
        .append(num(s.batchSize() == null ? 0 : s.batchSize().mean()))
        .append("</p>");
    RunSummary.LatencyHistogram hist = latency == null ? null : latency.histogram();
    if (hist != null && hist.counts() != null) {
      double width = hist.binWidthMs();
      List<String> labels = new ArrayList<>();
      List<double[]> values = new ArrayList<>();
      long[] counts = hist.counts();
      for (int i = 0; i < counts.length; i++) {
        labels.add(i % 4 == 0 ? num(i * width) : "");
        values.add(new double[] {counts[i]});
      }
      h.append(
          barChart(
              "latency-chart",
              "Batches by inference latency (ms, bins of " + num(width) + " ms)",
              labels,
              values,
              false));
    }
    Map<String, Long> sizes = s.batchSize() == null ? Map.of() : s.batchSize().histogram();
    if (!sizes.isEmpty()) {
      List<String> labels = new ArrayList<>();
      List<double[]> values = new ArrayList<>();
      for (Map.Entry<String, Long> e : sizes.entrySet()) {
        labels.add(e.getKey());
        values.add(new double[] {e.getValue()});
      }
      h.append(barChart("batch-size-chart", "Batches by size (records)", labels, values, false));
    }
  }

  private static void failures(StringBuilder h, RunSummary s) {
    h.append("<h2>Failures</h2>");
    if (s.failuresByError().isEmpty()) {
      h.append("<p id=\"failures\">No failures.</p>\n");
      return;
    }
    List<Map.Entry<String, Long>> errors = new ArrayList<>(s.failuresByError().entrySet());
    errors.sort((a, b) -> Long.compare(b.getValue(), a.getValue()));
    h.append("<table id=\"failures\"><tr><th>Stage: error</th><th>Records</th>")
        .append("<th>Examples (first by source and index)</th></tr>");
    for (Map.Entry<String, Long> e : errors.subList(0, Math.min(TOP_FAILURES, errors.size()))) {
      h.append("<tr><td>")
          .append(esc(e.getKey()))
          .append("</td><td class=\"n\">")
          .append(e.getValue().longValue())
          .append("</td><td>");
      for (RunSummary.FailureExample x : s.failureExamples().getOrDefault(e.getKey(), List.of())) {
        h.append("<div class=\"example\"><b>")
            .append(esc(text(x.source())))
            .append(':')
            .append(x.index())
            .append("</b>");
        if (x.id() != null) {
          h.append(" id <code>").append(esc(x.id())).append("</code>");
        }
        h.append("<pre class=\"error\">").append(esc(text(x.error()))).append("</pre>");
        if (x.input() != null) {
          h.append("<pre class=\"input muted\">").append(esc(x.input())).append("</pre>");
        }
        h.append("</div>");
      }
      h.append("</td></tr>");
    }
    h.append("</table>");
    if (errors.size() > TOP_FAILURES) {
      h.append("<p class=\"muted\">")
          .append(errors.size() - TOP_FAILURES)
          .append(" more errors in summary.json.</p>");
    }
    h.append('\n');
  }

  /** What each drift figure means, for the table. */
  static String meaning(String metric) {
    return DriftMetric.named(metric).map(DriftMetric::meaning).orElse("");
  }

  private static void cell(StringBuilder h, @Nullable Double v) {
    h.append("<td class=\"n\">").append(v != null ? num(v) : "").append("</td>");
  }

  private static double sum(long[] counts) {
    double total = 0;
    for (long v : counts) {
      total += v;
    }
    return total;
  }

  private static double orZero(@Nullable Double v) {
    return v == null ? 0 : v;
  }

  private static String text(@Nullable String s) {
    return s == null ? "" : s;
  }
}
