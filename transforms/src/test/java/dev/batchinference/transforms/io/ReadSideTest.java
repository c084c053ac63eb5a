package dev.batchinference.transforms.io;

import static org.hamcrest.MatcherAssert.assertThat;
import static org.hamcrest.Matchers.containsInAnyOrder;
import static org.hamcrest.Matchers.equalTo;

import dev.batchinference.transforms.Failure;
import dev.batchinference.transforms.Stage;
import java.util.ArrayList;
import java.util.List;
import org.apache.beam.sdk.testing.CoderProperties;
import org.apache.beam.sdk.transforms.DoFn;
import org.apache.beam.sdk.values.Row;
import org.apache.beam.sdk.values.TupleTag;
import org.joda.time.Instant;
import org.junit.Test;

/**
 * A read step's reports travel on one output besides the records (see {@link ReadSide}): each kind
 * survives its coder, and the split puts each back on the output it stands for.
 */
public class ReadSideTest {

  private static final Failure FAILURE =
      Failure.of(null, "in.jsonl", 7, Stage.READ, new IllegalStateException("bad line"), null);
  private static final UnreadableFile CUT = UnreadableFile.of("in.jsonl.gz", 3, "EOFException");

  @Test
  public void everyKindSurvivesItsCoder() throws Exception {
    for (ReadSide report :
        List.of(
            ReadSide.failure(FAILURE),
            ReadSide.thenFailure(FAILURE),
            ReadSide.unreadable(CUT),
            ReadSide.count(12_345L))) {
      CoderProperties.coderDecodeEncodeEqual(ReadSide.Coder.of(), report);
      CoderProperties.coderDecodeEncodeEqualInContext(
          ReadSide.Coder.of(), org.apache.beam.sdk.coders.Coder.Context.NESTED, report);
    }
  }

  @Test
  public void reportsGoBackToTheOutputsTheyStandFor() {
    Collected reports = new Collected();
    ReadRecords.ReportingOutputs out = new ReadRecords.ReportingOutputs(reports);
    TupleTag<Failure> failures = tagOf("FAILURES");
    TupleTag<UnreadableFile> unreadable = tagOf("UNREADABLE");
    TupleTag<Long> counts = tagOf("READ_COUNTS");
    out.get(failures).output(FAILURE);
    out.get(unreadable).output(CUT);
    out.get(counts).output(2L);
    assertThat(
        reports.side,
        containsInAnyOrder(
            ReadSide.failure(FAILURE), ReadSide.unreadable(CUT), ReadSide.count(2L)));

    Collected split = new Collected();
    for (ReadSide report : reports.side) {
      new ReadRecords.SplitReportsFn().processElement(report, split);
    }
    assertThat(split.byTag.get(failures.getId()), equalTo(List.of(FAILURE)));
    assertThat(split.byTag.get(unreadable.getId()), equalTo(List.of(CUT)));
    assertThat(split.byTag.get(counts.getId()), equalTo(List.of(2L)));
  }

  @SuppressWarnings("unchecked")
  private static <T> TupleTag<T> tagOf(String field) {
    try {
      java.lang.reflect.Field f = ReadRecords.class.getDeclaredField(field);
      f.setAccessible(true);
      return (TupleTag<T>) f.get(null);
    } catch (ReflectiveOperationException e) {
      throw new AssertionError(e);
    }
  }

  /** Collects what is output, by tag; the SIDE tag's reports also in {@link #side}. */
  private static final class Collected implements DoFn.MultiOutputReceiver {
    final java.util.Map<String, List<Object>> byTag = new java.util.HashMap<>();
    final List<ReadSide> side = new ArrayList<>();

    @Override
    public <T> DoFn.OutputReceiver<T> get(TupleTag<T> tag) {
      return new DoFn.OutputReceiver<T>() {
        @Override
        public void output(T value) {
          byTag.computeIfAbsent(tag.getId(), k -> new ArrayList<>()).add(value);
          if (value instanceof ReadSide) {
            side.add((ReadSide) value);
          }
        }

        @Override
        public void outputWithTimestamp(T value, Instant timestamp) {
          output(value);
        }
      };
    }

    @Override
    public <T> DoFn.OutputReceiver<Row> getRowReceiver(TupleTag<T> tag) {
      throw new UnsupportedOperationException();
    }
  }
}
