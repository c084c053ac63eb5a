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
import java.util.Iterator;
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
  static String render(JsonNode summary, @Nullable JsonNode previous) {
    StringBuilder h = new StringBuilder(16_384);
    String job = summary.path("job").asText("");
    h.append("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">")
        .append("<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none';")
        .append(" style-src 'unsafe-inline'; img-src data:\">")
        .append("<title>Run report: ")
        .append(esc(job))
        .append("</title><style>")
        .append(CSS.get())
        .append("</style></head><body>\n");
    JsonNode alerts = summary.path("alerts");
    JsonNode comparison = summary.path("comparison");
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
    if (comparison.isObject()) {
      drift(h, comparison, alerts);
    }
    distribution(h, summary, previous, comparison);
    performance(h, summary);
    failures(h, summary);
    h.append("</body></html>\n");
    return h.toString();
  }

  private static void runTable(StringBuilder h, JsonNode s) {
    h.append("<h2>Run</h2><table id=\"run\">");
    row(h, "Task", s.path("task").asText(""));
    row(h, "Model", s.path("model").path("name").asText(""));
    row(h, "Model SHA-256", s.path("model").path("sha256").asText(""));
    row(h, "Input", s.path("input").asText(""));
    row(h, "Output", s.path("output").asText(""));
    row(h, "Runner", s.path("runner").asText(""));
    row(h, "Started", s.path("started_at").asText(""));
    row(h, "Finished", s.path("finished_at").asText(""));
    row(h, "Wall time", num(s.path("wall_seconds").asDouble()) + " s");
    row(h, "Throughput", num(s.path("throughput_records_per_second").asDouble()) + " records/s");
    h.append("</table>\n");
  }

  private static void counts(StringBuilder h, JsonNode s) {
    h.append("<h2>Counts</h2><table id=\"counts\">");
    numberRow(h, "Records read", s.path("records_read").asLong());
    numberRow(h, "Predictions", s.path("predictions").asLong());
    numberRow(h, "Failures", s.path("failures").asLong());
    numberRow(h, "Carried forward", s.path("carried_forward").asLong());
    numberRow(h, "Batches", s.path("batches").asLong());
    numberRow(h, "Memory back-offs", s.path("memory_backoffs").asLong());
    row(h, "Nothing lost", s.path("nothing_lost_check").asText(""));
    if (FailureGate.exceeded(s)) {
      row(h, "Failure gate", s.path("failure_gate").path("message").asText(""));
    }
    for (Iterator<Map.Entry<String, JsonNode>> it = s.path("failures_by_stage").fields();
        it.hasNext(); ) {
      Map.Entry<String, JsonNode> e = it.next();
      numberRow(h, "Failures in " + e.getKey(), e.getValue().asLong());
    }
    h.append("</table>\n");
  }

  private static void drift(StringBuilder h, JsonNode c, JsonNode alerts) {
    h.append("<h2>Compared with the previous run</h2>");
    h.append("<p>Previous summary: <code>")
        .append(esc(c.path("previous_summary").asText("")))
        .append("</code>, started ")
        .append(esc(c.path("previous_started_at").asText("?")))
        .append("</p>");
    if (!c.path("comparable").asBoolean()) {
      h.append("<p class=\"alert\" id=\"not-comparable\"><b>Not compared:</b> ")
          .append(esc(c.path("reason").asText("")))
          .append("</p>\n");
      return;
    }
    for (JsonNode note : c.path("notes")) {
      h.append("<p class=\"muted\">Note: ").append(esc(note.asText())).append("</p>");
    }
    if (alerts.size() > 0) {
      h.append("<ul class=\"alerts\" id=\"alerts\">");
      for (JsonNode a : alerts) {
        h.append("<li>").append(esc(a.path("message").asText())).append("</li>");
      }
      h.append("</ul>");
    } else {
      h.append("<p id=\"alerts\">No drift alerts.</p>");
    }
    h.append("<table id=\"drift\"><tr><th>Figure</th><th>Previous</th><th>Now</th>")
        .append("<th>Drift</th><th>Threshold</th><th>Status</th><th>Meaning</th></tr>");
    for (Iterator<Map.Entry<String, JsonNode>> it = c.path("metrics").fields(); it.hasNext(); ) {
      Map.Entry<String, JsonNode> e = it.next();
      JsonNode m = e.getValue();
      boolean alert = m.path("alert").asBoolean();
      h.append("<tr data-metric=\"")
          .append(esc(e.getKey()))
          .append('"')
          .append(alert ? " class=\"alert\"" : "")
          .append("><td>")
          .append(esc(e.getKey()))
          .append("</td>");
      cell(h, m.path("previous"));
      cell(h, m.path("current"));
      cell(h, m.path("value"));
      cell(h, m.path("threshold"));
      h.append("<td>")
          .append(alert ? "ALERT" : m.path("threshold").isNumber() ? "ok" : "")
          .append("</td><td class=\"muted\">")
          .append(esc(meaning(e.getKey())))
          .append("</td></tr>");
    }
    h.append("</table>\n");
  }

  private static void distribution(
      StringBuilder h, JsonNode s, @Nullable JsonNode previous, JsonNode comparison) {
    JsonNode dist = s.path("prediction_distribution");
    JsonNode prevDist = previous == null ? null : previous.path("prediction_distribution");
    boolean compared = comparison.path("comparable").asBoolean(false);
    JsonNode classTable = comparison.path("class_distribution");
    if (dist.path("class_counts").isObject()) {
      h.append("<h2>Class distribution</h2>");
      List<String> names = new ArrayList<>();
      List<double[]> shares = new ArrayList<>();
      h.append("<table id=\"classes\"><tr><th>Class</th>");
      if (compared && classTable.isObject()) {
        h.append("<th>Previous</th><th>Previous share</th><th>Now</th><th>Share</th></tr>");
        for (Iterator<Map.Entry<String, JsonNode>> it = classTable.fields(); it.hasNext(); ) {
          Map.Entry<String, JsonNode> e = it.next();
          JsonNode r = e.getValue();
          names.add(e.getKey());
          shares.add(
              new double[] {
                r.path("previous_share").asDouble(), r.path("current_share").asDouble()
              });
          h.append("<tr><td>").append(esc(e.getKey())).append("</td>");
          h.append("<td class=\"n\">").append(r.path("previous").asLong()).append("</td>");
          h.append("<td class=\"n\">").append(pct(r.path("previous_share").asDouble()));
          h.append("</td><td class=\"n\">").append(r.path("current").asLong()).append("</td>");
          h.append("<td class=\"n\">").append(pct(r.path("current_share").asDouble()));
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
        for (JsonNode v : dist.path("class_counts")) {
          total += v.asLong();
        }
        for (Iterator<Map.Entry<String, JsonNode>> it = dist.path("class_counts").fields();
            it.hasNext(); ) {
          Map.Entry<String, JsonNode> e = it.next();
          double share = total == 0 ? 0 : e.getValue().asLong() / (double) total;
          names.add(e.getKey());
          shares.add(new double[] {share});
          h.append("<tr><td>").append(esc(e.getKey())).append("</td><td class=\"n\">");
          h.append(e.getValue().asLong()).append("</td><td class=\"n\">").append(pct(share));
          h.append("</td></tr>");
        }
        h.append("</table>");
        h.append(barChart("class-chart", "Share of predictions per class", names, shares, true));
      }
    }
    JsonNode score = dist.path("score");
    if (score.path("histogram").path("counts").isArray()) {
      h.append("<h2>Top scores</h2><p>Mean ")
          .append(num(score.path("mean").asDouble()))
          .append(", std ")
          .append(num(score.path("std").asDouble()))
          .append(", p05 ")
          .append(num(score.path("p05").asDouble()))
          .append(", p50 ")
          .append(num(score.path("p50").asDouble()))
          .append(", p95 ")
          .append(num(score.path("p95").asDouble()))
          .append("</p>");
      JsonNode counts = score.path("histogram").path("counts");
      JsonNode prevCounts =
          compared && prevDist != null
              ? prevDist.path("score").path("histogram").path("counts")
              : null;
      boolean both = prevCounts != null && prevCounts.size() == counts.size();
      double width = score.path("histogram").path("bin_width").asDouble(1.0 / counts.size());
      List<String> labels = new ArrayList<>();
      List<double[]> values = new ArrayList<>();
      double total = sum(counts);
      double prevTotal = both ? sum(prevCounts) : 0;
      for (int i = 0; i < counts.size(); i++) {
        labels.add(i % 4 == 0 ? String.format(Locale.ROOT, "%.2f", i * width) : "");
        double share = total == 0 ? 0 : counts.get(i).asDouble() / total;
        values.add(
            both
                ? new double[] {
                  prevTotal == 0 ? 0 : prevCounts.get(i).asDouble() / prevTotal, share
                }
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
    JsonNode centroid = dist.path("embedding_centroid");
    if (centroid.isObject()) {
      h.append("<h2>Embeddings</h2><table id=\"embeddings\">");
      numberRow(h, "Embeddings", centroid.path("count").asLong());
      row(h, "Dimensions", Integer.toString(centroid.path("mean").size()));
      row(h, "Norm mean", num(dist.path("embedding_norm").path("mean").asDouble()));
      row(h, "Centroid norm (1 = all alike)", num(centroid.path("norm").asDouble()));
      h.append("</table>\n");
    }
  }

  private static void performance(StringBuilder h, JsonNode s) {
    h.append("<h2>Batches</h2>");
    JsonNode latency = s.path("inference_batch_latency_ms");
    h.append("<p>Inference batch latency p50 ")
        .append(num(latency.path("p50").asDouble()))
        .append(" ms, p95 ")
        .append(num(latency.path("p95").asDouble()))
        .append(" ms, p99 ")
        .append(num(latency.path("p99").asDouble()))
        .append(" ms; mean batch size ")
        .append(num(s.path("batch_size").path("mean").asDouble()))
        .append("</p>");
    JsonNode hist = latency.path("histogram");
    if (hist.path("counts").isArray()) {
      double width = hist.path("bin_width_ms").asDouble();
      List<String> labels = new ArrayList<>();
      List<double[]> values = new ArrayList<>();
      JsonNode counts = hist.path("counts");
      for (int i = 0; i < counts.size(); i++) {
        labels.add(i % 4 == 0 ? num(i * width) : "");
        values.add(new double[] {counts.get(i).asDouble()});
      }
      h.append(
          barChart(
              "latency-chart",
              "Batches by inference latency (ms, bins of " + num(width) + " ms)",
              labels,
              values,
              false));
    }
    JsonNode sizes = s.path("batch_size").path("histogram");
    if (sizes.isObject() && sizes.size() > 0) {
      List<String> labels = new ArrayList<>();
      List<double[]> values = new ArrayList<>();
      for (Iterator<Map.Entry<String, JsonNode>> it = sizes.fields(); it.hasNext(); ) {
        Map.Entry<String, JsonNode> e = it.next();
        labels.add(e.getKey());
        values.add(new double[] {e.getValue().asDouble()});
      }
      h.append(barChart("batch-size-chart", "Batches by size (records)", labels, values, false));
    }
  }

  private static void failures(StringBuilder h, JsonNode s) {
    JsonNode byError = s.path("failures_by_error");
    h.append("<h2>Failures</h2>");
    if (byError.size() == 0) {
      h.append("<p id=\"failures\">No failures.</p>\n");
      return;
    }
    List<Map.Entry<String, JsonNode>> errors = new ArrayList<>();
    byError.fields().forEachRemaining(errors::add);
    errors.sort((a, b) -> Long.compare(b.getValue().asLong(), a.getValue().asLong()));
    h.append("<table id=\"failures\"><tr><th>Stage: error</th><th>Records</th>")
        .append("<th>Examples (first by source and index)</th></tr>");
    for (Map.Entry<String, JsonNode> e : errors.subList(0, Math.min(TOP_FAILURES, errors.size()))) {
      h.append("<tr><td>")
          .append(esc(e.getKey()))
          .append("</td><td class=\"n\">")
          .append(e.getValue().asLong())
          .append("</td><td>");
      for (JsonNode x : s.path("failure_examples").path(e.getKey())) {
        h.append("<div class=\"example\"><b>")
            .append(esc(x.path("source").asText("")))
            .append(':')
            .append(x.path("index").asLong())
            .append("</b>");
        if (x.path("id").isTextual()) {
          h.append(" id <code>").append(esc(x.path("id").asText())).append("</code>");
        }
        h.append("<pre class=\"error\">").append(esc(x.path("error").asText(""))).append("</pre>");
        if (x.path("input").isTextual()) {
          h.append("<pre class=\"input muted\">")
              .append(esc(x.path("input").asText()))
              .append("</pre>");
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

  private static void cell(StringBuilder h, JsonNode v) {
    h.append("<td class=\"n\">").append(v.isNumber() ? num(v.asDouble()) : "").append("</td>");
  }

  private static double sum(JsonNode array) {
    double total = 0;
    for (JsonNode v : array) {
      total += v.asDouble();
    }
    return total;
  }
}
