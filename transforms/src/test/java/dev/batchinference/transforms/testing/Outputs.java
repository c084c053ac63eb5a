package dev.batchinference.transforms.testing;

import java.util.ArrayList;
import java.util.List;
import org.apache.beam.sdk.transforms.DoFn;
import org.apache.beam.sdk.values.Row;
import org.apache.beam.sdk.values.TupleTag;
import org.joda.time.Instant;

/**
 * A {@link DoFn.MultiOutputReceiver} that collects what a DoFn outputs, in order, with the tag of
 * each output: for calling a DoFn's {@code @ProcessElement} method directly in tests that run many
 * cases (a pipeline per case would cost seconds).
 */
public final class Outputs implements DoFn.MultiOutputReceiver {

  /** One output and the tag it was output to. */
  public static final class Output {
    public final TupleTag<?> tag;
    public final Object value;

    Output(TupleTag<?> tag, Object value) {
      this.tag = tag;
      this.value = value;
    }
  }

  private final List<Output> outputs = new ArrayList<>();

  public List<Output> all() {
    return outputs;
  }

  /** The values output to {@code tag}, in order. */
  @SuppressWarnings("unchecked")
  public <T> List<T> of(TupleTag<T> tag) {
    List<T> values = new ArrayList<>();
    for (Output o : outputs) {
      if (o.tag.getId().equals(tag.getId())) {
        values.add((T) o.value);
      }
    }
    return values;
  }

  /** The values of class {@code type}, whatever their tag, in order. */
  public <T> List<T> ofType(Class<T> type) {
    List<T> values = new ArrayList<>();
    for (Output o : outputs) {
      if (type.isInstance(o.value)) {
        values.add(type.cast(o.value));
      }
    }
    return values;
  }

  public void clear() {
    outputs.clear();
  }

  @Override
  public <T> DoFn.OutputReceiver<T> get(TupleTag<T> tag) {
    return new DoFn.OutputReceiver<T>() {
      @Override
      public void output(T value) {
        outputs.add(new Output(tag, value));
      }

      @Override
      public void outputWithTimestamp(T value, Instant timestamp) {
        output(value);
      }
    };
  }

  @Override
  public <T> DoFn.OutputReceiver<Row> getRowReceiver(TupleTag<T> tag) {
    throw new UnsupportedOperationException("rows are not collected");
  }
}
