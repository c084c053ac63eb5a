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
 * A record that did not become a prediction: which record (id when known, source and index), the
 * stage that failed, the error, and the input as it was read so that it can be replayed.
 *
 * <p>This mirrors the shape of Beam's {@code BadRecord}: record, failing stage, exception class and
 * message.
 */
public final class Failure implements Serializable {

  private final @Nullable String id;
  private final String source;
  private final long index;
  private final Stage stage;
  private final String errorClass;
  private final String message;
  private final @Nullable String input;

  private Failure(
      @Nullable String id,
      String source,
      long index,
      Stage stage,
      String errorClass,
      String message,
      @Nullable String input) {
    this.id = id;
    this.source = Objects.requireNonNull(source);
    this.index = index;
    this.stage = Objects.requireNonNull(stage);
    this.errorClass = Objects.requireNonNull(errorClass);
    this.message = Objects.requireNonNull(message);
    this.input = input;
  }

  public static Failure of(
      @Nullable String id,
      String source,
      long index,
      Stage stage,
      String errorClass,
      String message,
      @Nullable String input) {
    return new Failure(id, source, index, stage, errorClass, message, input);
  }

  /** A failure caused by {@code error}, named by its class and message. */
  public static Failure of(
      @Nullable String id,
      String source,
      long index,
      Stage stage,
      Throwable error,
      @Nullable String input) {
    return new Failure(
        id, source, index, stage, error.getClass().getName(), describe(error), input);
  }

  /** A failure of an already identified record; the input is referred to by its position. */
  public static Failure of(RecordMeta meta, Stage stage, Throwable error) {
    return of(meta.id(), meta.source(), meta.index(), stage, error, meta.carriedJson());
  }

  /** The message of an error and of its causes, so that wrapped errors still say why. */
  public static String describe(Throwable error) {
    StringBuilder sb = new StringBuilder();
    Throwable t = error;
    int depth = 0;
    while (t != null && depth < 4) {
      String m = t.getMessage();
      if (depth > 0) {
        sb.append(" (caused by ").append(t.getClass().getSimpleName()).append(": ");
      }
      sb.append(m == null ? t.getClass().getSimpleName() : m);
      if (depth > 0) {
        sb.append(')');
      }
      if (t.getCause() == t) {
        break;
      }
      t = t.getCause();
      depth++;
    }
    return sb.toString();
  }

  public @Nullable String id() {
    return id;
  }

  public String source() {
    return source;
  }

  public long index() {
    return index;
  }

  public Stage stage() {
    return stage;
  }

  public String errorClass() {
    return errorClass;
  }

  public String message() {
    return message;
  }

  /**
   * The input as read (the raw line or row) for read, parse and preprocess failures; for later
   * stages the carried fields, the record being identified by source and index.
   */
  public @Nullable String input() {
    return input;
  }

  /**
   * This failure with its input and message cut to at most {@code maxChars} characters each (and
   * its id to 1,024), so that one huge bad record cannot flood the dead letter. What was cut is
   * said at the end: {@code … [cut: N characters in all]}.
   */
  public Failure capped(int maxChars) {
    String cutInput = cut(input, maxChars);
    String cutMessage = cut(message, maxChars);
    String cutId = cut(id, 1024);
    if (Objects.equals(cutInput, input)
        && cutMessage.equals(message)
        && Objects.equals(cutId, id)) {
      return this;
    }
    return new Failure(cutId, source, index, stage, errorClass, cutMessage, cutInput);
  }

  private static String cut(String text, int maxChars) {
    if (text == null || text.length() <= maxChars) {
      return text;
    }
    return text.substring(0, maxChars) + "… [cut: " + text.length() + " characters in all]";
  }

  @Override
  public boolean equals(@Nullable Object o) {
    if (!(o instanceof Failure)) {
      return false;
    }
    Failure f = (Failure) o;
    return index == f.index
        && Objects.equals(id, f.id)
        && source.equals(f.source)
        && stage == f.stage
        && errorClass.equals(f.errorClass)
        && message.equals(f.message)
        && Objects.equals(input, f.input);
  }

  @Override
  public int hashCode() {
    return Objects.hash(id, source, index, stage);
  }

  @Override
  public String toString() {
    return stage.label()
        + " failure of "
        + (id == null ? "?" : id)
        + " ("
        + source
        + "#"
        + index
        + "): "
        + errorClass
        + ": "
        + message;
  }

  /** Coder for {@link Failure}. */
  public static final class Coder extends AtomicCoder<Failure> {
    private static final Coder INSTANCE = new Coder();
    private static final StringUtf8Coder STRING = StringUtf8Coder.of();
    private static final NullableCoder<String> NULLABLE_STRING = NullableCoder.of(STRING);
    private static final Stage[] STAGES = Stage.values();

    public static Coder of() {
      return INSTANCE;
    }

    private Coder() {}

    @Override
    public void encode(Failure value, OutputStream out) throws IOException {
      NULLABLE_STRING.encode(value.id, out);
      STRING.encode(value.source, out);
      VarLongCoder.of().encode(value.index, out);
      out.write(value.stage.ordinal());
      STRING.encode(value.errorClass, out);
      STRING.encode(value.message, out);
      NULLABLE_STRING.encode(value.input, out);
    }

    @Override
    public Failure decode(InputStream in) throws IOException {
      String id = NULLABLE_STRING.decode(in);
      String source = STRING.decode(in);
      long index = VarLongCoder.of().decode(in);
      Stage stage = STAGES[in.read()];
      return new Failure(
          id,
          source,
          index,
          stage,
          STRING.decode(in),
          STRING.decode(in),
          NULLABLE_STRING.decode(in));
    }

    @Override
    public void verifyDeterministic() {}
  }
}
