package dev.batchinference.transforms.io;

import java.io.BufferedInputStream;
import java.io.IOException;
import java.io.InputStream;

/**
 * Byte ranges of a line-oriented file (JSON Lines, CSV without newlines inside quotes), read on
 * their own: a range {@code [start, end)} owns the lines that <em>start</em> inside it, the rule of
 * Beam's {@code TextIO}. Its reader skips the partial line it begins in (unless {@code start} is 0)
 * and reads past {@code end} to finish its last line, so that over all the ranges of a file every
 * line is read exactly once, whatever the cuts.
 */
final class LineRanges {

  private LineRanges() {}

  /**
   * The bytes of the lines that start in {@code [start, end)}, from {@code in}, which must be
   * positioned at byte {@code max(0, start - 1)} of the file: the byte before the range tells
   * whether a line starts at {@code start}.
   */
  static InputStream owned(InputStream in, long start, long end) throws IOException {
    return new OwnedLines(in, start, end);
  }

  /** What the lines of one range hold, counted without keeping them. */
  static final class Counts {
    /** Lines that start in the range, blank ones included (the JSON Lines index counts them). */
    final long lines;

    /** Lines that start in the range and are not empty (a CSV row each, the header included). */
    final long nonEmptyLines;

    /**
     * Whether every line of the range is a whole CSV row as RFC 4180 reads it: no line ends inside
     * quotes, no carriage return but before a line feed, nothing between a closing quote and the
     * next comma, and (for the range at the start of the file) a first line that is a header.
     */
    final boolean csvRowsAreLines;

    Counts(long lines, long nonEmptyLines, boolean csvRowsAreLines) {
      this.lines = lines;
      this.nonEmptyLines = nonEmptyLines;
      this.csvRowsAreLines = csvRowsAreLines;
    }
  }

  private static final int FIELD_START = 0;
  private static final int UNQUOTED = 1;
  private static final int QUOTED = 2;
  private static final int AFTER_QUOTE = 3;

  /**
   * Counts the lines of {@code owned} (what {@link #owned} returns); {@code fileStart} when the
   * range begins at byte 0, whose first line is the CSV header and may begin with a byte order
   * mark.
   */
  static Counts count(InputStream owned, boolean fileStart) throws IOException {
    byte[] chunk = new byte[1 << 16];
    long lines = 0;
    long nonEmpty = 0;
    boolean rowsAreLines = true;
    // The line being scanned: whether it has any byte, its length without a byte order mark or a
    // final carriage return, whether a carriage return is pending, and its quote state.
    boolean any = false;
    long length = 0;
    boolean carriageReturn = false;
    int state = FIELD_START;
    boolean first = fileStart;
    int bom = fileStart ? 0 : BOM.length;
    int n;
    while ((n = owned.read(chunk, 0, chunk.length)) >= 0) {
      for (int i = 0; i < n; i++) {
        byte b = chunk[i];
        any = true;
        if (bom < BOM.length) {
          // A byte order mark before the header is not part of it (CSV reading drops it).
          if ((b & 0xff) == BOM[bom]) {
            bom++;
            continue;
          }
          bom = BOM.length;
        }
        if (b == '\n') {
          lines++;
          if (length > 0) {
            nonEmpty++;
          } else if (first) {
            // A header that is not on the first line would shift every row index.
            rowsAreLines = false;
          }
          if (state == QUOTED) {
            rowsAreLines = false;
          }
          first = false;
          any = false;
          length = 0;
          carriageReturn = false;
          state = FIELD_START;
          continue;
        }
        if (carriageReturn) {
          // A carriage return not before a line feed ends a CSV row, but not a line.
          rowsAreLines = false;
          length++;
        }
        carriageReturn = b == '\r';
        if (!carriageReturn) {
          length++;
          state = next(state, b);
          if (state < 0) {
            rowsAreLines = false;
            state = UNQUOTED;
          }
        }
      }
    }
    if (any) {
      // The last line, without a line feed.
      lines++;
      if (length > 0) {
        nonEmpty++;
      }
      if (carriageReturn || state == QUOTED || (first && length == 0)) {
        rowsAreLines = false;
      }
    } else if (first) {
      rowsAreLines = false;
    }
    return new Counts(lines, nonEmpty, rowsAreLines);
  }

  /**
   * Counts only the lines of {@code owned} (what {@link #owned} returns), blank ones included: what
   * a JSON Lines range needs, a scan for line feeds and nothing else, several times faster than
   * {@link #count}'s CSV checks. The non-empty count it returns is the line count.
   */
  static Counts countLines(InputStream owned) throws IOException {
    byte[] chunk = new byte[1 << 16];
    long lines = 0;
    byte last = '\n';
    int n;
    while ((n = owned.read(chunk, 0, chunk.length)) >= 0) {
      for (int i = 0; i < n; i++) {
        if (chunk[i] == '\n') {
          lines++;
        }
      }
      if (n > 0) {
        last = chunk[n - 1];
      }
    }
    if (last != '\n') {
      lines++; // the last line, without a line feed
    }
    return new Counts(lines, lines, true);
  }

  private static final int[] BOM = {0xEF, 0xBB, 0xBF};

  /** The quote state after {@code b}, or -1 where RFC 4180 reading would fail. */
  private static int next(int state, byte b) {
    switch (state) {
      case FIELD_START:
        return b == '"' ? QUOTED : b == ',' ? FIELD_START : UNQUOTED;
      case UNQUOTED:
        return b == ',' ? FIELD_START : UNQUOTED;
      case QUOTED:
        return b == '"' ? AFTER_QUOTE : QUOTED;
      default:
        return b == '"' ? QUOTED : b == ',' ? FIELD_START : -1;
    }
  }

  /** The lines of a range: skips the partial first line, stops after the line that spans end. */
  private static final class OwnedLines extends InputStream {
    private final InputStream in;
    private final long end;
    private long position;
    private boolean atLineStart;

    OwnedLines(InputStream in, long start, long end) throws IOException {
      this.in = in instanceof BufferedInputStream ? in : new BufferedInputStream(in, 1 << 16);
      this.end = end;
      if (start == 0) {
        position = 0;
        atLineStart = true;
      } else {
        // Skip to just after the first line feed at or after start - 1: a line feed at start - 1
        // means a line starts at start.
        position = start - 1;
        int b;
        do {
          b = this.in.read();
          position++;
        } while (b >= 0 && b != '\n');
        atLineStart = b == '\n';
      }
    }

    private boolean done() {
      return !atLineStart || position >= end;
    }

    @Override
    public int read() throws IOException {
      byte[] one = new byte[1];
      int n = read(one, 0, 1);
      return n < 0 ? -1 : one[0] & 0xff;
    }

    @Override
    public int read(byte[] buffer, int offset, int length) throws IOException {
      if (length == 0) {
        return 0;
      }
      if (atLineStart && position >= end) {
        return -1;
      }
      if (!atLineStart && position >= end) {
        // The last line spans the end: read on to its line feed, and no further.
        int n = 0;
        while (n < length) {
          int b = in.read();
          if (b < 0) {
            break;
          }
          buffer[offset + n++] = (byte) b;
          position++;
          if (b == '\n') {
            atLineStart = true;
            break;
          }
        }
        return n == 0 ? -1 : n;
      }
      int n = in.read(buffer, offset, (int) Math.min(length, end - position));
      if (n <= 0) {
        return -1;
      }
      position += n;
      atLineStart = buffer[offset + n - 1] == '\n';
      return n;
    }

    @Override
    public void close() throws IOException {
      in.close();
    }
  }
}
