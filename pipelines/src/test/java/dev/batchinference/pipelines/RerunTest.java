package dev.batchinference.pipelines;

import static org.hamcrest.MatcherAssert.assertThat;
import static org.hamcrest.Matchers.equalTo;
import static org.hamcrest.Matchers.is;

import dev.batchinference.pipelines.options.BatchInferenceOptions;
import dev.batchinference.transforms.testing.Fortunes;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.apache.beam.sdk.testing.TestPipeline;
import org.junit.BeforeClass;
import org.junit.ClassRule;
import org.junit.Test;
import org.junit.rules.TemporaryFolder;
import org.junit.runner.RunWith;
import org.junit.runners.JUnit4;

/** Running the same job again to the same output replaces its files instead of adding to them. */
@RunWith(JUnit4.class)
public class RerunTest {

  @ClassRule public static final TemporaryFolder TMP = new TemporaryFolder();

  private static Path input;
  private static int records;

  @BeforeClass
  public static void writeInput() throws Exception {
    List<Fortunes.Fortune> fortunes = Fortunes.load(2);
    records = fortunes.size();
    input = TMP.getRoot().toPath().resolve("in.jsonl");
    Fortunes.writeJsonLines(input, fortunes);
    Files.writeString(
        input, "not json\n", java.nio.file.StandardOpenOption.APPEND); // one failure per run
  }

  private static void run(Path out, boolean singleFile, BatchInferenceOptions.OutputFormat format) {
    TestPipeline pipeline = TestPipeline.create().enableAbandonedNodeEnforcement(false);
    BatchInferenceOptions options = pipeline.getOptions().as(BatchInferenceOptions.class);
    options.setInput(input.toString());
    options.setOutput(out.toString());
    options.setSingleOutputFile(singleFile);
    options.setOutputFormat(format);
    BatchInference.build(pipeline, options);
    pipeline.run().waitUntilFinish();
  }

  private static List<String> files(Path dir) throws Exception {
    List<String> names = new ArrayList<>();
    try (DirectoryStream<Path> listing = Files.newDirectoryStream(dir)) {
      for (Path p : listing) {
        names.add(p.getFileName().toString());
      }
    }
    names.sort(null);
    return names;
  }

  @Test
  public void aSecondRunReplacesTheFirstRunsFiles() throws Exception {
    Path out = TMP.newFolder("out").toPath();
    // Unrelated files in the output directory are left alone.
    Files.writeString(out.resolve("predictions-notes.txt"), "mine");

    run(out, false, BatchInferenceOptions.OutputFormat.JSONL);
    List<String> first = files(out);
    assertThat(
        "the first run wrote shards", first.stream().anyMatch(f -> f.contains("-of-")), is(true));
    assertThat(JobOutputs.read(out).predictions.size(), equalTo(records));

    run(out, true, BatchInferenceOptions.OutputFormat.JSONL);
    assertThat(
        files(out),
        equalTo(
            List.of(
                "failures.jsonl",
                "predictions-notes.txt",
                "predictions.jsonl",
                "report.html",
                "summary.json")));
    JobOutputs second = JobOutputs.read(out);
    assertThat("no prediction twice", second.predictions.size(), equalTo(records));
    assertThat(second.failures.size(), equalTo(1));

    // Switching format replaces the JSON Lines files with Parquet ones.
    run(out, true, BatchInferenceOptions.OutputFormat.PARQUET);
    assertThat(
        files(out),
        equalTo(
            List.of(
                "failures-00000-of-00001.parquet",
                "predictions-00000-of-00001.parquet",
                "predictions-notes.txt",
                "report.html",
                "summary.json")));
  }
}
