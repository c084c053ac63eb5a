package dev.batchinference.benchmarks;

import java.awt.BasicStroke;
import java.awt.Color;
import java.awt.Font;
import java.awt.Graphics2D;
import java.awt.RenderingHints;
import java.awt.image.BufferedImage;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import javax.imageio.ImageIO;

/**
 * The results as a PNG: one panel per workload, one horizontal bar per mode, records/s on a
 * logarithmic axis (the modes span several orders of magnitude), the raw {@code session.run} rate
 * as a dashed line, each bar labelled with its rate and its ratio to raw. Drawn with Java 2D,
 * headless.
 */
final class Chart {

  private static final int WIDTH = 1500;
  private static final int LABEL = 700;
  private static final int BAR = 22;
  private static final int GAP = 6;
  private static final int TITLE = 34;
  private static final int AXIS = 30;
  private static final Color RAW_BAR = new Color(0x4C72B0);
  private static final Color PIPELINE_BAR = new Color(0xDD8452);
  private static final Color INFERENCE_BAR = new Color(0x55A868);
  private static final Color OTHER_BAR = new Color(0x8C8C8C);

  private Chart() {}

  /**
   * Redraws the chart of a saved Markdown report: {@code Chart REPORT.md OUT.png} (its table's
   * workload, mode, records, seconds and peak RSS columns; fresh-JVM rows are those whose notes say
   * so).
   */
  public static void main(String[] args) throws IOException {
    List<Row> rows = new ArrayList<>();
    for (String line : java.nio.file.Files.readAllLines(Path.of(args[0]))) {
      String[] cells = line.split("\\|", -1);
      if (cells.length < 13 || !cells[3].matches("[0-9,]+")) {
        continue;
      }
      long records = Long.parseLong(cells[3].replace(",", ""));
      double seconds = Double.parseDouble(cells[4]);
      Row row = new Row(cells[1], cells[2], records, seconds, cells[cells.length - 2]);
      if (cells[cells.length - 2].contains("fresh JVM")) {
        row.inChildProcess(Double.parseDouble(cells[10].replace(",", "")));
      }
      rows.add(row);
    }
    write(rows, Path.of(args[1]));
  }

  static void write(List<Row> rows, Path png) throws IOException {
    write(rows, png, mode -> mode.equals(Benchmark.RAW), "raw", true);
  }

  /**
   * The chart of {@code rows}: the mode for which {@code reference} holds is each panel's dashed
   * line and every bar's ratio is to it ("of {@code referenceName}"); {@code log}: a logarithmic
   * records/s axis, else linear from zero (the compare workload's modes are within one order of
   * magnitude, where a linear axis shows the ratios as they are).
   */
  static void write(
      List<Row> rows,
      Path png,
      java.util.function.Predicate<String> reference,
      String referenceName,
      boolean log)
      throws IOException {
    Map<String, List<Row>> byWorkload = new LinkedHashMap<>();
    for (Row r : rows) {
      byWorkload.computeIfAbsent(r.workload, w -> new ArrayList<>()).add(r);
    }
    int height = 20;
    for (List<Row> panel : byWorkload.values()) {
      height += TITLE + panel.size() * (BAR + GAP) + AXIS + 20;
    }
    System.setProperty("java.awt.headless", "true");
    BufferedImage image = new BufferedImage(WIDTH, height, BufferedImage.TYPE_INT_RGB);
    Graphics2D g = image.createGraphics();
    try {
      g.setRenderingHint(RenderingHints.KEY_ANTIALIASING, RenderingHints.VALUE_ANTIALIAS_ON);
      g.setRenderingHint(
          RenderingHints.KEY_TEXT_ANTIALIASING, RenderingHints.VALUE_TEXT_ANTIALIAS_ON);
      g.setColor(Color.WHITE);
      g.fillRect(0, 0, WIDTH, height);
      int y = 20;
      for (Map.Entry<String, List<Row>> e : byWorkload.entrySet()) {
        y = panel(g, e.getKey(), e.getValue(), y, reference, referenceName, log);
      }
    } finally {
      g.dispose();
    }
    ImageIO.write(image, "png", png.toFile());
  }

  private static int panel(
      Graphics2D g,
      String workload,
      List<Row> rows,
      int top,
      java.util.function.Predicate<String> reference,
      String referenceName,
      boolean log) {
    double max = rows.stream().mapToDouble(Row::rate).max().orElse(1);
    double min = rows.stream().mapToDouble(Row::rate).min().orElse(1);
    double lo = Math.floor(Math.log10(Math.max(1e-3, min)));
    double hi = Math.ceil(Math.log10(Math.max(max, 10)));
    if (hi <= lo) {
      hi = lo + 1;
    }
    double step = niceStep(max / 5);
    if (!log) {
      lo = 0;
      hi = Math.max(step, Math.ceil(max / step) * step);
    }
    int x0 = LABEL;
    int x1 = WIDTH - 30;
    g.setColor(Color.BLACK);
    g.setFont(new Font(Font.SANS_SERIF, Font.BOLD, 16));
    g.drawString(workload + (log ? "  (records/s, log scale)" : "  (records/s)"), 10, top + 20);
    int y = top + TITLE;
    g.setFont(new Font(Font.SANS_SERIF, Font.PLAIN, 12));
    double raw = Double.NaN;
    for (Row r : rows) {
      if (Double.isNaN(raw) && reference.test(r.mode)) {
        raw = r.rate();
      }
    }
    for (Row r : rows) {
      int w = (int) Math.round((scale(r.rate(), log) - lo) / (hi - lo) * (x1 - x0));
      g.setColor(colorOf(r.mode));
      g.fillRect(x0, y, Math.max(1, w), BAR);
      g.setColor(Color.BLACK);
      String mode = r.mode.length() > 105 ? r.mode.substring(0, 104) + "…" : r.mode;
      g.drawString(mode, 10, y + BAR - 7);
      String value =
          String.format(Locale.ROOT, "%,.0f/s", r.rate())
              + (Double.isNaN(raw)
                  ? ""
                  : String.format(
                      Locale.ROOT, "  (%s of %s)", ratio(r.rate() / raw), referenceName))
              + (r.child ? String.format(Locale.ROOT, "  peak RSS %.0f MiB", r.peakRssMiB) : "");
      int tx = x0 + Math.max(1, w) + 6;
      if (tx + g.getFontMetrics().stringWidth(value) > x1) {
        tx = x0 + 6;
        g.setColor(Color.WHITE);
      }
      g.drawString(value, tx, y + BAR - 7);
      y += BAR + GAP;
    }
    g.setColor(Color.DARK_GRAY);
    g.drawLine(x0, y, x1, y);
    if (log) {
      for (int p = (int) lo; p <= hi; p++) {
        int x = x0 + (int) Math.round((p - lo) / (hi - lo) * (x1 - x0));
        g.drawLine(x, y, x, y + 5);
        g.drawString(tick(p), x - 12, y + 18);
      }
    } else {
      for (double v = 0; v <= hi + step / 2; v += step) {
        int x = x0 + (int) Math.round(v / hi * (x1 - x0));
        g.drawLine(x, y, x, y + 5);
        g.drawString(String.format(Locale.ROOT, "%,.0f", v), x - 12, y + 18);
      }
    }
    if (!Double.isNaN(raw)) {
      int x = x0 + (int) Math.round((scale(raw, log) - lo) / (hi - lo) * (x1 - x0));
      g.setColor(RAW_BAR);
      g.setStroke(
          new BasicStroke(
              1.5f, BasicStroke.CAP_BUTT, BasicStroke.JOIN_MITER, 10, new float[] {5, 4}, 0));
      g.drawLine(x, top + TITLE - 4, x, y);
      g.setStroke(new BasicStroke(1));
    }
    return y + AXIS + 20;
  }

  private static double scale(double rate, boolean log) {
    return log ? Math.log10(Math.max(rate, 1e-3)) : rate;
  }

  /** 1, 2 or 5 times a power of ten, at least {@code rough}. */
  private static double niceStep(double rough) {
    double p = Math.pow(10, Math.floor(Math.log10(Math.max(rough, 1e-9))));
    for (double m : new double[] {1, 2, 5, 10}) {
      if (m * p >= rough) {
        return m * p;
      }
    }
    return 10 * p;
  }

  private static Color colorOf(String mode) {
    if (mode.startsWith("a. ") || mode.startsWith("f. ") || mode.startsWith("g. ")) {
      return RAW_BAR;
    }
    if (mode.contains(". the job")) {
      return PIPELINE_BAR;
    }
    if (mode.startsWith("raw")) {
      return RAW_BAR;
    }
    if (mode.startsWith("inference step only")) {
      return INFERENCE_BAR;
    }
    if (mode.startsWith("pipeline") || mode.startsWith("job")) {
      return PIPELINE_BAR;
    }
    return OTHER_BAR;
  }

  private static String ratio(double r) {
    return r >= 0.01
        ? String.format(Locale.ROOT, "%.2f", r)
        : String.format(Locale.ROOT, "1/%,.0f", 1 / r);
  }

  private static String tick(int power) {
    double v = Math.pow(10, power);
    if (v >= 1e6) {
      return String.format(Locale.ROOT, "%.0fM", v / 1e6);
    }
    if (v >= 1e3) {
      return String.format(Locale.ROOT, "%.0fk", v / 1e3);
    }
    return String.format(Locale.ROOT, "%s", v >= 1 ? String.valueOf((long) v) : String.valueOf(v));
  }
}
