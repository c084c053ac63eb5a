package dev.batchinference.transforms.io;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.io.Serializable;
import java.util.Objects;
import org.apache.beam.sdk.coders.AtomicCoder;
import org.apache.beam.sdk.coders.StringUtf8Coder;
import org.apache.beam.sdk.coders.VarIntCoder;
import org.apache.beam.sdk.coders.VarLongCoder;
import org.checkerframework.checker.nullness.qual.Nullable;

/**
 * A piece of work for {@link ReadRecords}: bytes {@code [start, end)} of a file, range {@code
 * index} of the {@code count} ranges it was cut into, whose first record has index {@code first}
 * (known once the ranges before it are counted). A file of one range is read whole (and
 * decompressed, if it is compressed); its {@code end} is its size as stored.
 */
final class FileRange implements Serializable {

  private final String file;
  private final long start;
  private final long end;
  private final int index;
  private final int count;
  private final long first;

  private FileRange(String file, long start, long end, int index, int count, long first) {
    this.file = Objects.requireNonNull(file);
    this.start = start;
    this.end = end;
    this.index = index;
    this.count = count;
    this.first = first;
  }

  static FileRange of(String file, long start, long end, int index, int count) {
    return new FileRange(file, start, end, index, count, 0);
  }

  /** This range, its first record numbered {@code first}. */
  FileRange numbered(long first) {
    return new FileRange(file, start, end, index, count, first);
  }

  /** The index of the range's first record. */
  long first() {
    return first;
  }

  String file() {
    return file;
  }

  long start() {
    return start;
  }

  long end() {
    return end;
  }

  int index() {
    return index;
  }

  int count() {
    return count;
  }

  /** Whether this is the whole file, read by one reader from its start. */
  boolean whole() {
    return count == 1;
  }

  @Override
  public boolean equals(@Nullable Object o) {
    if (!(o instanceof FileRange)) {
      return false;
    }
    FileRange r = (FileRange) o;
    return start == r.start
        && end == r.end
        && index == r.index
        && count == r.count
        && first == r.first
        && file.equals(r.file);
  }

  @Override
  public int hashCode() {
    return Objects.hash(file, start, end);
  }

  @Override
  public String toString() {
    return file + "[" + start + ", " + end + ") range " + (index + 1) + " of " + count;
  }

  /** Coder for {@link FileRange}. */
  static final class Coder extends AtomicCoder<FileRange> {
    private static final Coder INSTANCE = new Coder();

    static Coder of() {
      return INSTANCE;
    }

    private Coder() {}

    @Override
    public void encode(FileRange value, OutputStream out) throws IOException {
      StringUtf8Coder.of().encode(value.file, out);
      VarLongCoder.of().encode(value.start, out);
      VarLongCoder.of().encode(value.end, out);
      VarIntCoder.of().encode(value.index, out);
      VarIntCoder.of().encode(value.count, out);
      VarLongCoder.of().encode(value.first, out);
    }

    @Override
    public FileRange decode(InputStream in) throws IOException {
      return new FileRange(
          StringUtf8Coder.of().decode(in),
          VarLongCoder.of().decode(in),
          VarLongCoder.of().decode(in),
          VarIntCoder.of().decode(in),
          VarIntCoder.of().decode(in),
          VarLongCoder.of().decode(in));
    }

    @Override
    public void verifyDeterministic() {}
  }

  /**
   * What counting a range of a split file found: the range, its lines, its non-empty lines, and
   * whether its CSV rows are its lines (or counting failed, {@code splittable} false either way).
   */
  static final class Lines implements Serializable {
    final FileRange range;
    final long lines;
    final long nonEmptyLines;
    final boolean splittable;

    Lines(FileRange range, long lines, long nonEmptyLines, boolean splittable) {
      this.range = range;
      this.lines = lines;
      this.nonEmptyLines = nonEmptyLines;
      this.splittable = splittable;
    }

    /** Coder for {@link Lines}. */
    static final class Coder extends AtomicCoder<Lines> {
      private static final Coder INSTANCE = new Coder();

      static Coder of() {
        return INSTANCE;
      }

      private Coder() {}

      @Override
      public void encode(Lines value, OutputStream out) throws IOException {
        FileRange.Coder.of().encode(value.range, out);
        VarLongCoder.of().encode(value.lines, out);
        VarLongCoder.of().encode(value.nonEmptyLines, out);
        out.write(value.splittable ? 1 : 0);
      }

      @Override
      public Lines decode(InputStream in) throws IOException {
        FileRange range = FileRange.Coder.of().decode(in);
        long lines = VarLongCoder.of().decode(in);
        long nonEmpty = VarLongCoder.of().decode(in);
        int splittable = in.read();
        if (splittable < 0) {
          throw new java.io.EOFException();
        }
        return new Lines(range, lines, nonEmpty, splittable == 1);
      }

      @Override
      public void verifyDeterministic() {}
    }
  }
}
