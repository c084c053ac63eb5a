package dev.batchinference.pipelines;

import static org.hamcrest.MatcherAssert.assertThat;
import static org.hamcrest.Matchers.containsInAnyOrder;
import static org.hamcrest.Matchers.containsString;
import static org.hamcrest.Matchers.equalTo;
import static org.hamcrest.Matchers.is;
import static org.hamcrest.Matchers.not;
import static org.hamcrest.Matchers.nullValue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.batchinference.pipelines.options.BatchInferenceOptions;
import dev.batchinference.pipelines.options.InvalidJobException;
import dev.batchinference.transforms.io.AvroJson;
import dev.batchinference.transforms.testing.Fortunes;
import dev.batchinference.transforms.testing.ParquetFiles;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.function.Consumer;
import org.apache.avro.generic.GenericRecord;
import org.apache.beam.sdk.Pipeline;
import org.apache.beam.sdk.testing.TestPipeline;
import org.junit.ClassRule;
import org.junit.Test;
import org.junit.rules.TemporaryFolder;
import org.junit.runner.RunWith;
import org.junit.runners.JUnit4;

/**
 * Incremental runs: a second run over changed input, pointed at the first run's predictions, scores
 * only the new, changed and previously failed records, carries the previous predictions of the
 * others forward into its output (a complete snapshot, in a new folder or in the previous run's
 * own), and accounts for them; changed prediction settings score everything again.
 */
@RunWith(JUnit4.class)
public class IncrementalRunTest {

  @ClassRule public static final TemporaryFolder TMP = new TemporaryFolder();
  private static final ObjectMapper JSON = new ObjectMapper();

  private static void write(Path file, List<String[]> records) throws Exception {
    StringBuilder text = new StringBuilder();
    for (String[] r : records) {
      text.append(JSON.createObjectNode().put("id", r[0]).put("text", r[1])).append('\n');
    }
    Files.writeString(file, text.toString());
  }

  private static JobOutputs run(Path input, Path out, String previous, boolean parquet)
      throws Exception {
    return run(input, out, previous, parquet, options -> {});
  }

  private static JobOutputs run(
      Path input,
      Path out,
      String previous,
      boolean parquet,
      Consumer<BatchInferenceOptions> settings)
      throws Exception {
    TestPipeline pipeline = TestPipeline.create().enableAbandonedNodeEnforcement(false);
    BatchInferenceOptions options = pipeline.getOptions().as(BatchInferenceOptions.class);
    options.setInput(input.toString());
    options.setOutput(out.toString());
    if (parquet) {
      options.setOutputFormat(BatchInferenceOptions.OutputFormat.PARQUET);
    }
    if (previous != null) {
      options.setPreviousPredictions(previous);
    }
    settings.accept(options);
    BatchInference.build(pipeline, options);
    pipeline.run().waitUntilFinish();
    return JobOutputs.read(out);
  }

  /** The predictions in {@code dir} by id, as JSON objects (Parquet rows as Avro reads them). */
  private static Map<String, JsonNode> snapshot(Path dir, boolean parquet) throws Exception {
    Map<String, JsonNode> byId = new TreeMap<>();
    if (!parquet) {
      for (JsonNode p : JobOutputs.lines(dir, "predictions*.jsonl")) {
        assertThat("one prediction per id", byId.put(p.get("id").asText(), p), nullValue());
      }
      return byId;
    }
    try (DirectoryStream<Path> files = Files.newDirectoryStream(dir, "predictions*.parquet")) {
      for (Path file : files) {
        for (GenericRecord r : ParquetFiles.read(file)) {
          JsonNode p = AvroJson.toJson(r);
          assertThat("one prediction per id", byId.put(p.get("id").asText(), p), nullValue());
        }
      }
    }
    return byId;
  }

  private static List<String[]> day1(List<Fortunes.Fortune> fortunes) {
    List<String[]> day1 = new ArrayList<>();
    for (Fortunes.Fortune f : fortunes) {
      day1.add(new String[] {f.id(), f.text()});
    }
    return day1;
  }

  /** Day 1's records, the first three edited, and two new ones. */
  private static List<String[]> day2(List<Fortunes.Fortune> fortunes) {
    List<String[]> day2 = new ArrayList<>();
    for (int i = 0; i < fortunes.size(); i++) {
      Fortunes.Fortune f = fortunes.get(i);
      day2.add(new String[] {f.id(), i < 3 ? f.text() + " (edited)" : f.text()});
    }
    day2.add(new String[] {"new-0", "A record that arrived on day two."});
    day2.add(new String[] {"new-1", "Another record that arrived on day two."});
    return day2;
  }

  /**
   * Runs day 1 into {@code out1} and day 2 into {@code out2} (the same folder or another) with day
   * 1's predictions as the previous ones, and checks that {@code out2} holds every record of day 2:
   * the unchanged ones exactly as day 1 wrote them, the others scored again.
   */
  private static void checkCompleteSnapshot(String name, boolean parquet, boolean sameFolder)
      throws Exception {
    List<Fortunes.Fortune> fortunes = Fortunes.load(1).subList(0, 12);
    Path input1 = TMP.getRoot().toPath().resolve(name + "-day1.jsonl");
    write(input1, day1(fortunes));
    Path out1 = TMP.newFolder(name + "-1").toPath();
    run(input1, out1, null, parquet);
    Map<String, JsonNode> before = snapshot(out1, parquet);
    assertThat(before.size(), equalTo(fortunes.size()));

    Path input2 = TMP.getRoot().toPath().resolve(name + "-day2.jsonl");
    List<String[]> day2 = day2(fortunes);
    write(input2, day2);
    Path out2 = sameFolder ? out1 : TMP.newFolder(name + "-2").toPath();
    String previous =
        out1.resolve(parquet ? "predictions*.parquet" : "predictions*.jsonl").toString();
    JobOutputs second = run(input2, out2, previous, parquet);

    Map<String, JsonNode> after = snapshot(out2, parquet);
    List<String> ids = new ArrayList<>();
    day2.forEach(r -> ids.add(r[0]));
    assertThat("every record of the input", after.keySet(), containsInAnyOrder(ids.toArray()));
    int rescored = 0;
    for (int i = 0; i < day2.size(); i++) {
      String id = day2.get(i)[0];
      if (i >= 3 && i < fortunes.size()) {
        assertThat("carried forward unchanged: " + id, after.get(id), equalTo(before.get(id)));
      } else {
        rescored++;
        assertThat(after.get(id).get("source").asText(), containsString(name + "-day2.jsonl"));
      }
    }
    long carried = fortunes.size() - 3;
    assertThat(second.summary.get("predictions").asLong(), equalTo((long) rescored));
    assertThat(second.summary.get("carried_forward").asLong(), equalTo(carried));
    assertThat(second.summary.get("nothing_lost").asBoolean(), is(true));
    assertThat(
        second.summary.get("nothing_lost_check").asText(),
        equalTo(
            "read "
                + day2.size()
                + " = "
                + rescored
                + " predictions + 0 failures + "
                + carried
                + " carried forward"));

    if (!sameFolder) {
      return;
    }
    // A third run over the same input changes nothing: every record is carried forward.
    Path out3 = sameFolder ? out2 : TMP.newFolder(name + "-3").toPath();
    String previous2 =
        out2.resolve(parquet ? "predictions*.parquet" : "predictions*.jsonl").toString();
    JobOutputs third = run(input2, out3, previous2, parquet);
    assertThat(snapshot(out3, parquet), equalTo(after));
    assertThat(third.summary.get("predictions").asLong(), equalTo(0L));
    assertThat(third.summary.get("carried_forward").asLong(), equalTo((long) day2.size()));
    assertThat(third.summary.get("nothing_lost").asBoolean(), is(true));
  }

  @Test
  public void aRunIntoItsOwnFolderKeepsEveryPredictionJsonLines() throws Exception {
    checkCompleteSnapshot("same-jsonl", false, true);
  }

  @Test
  public void aRunIntoItsOwnFolderKeepsEveryPredictionParquet() throws Exception {
    checkCompleteSnapshot("same-parquet", true, true);
  }

  @Test
  public void aDatedFolderHoldsTheWholeSnapshotJsonLines() throws Exception {
    checkCompleteSnapshot("dated-jsonl", false, false);
  }

  @Test
  public void aDatedFolderHoldsTheWholeSnapshotParquet() throws Exception {
    checkCompleteSnapshot("dated-parquet", true, false);
  }

  @Test
  public void anOrderedOutputPlacesCarriedPredictionsInInputOrder() throws Exception {
    List<Fortunes.Fortune> fortunes = Fortunes.load(1).subList(0, 8);
    Path input1 = TMP.getRoot().toPath().resolve("ordered-day1.jsonl");
    write(input1, day1(fortunes));
    Path out1 = TMP.newFolder("ordered-1").toPath();
    run(input1, out1, null, false, options -> options.setOrderedOutput(true));
    Map<String, JsonNode> before = snapshot(out1, false);

    Path input2 = TMP.getRoot().toPath().resolve("ordered-day2.jsonl");
    List<String[]> day2 = day2(fortunes);
    write(input2, day2);
    Path out2 = TMP.newFolder("ordered-2").toPath();
    JobOutputs second =
        run(
            input2,
            out2,
            out1.resolve("predictions*.jsonl").toString(),
            false,
            options -> options.setOrderedOutput(true));
    List<String> ids = new ArrayList<>();
    for (JsonNode p : second.predictions) {
      ids.add(p.get("id").asText());
    }
    List<String> inputOrder = new ArrayList<>();
    day2.forEach(r -> inputOrder.add(r[0]));
    assertThat("every record, in input order", ids, equalTo(inputOrder));
    for (int i = 3; i < fortunes.size(); i++) {
      String id = fortunes.get(i).id();
      assertThat(second.predictionsById().get(id), equalTo(before.get(id)));
    }
    assertThat(second.summary.get("carried_forward").asLong(), equalTo((long) fortunes.size() - 3));
  }

  @Test
  public void changedPredictionSettingsScoreEveryRecordAgain() throws Exception {
    List<Fortunes.Fortune> fortunes = Fortunes.load(1).subList(0, 12);
    Path input = TMP.getRoot().toPath().resolve("settings.jsonl");
    write(input, day1(fortunes));
    Path out1 = TMP.newFolder("settings-1").toPath();
    JobOutputs first = run(input, out1, null, false);
    String settings1 = first.summary.get("settings_sha256").asText();
    assertThat(settings1.length(), equalTo(64));
    for (JsonNode p : first.predictions) {
      assertThat(p.get("settings_sha256").asText(), equalTo(settings1));
    }

    Path out2 = TMP.newFolder("settings-2").toPath();
    JobOutputs second =
        run(
            input,
            out2,
            out1.resolve("predictions*.jsonl").toString(),
            false,
            options -> options.setMaxSequenceLength(64));
    String settings2 = second.summary.get("settings_sha256").asText();
    assertThat(settings2, not(equalTo(settings1)));
    assertThat(second.summary.get("carried_forward").asLong(), equalTo(0L));
    assertThat(second.summary.get("predictions").asLong(), equalTo((long) fortunes.size()));
    for (JsonNode p : second.predictions) {
      assertThat(p.get("settings_sha256").asText(), equalTo(settings2));
    }
  }

  @Test
  public void aFileReadInRangesFindsThePredictionsOfItsWholeRead() throws Exception {
    List<Fortunes.Fortune> fortunes = Fortunes.load(1).subList(0, 40);
    Path input = TMP.getRoot().toPath().resolve("ranges.jsonl");
    write(input, day1(fortunes));
    Path out1 = TMP.newFolder("ranges-1").toPath();
    JobOutputs first = run(input, out1, null, false, options -> options.setInputRangeBytes(0));
    Path out2 = TMP.newFolder("ranges-2").toPath();
    // Ranges of 300 bytes: the second run reads the file in pieces.
    JobOutputs second =
        run(
            input,
            out2,
            out1.resolve("predictions*.jsonl").toString(),
            false,
            options -> options.setInputRangeBytes(300));
    assertThat(second.summary.get("carried_forward").asLong(), equalTo((long) fortunes.size()));
    assertThat(second.summary.get("nothing_lost").asBoolean(), is(true));
    Map<String, Long> before = new TreeMap<>();
    for (JsonNode p : first.predictions) {
      before.put(p.get("id").asText(), p.get("index").asLong());
    }
    Map<String, Long> after = new TreeMap<>();
    for (JsonNode p : second.predictions) {
      after.put(p.get("id").asText(), p.get("index").asLong());
    }
    assertThat("positions, read whole and in ranges", after, equalTo(before));
  }

  @Test
  public void aSecondRunScoresOnlyNewChangedAndFailedRecords() throws Exception {
    List<Fortunes.Fortune> fortunes = Fortunes.load(1);
    List<String[]> day1 = new ArrayList<>();
    for (Fortunes.Fortune f : fortunes) {
      day1.add(new String[] {f.id(), f.text()});
    }
    day1.add(new String[] {"broken", "   "}); // fails on day 1
    Path input1 = TMP.getRoot().toPath().resolve("day1.jsonl");
    write(input1, day1);
    Path out1 = TMP.newFolder("day1").toPath();
    // Day 1 writes Parquet: day 2 reads its predictions back from Parquet.
    JobOutputs first = run(input1, out1, null, true);
    assertThat(first.summary.get("predictions").asLong(), equalTo((long) fortunes.size()));
    assertThat(first.summary.get("failures").asLong(), equalTo(1L));

    List<String[]> day2 = new ArrayList<>();
    for (int i = 0; i < fortunes.size(); i++) {
      Fortunes.Fortune f = fortunes.get(i);
      day2.add(new String[] {f.id(), i < 3 ? f.text() + " (edited)" : f.text()});
    }
    day2.add(new String[] {"broken", "Fixed overnight."});
    for (int i = 0; i < 4; i++) {
      day2.add(new String[] {"new-" + i, "A record that arrived on day two, number " + i + "."});
    }
    Path input2 = TMP.getRoot().toPath().resolve("day2.jsonl");
    write(input2, day2);
    Path out2 = TMP.newFolder("day2").toPath();
    JobOutputs second = run(input2, out2, out1.resolve("predictions*.parquet").toString(), false);

    List<String> scored = new ArrayList<>();
    for (JsonNode p : second.predictions) {
      assertThat(p.get("input_sha256").asText().length(), equalTo(64));
      if (p.get("source").asText().endsWith("day2.jsonl")) {
        scored.add(p.get("id").asText());
      }
    }
    assertThat("a complete snapshot", second.predictions.size(), equalTo(day2.size()));
    List<String> expected = new ArrayList<>();
    for (int i = 0; i < 3; i++) {
      expected.add(fortunes.get(i).id());
    }
    expected.add("broken");
    for (int i = 0; i < 4; i++) {
      expected.add("new-" + i);
    }
    assertThat(scored, containsInAnyOrder(expected.toArray()));
    long unchanged = fortunes.size() - 3;
    assertThat(second.summary.get("carried_forward").asLong(), equalTo(unchanged));
    assertThat(second.summary.get("records_read").asLong(), equalTo((long) day2.size()));
    assertThat(second.summary.get("nothing_lost").asBoolean(), is(true));
    assertThat(
        second.summary.get("nothing_lost_check").asText(),
        containsString("+ " + unchanged + " carried forward"));
  }

  @Test
  public void aPreviousPatternThatMatchesNothingIsRefused() throws Exception {
    Path input = TMP.getRoot().toPath().resolve("one.jsonl");
    write(input, List.of(new String[][] {{"a", "text"}}));
    BatchInferenceOptions options =
        org.apache.beam.sdk.options.PipelineOptionsFactory.as(BatchInferenceOptions.class);
    options.setInput(input.toString());
    options.setOutput(TMP.newFolder("never").toString());
    options.setPreviousPredictions(TMP.getRoot() + "/nothing-here/predictions*.jsonl");
    try {
      BatchInference.build(Pipeline.create(options), options);
      throw new AssertionError("expected a refusal");
    } catch (InvalidJobException e) {
      assertThat(e.getMessage(), containsString("--previousPredictions="));
      assertThat(e.getMessage(), containsString("leave --previousPredictions unset"));
    }
  }
}
