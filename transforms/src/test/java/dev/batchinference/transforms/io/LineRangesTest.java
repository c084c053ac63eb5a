package dev.batchinference.transforms.io;

import static org.hamcrest.MatcherAssert.assertThat;
import static org.hamcrest.Matchers.equalTo;
import static org.hamcrest.Matchers.is;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.TreeSet;
import org.junit.Test;
import org.junit.runner.RunWith;
import org.junit.runners.JUnit4;

/**
 * Tests of {@link LineRanges}: over all the ranges of a file, cut anywhere, every line is read
 * exactly once, in order, by the range it starts in, and the counts of the ranges before a range
 * give the index of its first line.
 */
@RunWith(JUnit4.class)
public class LineRangesTest {

  private static byte[] utf8(String s) {
    return s.getBytes(StandardCharsets.UTF_8);
  }

  /** The lines of the whole file, as the reader of a whole file splits them. */
  private static List<String> wholeLines(byte[] file) throws IOException {
    return lines(new ByteArrayInputStream(file));
  }

  private static List<String> lines(InputStream in) throws IOException {
    BoundedLines lines = new BoundedLines(in, Long.MAX_VALUE);
    List<String> out = new ArrayList<>();
    while (lines.next()) {
      out.add(new String(lines.bytes(), 0, lines.kept(), StandardCharsets.UTF_8));
    }
    return out;
  }

  private static InputStream range(byte[] file, long start, long end) throws IOException {
    int from = (int) Math.max(0, start - 1);
    return LineRanges.owned(new ByteArrayInputStream(file, from, file.length - from), start, end);
  }

  /**
   * Reads {@code file} cut at {@code cuts}, checking each range's count against what it read and
   * its first index against the counts before it; returns the lines of all ranges in order.
   */
  private static List<String> readCut(byte[] file, TreeSet<Long> cuts) throws IOException {
    List<Long> bounds = new ArrayList<>();
    bounds.add(0L);
    for (long c : cuts) {
      if (c > 0 && c < file.length) {
        bounds.add(c);
      }
    }
    bounds.add((long) file.length);
    List<String> all = new ArrayList<>();
    long linesBefore = 0;
    for (int i = 0; i + 1 < bounds.size(); i++) {
      long start = bounds.get(i);
      long end = bounds.get(i + 1);
      List<String> read = lines(range(file, start, end));
      LineRanges.Counts counts = LineRanges.count(range(file, start, end), start == 0);
      assertThat(
          "lines counted in [" + start + ", " + end + ")",
          counts.lines,
          equalTo((long) read.size()));
      assertThat(
          "JSON Lines count of [" + start + ", " + end + ")",
          LineRanges.countLines(range(file, start, end)).lines,
          equalTo((long) read.size()));
      assertThat(
          "first index of [" + start + ", " + end + ")", linesBefore, equalTo((long) all.size()));
      linesBefore += counts.lines;
      all.addAll(read);
    }
    return all;
  }

  /** Every way of cutting {@code file} in two and in three. */
  private static void assertEveryCutReadsEveryLineOnce(byte[] file) throws IOException {
    List<String> expected = wholeLines(file);
    for (long a = 0; a <= file.length; a++) {
      for (long b = a; b <= file.length; b++) {
        TreeSet<Long> cuts = new TreeSet<>(List.of(a, b));
        assertThat("cut at " + cuts, readCut(file, cuts), equalTo(expected));
      }
    }
  }

  @Test
  public void recordsOnRangeBoundaries() throws Exception {
    assertEveryCutReadsEveryLineOnce(utf8("{\"a\":1}\n{\"b\":22}\n{\"c\":333}\n"));
  }

  @Test
  public void crlfLineEnds() throws Exception {
    byte[] file = utf8("{\"a\":1}\r\n{\"b\":2}\r\n\r\n{\"c\":3}\r\n");
    assertEveryCutReadsEveryLineOnce(file);
    assertThat(readCut(file, new TreeSet<>(List.of(8L, 9L))).get(1), equalTo("{\"b\":2}\r"));
  }

  @Test
  public void blankLinesKeepTheirPlace() throws Exception {
    byte[] file = utf8("\n\n{\"a\":1}\n   \n\n{\"b\":2}\n\n");
    assertEveryCutReadsEveryLineOnce(file);
    assertThat(wholeLines(file).size(), equalTo(7));
  }

  @Test
  public void aRecordLongerThanARange() throws Exception {
    String longLine = "{\"text\":\"" + "x".repeat(200) + "\"}";
    byte[] file = utf8("{\"a\":1}\n" + longLine + "\n{\"b\":2}\n");
    TreeSet<Long> cuts = new TreeSet<>();
    for (long c = 10; c < file.length; c += 10) {
      cuts.add(c);
    }
    assertThat(readCut(file, cuts), equalTo(List.of("{\"a\":1}", longLine, "{\"b\":2}")));
    // The ranges inside the long line own no line.
    assertThat(lines(range(file, 20, 30)).isEmpty(), is(true));
    assertThat(LineRanges.count(range(file, 20, 30), false).lines, equalTo(0L));
  }

  @Test
  public void lastLineWithoutNewline() throws Exception {
    byte[] file = utf8("{\"a\":1}\n{\"b\":2}");
    assertEveryCutReadsEveryLineOnce(file);
    assertThat(wholeLines(file).size(), equalTo(2));
  }

  @Test
  public void multiByteCharactersStraddlingACut() throws Exception {
    byte[] file = utf8("{\"t\":\"é✓\"}\n{\"t\":\"日本語\"}\n{\"t\":\"\uD83D\uDE00\"}\n");
    assertEveryCutReadsEveryLineOnce(file);
    // Cut inside the three bytes of ✓: the line is still read whole by the range it starts in.
    int check = new String(file, StandardCharsets.UTF_8).indexOf('✓');
    long inside = utf8(new String(file, StandardCharsets.UTF_8).substring(0, check)).length + 1;
    assertThat(readCut(file, new TreeSet<>(List.of(inside))).get(0), equalTo("{\"t\":\"é✓\"}"));
  }

  @Test
  public void eachRecordReadExactlyOnceForManyRandomCuts() throws Exception {
    Random random = new Random(20261129L);
    String[] pieces = {"é", "✓", "日本", "\uD83D\uDE00", "a", "bc", ",", "\"", " "};
    for (int trial = 0; trial < 300; trial++) {
      ByteArrayOutputStream out = new ByteArrayOutputStream();
      int lineCount = random.nextInt(40);
      for (int l = 0; l < lineCount; l++) {
        int kind = random.nextInt(10);
        if (kind == 0) {
          out.write('\n');
          continue;
        }
        StringBuilder line = new StringBuilder("{\"n\":" + l + ",\"t\":\"");
        int length = kind == 1 ? 100 + random.nextInt(200) : random.nextInt(12);
        for (int c = 0; c < length; c++) {
          line.append(pieces[random.nextInt(pieces.length)]);
        }
        line.append("\"}");
        out.write(utf8(line.toString()));
        if (l + 1 < lineCount || random.nextBoolean()) {
          out.write(utf8(random.nextInt(4) == 0 ? "\r\n" : "\n"));
        }
      }
      byte[] file = out.toByteArray();
      TreeSet<Long> cuts = new TreeSet<>();
      int cutCount = random.nextInt(20);
      for (int c = 0; c < cutCount && file.length > 0; c++) {
        cuts.add((long) random.nextInt(file.length + 1));
      }
      assertThat(
          "trial " + trial + " cut at " + cuts, readCut(file, cuts), equalTo(wholeLines(file)));
    }
  }

  private static LineRanges.Counts csv(String file) throws IOException {
    byte[] bytes = utf8(file);
    return LineRanges.count(range(bytes, 0, bytes.length), true);
  }

  @Test
  public void csvRowsAreLinesWithQuotedCommasAndQuotes() throws Exception {
    LineRanges.Counts counts = csv("id,text\r\n1,\"a, b\"\r\n\r\n2,\"say \"\"hi\"\"\"\r\n3,x\"y\n");
    assertThat(counts.csvRowsAreLines, is(true));
    assertThat(counts.lines, equalTo(5L));
    assertThat("the header and three rows", counts.nonEmptyLines, equalTo(4L));
    assertThat(csv("\uFEFF\"id\",\"text\"\n1,a\n").csvRowsAreLines, is(true));
  }

  @Test
  public void csvWithAQuotedNewlineIsNotCutByLines() throws Exception {
    assertThat(csv("id,text\n1,\"two\nlines\"\n2,b\n").csvRowsAreLines, is(false));
    // Counted from the middle, the second line of the quoted value looks like the start of a
    // quote that never closes.
    byte[] file = utf8("id,text\n1,\"two\nlines\",\"x\ny\"\n");
    assertThat(LineRanges.count(range(file, 12, file.length), false).csvRowsAreLines, is(false));
  }

  @Test
  public void csvThatRfc4180ReadsOtherwiseIsNotCutByLines() throws Exception {
    assertThat("a lone carriage return", csv("id,text\r1,a\r").csvRowsAreLines, is(false));
    assertThat("text after a closing quote", csv("id,text\n1,\"a\"b\n").csvRowsAreLines, is(false));
    assertThat("a blank first line", csv("\nid,text\n1,a\n").csvRowsAreLines, is(false));
    assertThat("a quote open at the end", csv("id,text\n1,\"a").csvRowsAreLines, is(false));
  }
}
