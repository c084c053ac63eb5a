package dev.batchinference.transforms.io;

import dev.batchinference.transforms.Failure;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.util.Objects;
import org.apache.beam.sdk.coders.AtomicCoder;
import org.apache.beam.sdk.coders.CoderException;
import org.apache.beam.sdk.coders.VarLongCoder;
import org.checkerframework.checker.nullness.qual.Nullable;

/**
 * What a read step reports besides its records, on one output: a record that failed to read, a file
 * that broke off, how many records a file or range gave, or a record its {@link RecordFn} failed.
 * {@link ReadRecords} splits them again in a step of their own.
 *
 * <p>Why one output and not three: on Flink's batch translation a step with several outputs emits
 * each element to every output's consumer (a union of the outputs, pruned by each consumer), so
 * every record read was serialized once per output, four times, to be kept once. With two outputs
 * it is serialized twice; the reports are few and small.
 */
final class ReadSide {

  enum Kind {
    FAILURE,
    UNREADABLE,
    COUNT,
    THEN_FAILURE
  }

  private final Kind kind;
  private final @Nullable Failure failure;
  private final @Nullable UnreadableFile unreadable;
  private final long count;

  private ReadSide(
      Kind kind, @Nullable Failure failure, @Nullable UnreadableFile unreadable, long count) {
    this.kind = kind;
    this.failure = failure;
    this.unreadable = unreadable;
    this.count = count;
  }

  static ReadSide failure(Failure failure) {
    return new ReadSide(Kind.FAILURE, Objects.requireNonNull(failure), null, 0);
  }

  /** A record the reading step's {@link RecordFn} turned into a failure: read, and counted. */
  static ReadSide thenFailure(Failure failure) {
    return new ReadSide(Kind.THEN_FAILURE, Objects.requireNonNull(failure), null, 0);
  }

  static ReadSide unreadable(UnreadableFile unreadable) {
    return new ReadSide(Kind.UNREADABLE, null, Objects.requireNonNull(unreadable), 0);
  }

  static ReadSide count(long records) {
    return new ReadSide(Kind.COUNT, null, null, records);
  }

  Kind kind() {
    return kind;
  }

  Failure failure() {
    return Objects.requireNonNull(failure, "not a failure");
  }

  UnreadableFile unreadable() {
    return Objects.requireNonNull(unreadable, "not an unreadable file");
  }

  long count() {
    return count;
  }

  @Override
  public boolean equals(@Nullable Object o) {
    if (!(o instanceof ReadSide)) {
      return false;
    }
    ReadSide r = (ReadSide) o;
    return kind == r.kind
        && count == r.count
        && Objects.equals(failure, r.failure)
        && Objects.equals(unreadable, r.unreadable);
  }

  @Override
  public int hashCode() {
    return Objects.hash(kind, failure, unreadable, count);
  }

  @Override
  public String toString() {
    switch (kind) {
      case FAILURE:
        return "ReadSide{failure=" + failure + "}";
      case THEN_FAILURE:
        return "ReadSide{thenFailure=" + failure + "}";
      case UNREADABLE:
        return "ReadSide{unreadable=" + unreadable + "}";
      default:
        return "ReadSide{count=" + count + "}";
    }
  }

  /** A kind byte, then the failure, the file or the count in its own coder. */
  static final class Coder extends AtomicCoder<ReadSide> {
    private static final Coder INSTANCE = new Coder();

    static Coder of() {
      return INSTANCE;
    }

    private Coder() {}

    @Override
    public void encode(ReadSide value, OutputStream out) throws IOException {
      out.write(value.kind.ordinal());
      switch (value.kind) {
        case FAILURE:
        case THEN_FAILURE:
          Failure.Coder.of().encode(value.failure(), out);
          break;
        case UNREADABLE:
          UnreadableFile.Coder.of().encode(value.unreadable(), out);
          break;
        default:
          VarLongCoder.of().encode(value.count, out);
      }
    }

    @Override
    public ReadSide decode(InputStream in) throws IOException {
      int kind = in.read();
      if (kind < 0 || kind >= Kind.values().length) {
        throw new CoderException("not a ReadSide kind: " + kind);
      }
      switch (Kind.values()[kind]) {
        case FAILURE:
          return failure(Failure.Coder.of().decode(in));
        case THEN_FAILURE:
          return thenFailure(Failure.Coder.of().decode(in));
        case UNREADABLE:
          return unreadable(UnreadableFile.Coder.of().decode(in));
        default:
          return count(VarLongCoder.of().decode(in));
      }
    }

    @Override
    public void verifyDeterministic() {}
  }
}
