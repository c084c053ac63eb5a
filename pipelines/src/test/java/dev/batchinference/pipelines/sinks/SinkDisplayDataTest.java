package dev.batchinference.pipelines.sinks;

import static org.hamcrest.MatcherAssert.assertThat;
import static org.hamcrest.Matchers.hasItem;

import dev.batchinference.transforms.io.PostgresConnection;
import dev.batchinference.transforms.io.PredictionRows;
import java.util.EnumSet;
import java.util.List;
import java.util.stream.Collectors;
import org.apache.beam.sdk.transforms.PTransform;
import org.apache.beam.sdk.transforms.display.DisplayData;
import org.junit.Test;
import org.junit.runner.RunWith;
import org.junit.runners.JUnit4;

/** The write steps say where they write, so that runner UIs show it. */
@RunWith(JUnit4.class)
public class SinkDisplayDataTest {

  private static List<String> items(PTransform<?, ?> transform) {
    return DisplayData.from(transform).items().stream()
        .map(i -> i.getKey() + "=" + i.getValue())
        .collect(Collectors.toList());
  }

  @Test
  public void writePredictionsNamesItsSink() {
    WritePredictions write =
        new WritePredictions(
            new Sink.ParquetFiles("/out/", "predictions", false),
            PredictionRows.of(EnumSet.of(PredictionRows.Content.CLASS), List.of()));
    assertThat(items(write), hasItem("sink=/out/predictions*.parquet"));
  }

  @Test
  public void writeFailuresNamesItsSink() {
    WriteFailures write =
        new WriteFailures(
            new Sink.PostgresTable(
                PostgresConnection.of("jdbc:postgresql://db:5432/x", "u", "PGPASSWORD", null),
                "failures"));
    assertThat(items(write), hasItem("sink=postgresql:failures"));
  }

  @Test
  public void removeStaleOutputsNamesItsDirectory() {
    assertThat(items(new RemoveStaleOutputs("/out/")), hasItem("directory=/out/"));
  }
}
