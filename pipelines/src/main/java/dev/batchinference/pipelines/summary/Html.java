package dev.batchinference.pipelines.summary;

import java.util.Locale;

/**
 * The HTML pieces of the run report: escaping (every text from a summary is data, never markup),
 * table rows and number formats. No markup of the page itself: that is {@link RunReport}'s.
 */
final class Html {

  private Html() {}

  /** A table row: a heading cell and an escaped text cell. */
  static void row(StringBuilder h, String name, String value) {
    h.append("<tr><th>")
        .append(esc(name))
        .append("</th><td>")
        .append(esc(value))
        .append("</td></tr>");
  }

  /** A table row: a heading cell and a right-aligned count. */
  static void numberRow(StringBuilder h, String name, long value) {
    h.append("<tr><th>")
        .append(esc(name))
        .append("</th><td class=\"n\">")
        .append(String.format(Locale.ROOT, "%,d", value))
        .append("</td></tr>");
  }

  /** A figure for a person: whole numbers with thousands separators, others to 4 digits. */
  static String num(double v) {
    if (Double.isNaN(v)) {
      return "n/a";
    }
    if (v == Math.rint(v) && Math.abs(v) < 1e15) {
      return String.format(Locale.ROOT, "%,d", (long) v);
    }
    return RunComparison.format(v);
  }

  /** A share as a percentage to one decimal. */
  static String pct(double share) {
    return String.format(Locale.ROOT, "%.1f%%", share * 100);
  }

  /** Escapes text for HTML element content and quoted attribute values. */
  static String esc(String s) {
    StringBuilder out = new StringBuilder(s.length() + 16);
    for (int i = 0; i < s.length(); i++) {
      char c = s.charAt(i);
      switch (c) {
        case '&':
          out.append("&amp;");
          break;
        case '<':
          out.append("&lt;");
          break;
        case '>':
          out.append("&gt;");
          break;
        case '"':
          out.append("&quot;");
          break;
        case '\'':
          out.append("&#39;");
          break;
        default:
          if (c < 0x20 && c != '\n' && c != '\t' && c != '\r') {
            out.append("&#xFFFD;");
          } else {
            out.append(c);
          }
      }
    }
    return out.toString();
  }
}
