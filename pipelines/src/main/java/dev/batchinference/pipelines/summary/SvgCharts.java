package dev.batchinference.pipelines.summary;

import static dev.batchinference.pipelines.summary.Html.esc;
import static dev.batchinference.pipelines.summary.Html.num;
import static dev.batchinference.pipelines.summary.Html.pct;

import java.util.List;
import java.util.Locale;

/**
 * The run report's charts, inline SVG (the page fetches nothing and runs no script): bar charts of
 * shares or counts, one group of bars per label.
 */
final class SvgCharts {

  private static final String PREVIOUS_COLOR = "#9e9e9e";
  private static final String CURRENT_COLOR = "#1565c0";

  private SvgCharts() {}

  /**
   * An SVG bar chart: one group per label, one bar per series in it (grey, then blue when there are
   * two: previous and current).
   */
  static String barChart(
      String id, String title, List<String> labels, List<double[]> values, boolean shares) {
    int series = values.isEmpty() ? 1 : values.get(0).length;
    int chartWidth = 900;
    int chartHeight = 200;
    int left = 50;
    int top = 24;
    int bottom = 70;
    double max = 0;
    for (double[] v : values) {
      for (double x : v) {
        max = Math.max(max, x);
      }
    }
    if (max <= 0) {
      max = 1;
    }
    int groups = Math.max(1, labels.size());
    double groupWidth = (chartWidth - left - 10) / (double) groups;
    double barWidth = groupWidth * 0.8 / series;
    StringBuilder svg = new StringBuilder();
    svg.append(
            String.format(
                Locale.ROOT,
                "<svg id=\"%s\" xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\""
                    + " role=\"img\" aria-label=\"%s\">",
                esc(id),
                chartWidth,
                chartHeight + top + bottom,
                esc(title)))
        .append("<text x=\"")
        .append(left)
        .append("\" y=\"16\" font-size=\"13\">")
        .append(esc(title))
        .append("</text>");
    int axisY = top + chartHeight;
    svg.append(
        String.format(
            Locale.ROOT,
            "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" stroke=\"#333\"/>"
                + "<text x=\"%d\" y=\"%d\" font-size=\"10\" text-anchor=\"end\">%s</text>"
                + "<text x=\"%d\" y=\"%d\" font-size=\"10\" text-anchor=\"end\">0</text>",
            left,
            axisY,
            chartWidth - 10,
            axisY,
            left - 4,
            top + 8,
            esc(shares ? pct(max) : num(max)),
            left - 4,
            axisY));
    for (int g = 0; g < values.size(); g++) {
      double[] v = values.get(g);
      double x0 = left + g * groupWidth + groupWidth * 0.1;
      for (int k = 0; k < v.length; k++) {
        double height = chartHeight * v[k] / max;
        String color = v.length == 2 && k == 0 ? PREVIOUS_COLOR : CURRENT_COLOR;
        svg.append(
            String.format(
                Locale.ROOT,
                "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"%s\">"
                    + "<title>%s: %s</title></rect>",
                x0 + k * barWidth,
                axisY - height,
                Math.max(1, barWidth - 1),
                height,
                color,
                esc(labels.get(g)),
                esc(shares ? pct(v[k]) : num(v[k]))));
      }
      if (!labels.get(g).isEmpty()) {
        double cx = left + g * groupWidth + groupWidth / 2;
        svg.append(
            String.format(
                Locale.ROOT,
                "<text x=\"%.1f\" y=\"%d\" font-size=\"11\" text-anchor=\"end\""
                    + " transform=\"rotate(-35 %.1f %d)\">%s</text>",
                cx,
                axisY + 14,
                cx,
                axisY + 14,
                esc(labels.get(g))));
      }
    }
    svg.append("</svg>\n");
    return svg.toString();
  }
}
