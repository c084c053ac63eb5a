package dev.batchinference.transforms.io;

import java.io.IOException;
import java.io.InputStream;
import java.util.Arrays;

/**
 * Splits a stream into {@code \n}-terminated lines, keeping at most {@code maxKept} bytes of each
 * line but counting its whole length, so that an oversized record costs no more memory than the
 * limit. Reads the stream in 64 KiB chunks and scans them for the line end, instead of a call per
 * byte.
 */
final class BoundedLines {

  private final InputStream in;
  private final long maxKept;
  private final byte[] chunk = new byte[1 << 16];
  private int position;
  private int limit;
  private boolean ended;

  private byte[] line = new byte[1024];
  private int kept;
  private long length;

  BoundedLines(InputStream in, long maxKept) {
    this.in = in;
    this.maxKept = maxKept;
  }

  /**
   * Reads the next line, without its {@code \n}. Returns false at the end of the stream when no
   * bytes are left (a last line without {@code \n} is still returned).
   */
  boolean next() throws IOException {
    kept = 0;
    length = 0;
    boolean any = false;
    while (true) {
      if (position == limit) {
        if (ended || !fill()) {
          return any;
        }
      }
      any = true;
      int end = position;
      while (end < limit && chunk[end] != '\n') {
        end++;
      }
      keep(position, end - position);
      boolean found = end < limit;
      position = found ? end + 1 : end;
      if (found) {
        return true;
      }
    }
  }

  private boolean fill() throws IOException {
    int n;
    do {
      n = in.read(chunk, 0, chunk.length);
    } while (n == 0);
    if (n < 0) {
      ended = true;
      return false;
    }
    position = 0;
    limit = n;
    return true;
  }

  private void keep(int from, int count) {
    length += count;
    int room = (int) Math.max(0, Math.min(count, maxKept - kept));
    if (room > 0) {
      if (kept + room > line.length) {
        line = Arrays.copyOf(line, Math.max(kept + room, line.length * 2));
      }
      System.arraycopy(chunk, from, line, kept, room);
      kept += room;
    }
  }

  /** The kept bytes of the current line: valid in {@code [0, kept())} until the next call. */
  byte[] bytes() {
    return line;
  }

  /** How many bytes of the current line were kept (at most the limit). */
  int kept() {
    return kept;
  }

  /** The current line's whole length in bytes, kept or not. */
  long length() {
    return length;
  }
}
