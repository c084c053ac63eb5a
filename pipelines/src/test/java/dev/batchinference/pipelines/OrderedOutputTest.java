package dev.batchinference.pipelines;

import static org.hamcrest.MatcherAssert.assertThat;
import static org.hamcrest.Matchers.equalTo;
import static org.hamcrest.Matchers.is;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.batchinference.pipelines.options.BatchInferenceOptions;
import dev.batchinference.transforms.io.ReadRecords;
import dev.batchinference.transforms.testing.Fortunes;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Collectors;
import java.util.stream.Stream;
import org.apache.beam.sdk.testing.TestPipeline;
import org.junit.BeforeClass;
import org.junit.ClassRule;
import org.junit.Test;
import org.junit.rules.TemporaryFolder;
import org.junit.runner.RunWith;
import org.junit.runners.JUnit4;

/** --orderedOutput: predictions in input order, as shards or one file, with several input files. */
@RunWith(JUnit4.class)
public class OrderedOutputTest {

  @ClassRule public static final TemporaryFolder TMP = new TemporaryFolder();
  private static final ObjectMapper JSON = new ObjectMapper();
  private static Path inputs;
  private static List<String> expectedIds;

  @BeforeClass
  public static void writeInputs() throws Exception {
    inputs = TMP.newFolder("in").toPath();
    List<Fortunes.Fortune> fortunes = Fortunes.load(3);
    int third = fortunes.size() / 3;
    // Files in name order a, b, c hold the fortunes out of id order, on purpose.
    Fortunes.writeJsonLines(
        inputs.resolve("a.jsonl"), fortunes.subList(2 * third, fortunes.size()));
    Fortunes.writeJsonLines(inputs.resolve("b.jsonl"), fortunes.subList(0, third));
    Fortunes.writeJsonLines(inputs.resolve("c.jsonl"), fortunes.subList(third, 2 * third));
    expectedIds = new ArrayList<>();
    for (Fortunes.Fortune f : fortunes.subList(2 * third, fortunes.size())) {
      expectedIds.add(f.id());
    }
    for (Fortunes.Fortune f : fortunes.subList(0, 2 * third)) {
      expectedIds.add(f.id());
    }
  }

  private static List<String> run(Path out, boolean singleFile) throws Exception {
    return run(out, singleFile, ReadRecords.DEFAULT_RANGE_BYTES);
  }

  private static List<String> run(Path out, boolean singleFile, long inputRangeBytes)
      throws Exception {
    TestPipeline pipeline = TestPipeline.create().enableAbandonedNodeEnforcement(false);
    BatchInferenceOptions options = pipeline.getOptions().as(BatchInferenceOptions.class);
    options.setInput(inputs.resolve("*.jsonl").toString());
    options.setOutput(out.toString());
    options.setOrderedOutput(true);
    options.setSingleOutputFile(singleFile);
    options.setInferenceShards(8);
    options.setInputRangeBytes(inputRangeBytes);
    BatchInference.build(pipeline, options);
    pipeline.run().waitUntilFinish();
    List<Path> files;
    try (Stream<Path> listing = Files.list(out)) {
      files =
          listing
              .filter(p -> p.getFileName().toString().startsWith("predictions"))
              .sorted()
              .collect(Collectors.toList());
    }
    List<String> ids = new ArrayList<>();
    for (Path f : files) {
      for (String line : Files.readAllLines(f)) {
        JsonNode p = JSON.readTree(line);
        ids.add(p.get("id").asText());
      }
    }
    return ids;
  }

  @Test
  public void shardsConcatenateInInputOrder() throws Exception {
    Path out = TMP.newFolder("shards").toPath();
    assertThat(run(out, false), equalTo(expectedIds));
    try (Stream<Path> listing = Files.list(out)) {
      List<String> names =
          listing.map(p -> p.getFileName().toString()).sorted().collect(Collectors.toList());
      assertThat(
          names,
          equalTo(
              List.of(
                  "failures-00000-of-00001.jsonl",
                  "predictions-00000-of-00003.jsonl",
                  "predictions-00001-of-00003.jsonl",
                  "predictions-00002-of-00003.jsonl",
                  "report.html",
                  "summary.json")));
    }
  }

  @Test
  public void filesReadInRangesKeepTheInputOrder() throws Exception {
    Path out = TMP.newFolder("ranges").toPath();
    // Ranges of 500 bytes: each file is read by dozens of readers.
    assertThat(run(out, true, 500), equalTo(expectedIds));
  }

  @Test
  public void oneFileInInputOrder() throws Exception {
    Path out = TMP.newFolder("single").toPath();
    assertThat(run(out, true), equalTo(expectedIds));
    assertThat(Files.exists(out.resolve("predictions.jsonl")), is(true));
  }
}
