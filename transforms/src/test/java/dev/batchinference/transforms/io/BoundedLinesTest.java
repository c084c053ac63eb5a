package dev.batchinference.transforms.io;

import static org.hamcrest.MatcherAssert.assertThat;
import static org.hamcrest.Matchers.contains;
import static org.hamcrest.Matchers.empty;

import java.io.ByteArrayInputStream;
import java.io.FilterInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import org.junit.Test;
import org.junit.runner.RunWith;
import org.junit.runners.JUnit4;

@RunWith(JUnit4.class)
public class BoundedLinesTest {

  /** Lines as "kept/length:text". */
  private static List<String> split(InputStream in, long maxKept) throws IOException {
    BoundedLines lines = new BoundedLines(in, maxKept);
    List<String> out = new ArrayList<>();
    while (lines.next()) {
      String text = new String(lines.bytes(), 0, lines.kept(), StandardCharsets.UTF_8);
      out.add(lines.kept() + "/" + lines.length() + ":" + (text.length() > 12 ? "long" : text));
    }
    return out;
  }

  private static InputStream bytes(String s) {
    return new ByteArrayInputStream(s.getBytes(StandardCharsets.UTF_8));
  }

  @Test
  public void splitsOnNewlinesKeepingBlankLinesAndALastLineWithoutNewline() throws IOException {
    assertThat(split(bytes("a\n\nbc\r\nd"), 100), contains("1/1:a", "0/0:", "3/3:bc\r", "1/1:d"));
    assertThat(split(bytes("a\n"), 100), contains("1/1:a"));
    assertThat(split(bytes(""), 100), empty());
  }

  @Test
  public void keepsAtMostTheLimitButCountsTheWholeLineAcrossChunks() throws IOException {
    String huge = "x".repeat(200_000);
    assertThat(
        split(bytes("ab\n" + huge + "\ncd"), 70_000),
        contains("2/2:ab", "70000/200000:long", "2/2:cd"));
    assertThat(split(bytes("abcdef\ngh\n"), 3), contains("3/6:abc", "2/2:gh"));
  }

  @Test
  public void readsStreamsThatReturnOneByteAtATime() throws IOException {
    InputStream trickle =
        new FilterInputStream(bytes("one\ntwo\n\nthree")) {
          @Override
          public int read(byte[] b, int off, int len) throws IOException {
            return super.read(b, off, Math.min(len, 1));
          }
        };
    assertThat(split(trickle, 100), contains("3/3:one", "3/3:two", "0/0:", "5/5:three"));
  }
}
