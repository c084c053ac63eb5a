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
 * One record as read, before parsing: where it came from (source and zero-based record index) and
 * its text as a JSON object (a JSON Lines line as it stands; a CSV row rendered as an object of its
 * header's columns).
 */
public final class RawRecord implements Serializable {

  private final String source;
  private final long index;
  private final String text;

  private RawRecord(String source, long index, String text) {
    this.source = Objects.requireNonNull(source);
    this.index = index;
    this.text = Objects.requireNonNull(text);
  }

  public static RawRecord of(String source, long index, String text) {
    return new RawRecord(source, index, text);
  }

  public String source() {
    return source;
  }

  public long index() {
    return index;
  }

  public String text() {
    return text;
  }

  @Override
  public boolean equals(@Nullable Object o) {
    if (!(o instanceof RawRecord)) {
      return false;
    }
    RawRecord r = (RawRecord) o;
    return index == r.index && source.equals(r.source) && text.equals(r.text);
  }

  @Override
  public int hashCode() {
    return Objects.hash(source, index);
  }

  @Override
  public String toString() {
    return source + "#" + index + ": " + text;
  }

  /** Coder for {@link RawRecord}. */
  public static final class Coder extends AtomicCoder<RawRecord> {
    private static final Coder INSTANCE = new Coder();

    public static Coder of() {
      return INSTANCE;
    }

    private Coder() {}

    @Override
    public void encode(RawRecord value, OutputStream out) throws IOException {
      StringUtf8Coder.of().encode(value.source, out);
      VarLongCoder.of().encode(value.index, out);
      StringUtf8Coder.of().encode(value.text, out);
    }

    @Override
    public RawRecord decode(InputStream in) throws IOException {
      return new RawRecord(
          StringUtf8Coder.of().decode(in),
          VarLongCoder.of().decode(in),
          StringUtf8Coder.of().decode(in));
    }

    @Override
    public void verifyDeterministic() {}
  }
}
