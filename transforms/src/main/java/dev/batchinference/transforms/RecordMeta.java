package dev.batchinference.transforms;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.io.Serializable;
import java.util.Objects;
import org.apache.beam.sdk.coders.AtomicCoder;
import org.apache.beam.sdk.coders.NullableCoder;
import org.apache.beam.sdk.coders.StringUtf8Coder;
import org.apache.beam.sdk.coders.VarLongCoder;
import org.checkerframework.checker.nullness.qual.Nullable;

/**
 * What travels with an example through batching and inference so that its prediction can be joined
 * back to the input: the record's id, its position in the input (source and record index), the
 * fields the user asked to carry through, as a JSON object text, and the SHA-256 of the record as
 * read (what incremental runs compare to tell a changed record from one already scored).
 */
public final class RecordMeta implements Serializable {

  private final String id;
  private final String source;
  private final long index;
  private final @Nullable String carriedJson;
  private final @Nullable String contentSha256;

  private RecordMeta(
      String id,
      String source,
      long index,
      @Nullable String carriedJson,
      @Nullable String contentSha256) {
    this.id = Objects.requireNonNull(id, "id");
    this.source = Objects.requireNonNull(source, "source");
    this.index = index;
    this.carriedJson = carriedJson;
    this.contentSha256 = contentSha256;
  }

  public static RecordMeta of(String id, String source, long index, @Nullable String carriedJson) {
    return new RecordMeta(id, source, index, carriedJson, null);
  }

  /** With the SHA-256 (lower-case hex) of the record's text as read. */
  public static RecordMeta of(
      String id,
      String source,
      long index,
      @Nullable String carriedJson,
      @Nullable String contentSha256) {
    return new RecordMeta(id, source, index, carriedJson, contentSha256);
  }

  /** SHA-256 of the record as read, or null when it was not computed. */
  public @Nullable String contentSha256() {
    return contentSha256;
  }

  public String id() {
    return id;
  }

  /** The file (or table) the record was read from. */
  public String source() {
    return source;
  }

  /** Zero-based position of the record within its source. */
  public long index() {
    return index;
  }

  /** The carried fields as a JSON object text, or null when none were asked for. */
  public @Nullable String carriedJson() {
    return carriedJson;
  }

  @Override
  public boolean equals(@Nullable Object o) {
    if (!(o instanceof RecordMeta)) {
      return false;
    }
    RecordMeta m = (RecordMeta) o;
    return index == m.index
        && id.equals(m.id)
        && source.equals(m.source)
        && Objects.equals(carriedJson, m.carriedJson)
        && Objects.equals(contentSha256, m.contentSha256);
  }

  @Override
  public int hashCode() {
    return Objects.hash(id, source, index);
  }

  @Override
  public String toString() {
    return id + " (" + source + "#" + index + ")";
  }

  /** Coder for {@link RecordMeta}. */
  public static final class Coder extends AtomicCoder<RecordMeta> {
    private static final Coder INSTANCE = new Coder();
    private static final StringUtf8Coder STRING = StringUtf8Coder.of();
    private static final NullableCoder<String> NULLABLE_STRING = NullableCoder.of(STRING);

    public static Coder of() {
      return INSTANCE;
    }

    private Coder() {}

    @Override
    public void encode(RecordMeta value, OutputStream out) throws IOException {
      STRING.encode(value.id, out);
      STRING.encode(value.source, out);
      VarLongCoder.of().encode(value.index, out);
      NULLABLE_STRING.encode(value.carriedJson, out);
      NULLABLE_STRING.encode(value.contentSha256, out);
    }

    @Override
    public RecordMeta decode(InputStream in) throws IOException {
      return new RecordMeta(
          STRING.decode(in),
          STRING.decode(in),
          VarLongCoder.of().decode(in),
          NULLABLE_STRING.decode(in),
          NULLABLE_STRING.decode(in));
    }

    @Override
    public void verifyDeterministic() {}
  }
}
