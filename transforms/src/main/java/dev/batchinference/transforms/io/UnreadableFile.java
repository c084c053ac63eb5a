package dev.batchinference.transforms.io;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.io.Serializable;
import java.util.Objects;
import org.apache.beam.sdk.coders.AtomicCoder;
import org.apache.beam.sdk.coders.StringUtf8Coder;
import org.apache.beam.sdk.coders.VarLongCoder;
import org.checkerframework.checker.nullness.qual.Nullable;

/**
 * A file that could not be read to its end (a truncated gzip stream, a corrupt Parquet footer, a
 * CSV quote that never closes, a file that vanished or cannot be opened): which file, how many
 * records were read from it before the cut, and why it broke off. How many records the unread rest
 * held cannot be known; the run's summary lists these files so that nobody takes the run's counts
 * for the whole file.
 */
public final class UnreadableFile implements Serializable {

  private final String file;
  private final long recordsRead;
  private final String error;

  private UnreadableFile(String file, long recordsRead, String error) {
    this.file = Objects.requireNonNull(file);
    this.recordsRead = recordsRead;
    this.error = Objects.requireNonNull(error);
  }

  public static UnreadableFile of(String file, long recordsRead, String error) {
    return new UnreadableFile(file, recordsRead, error);
  }

  /** The file, as the file system names it. */
  public String file() {
    return file;
  }

  /** Records (predicted or failed alike) read from the file before the cut. */
  public long recordsRead() {
    return recordsRead;
  }

  /** Why the file broke off. */
  public String error() {
    return error;
  }

  @Override
  public boolean equals(@Nullable Object o) {
    if (!(o instanceof UnreadableFile)) {
      return false;
    }
    UnreadableFile u = (UnreadableFile) o;
    return recordsRead == u.recordsRead && file.equals(u.file) && error.equals(u.error);
  }

  @Override
  public int hashCode() {
    return Objects.hash(file, recordsRead);
  }

  @Override
  public String toString() {
    return file + " (" + recordsRead + " records read before the cut: " + error + ")";
  }

  /** Coder for {@link UnreadableFile}. */
  public static final class Coder extends AtomicCoder<UnreadableFile> {
    private static final Coder INSTANCE = new Coder();

    public static Coder of() {
      return INSTANCE;
    }

    private Coder() {}

    @Override
    public void encode(UnreadableFile value, OutputStream out) throws IOException {
      StringUtf8Coder.of().encode(value.file, out);
      VarLongCoder.of().encode(value.recordsRead, out);
      StringUtf8Coder.of().encode(value.error, out);
    }

    @Override
    public UnreadableFile decode(InputStream in) throws IOException {
      return new UnreadableFile(
          StringUtf8Coder.of().decode(in),
          VarLongCoder.of().decode(in),
          StringUtf8Coder.of().decode(in));
    }

    @Override
    public void verifyDeterministic() {}
  }
}
