package dev.batchinference.pipelines;

import static org.hamcrest.MatcherAssert.assertThat;
import static org.hamcrest.Matchers.containsString;
import static org.hamcrest.Matchers.equalTo;
import static org.hamcrest.Matchers.hasItems;
import static org.hamcrest.Matchers.not;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import org.junit.ClassRule;
import org.junit.Test;
import org.junit.rules.TemporaryFolder;
import org.junit.runner.RunWith;
import org.junit.runners.JUnit4;

/** The command line: help, exit status, the result line, and the DirectRunner defaults. */
@RunWith(JUnit4.class)
public class CommandLineTest {

  @ClassRule public static final TemporaryFolder TMP = new TemporaryFolder();

  private final ByteArrayOutputStream out = new ByteArrayOutputStream();
  private final ByteArrayOutputStream err = new ByteArrayOutputStream();

  private int run(String... args) {
    return CommandLine.run(
        args,
        new PrintStream(out, true, StandardCharsets.UTF_8),
        new PrintStream(err, true, StandardCharsets.UTF_8));
  }

  @Test
  public void helpListsEveryOptionWithItsDefault() {
    assertThat(run("--help"), equalTo(0));
    String help = out.toString(StandardCharsets.UTF_8);
    assertThat(help, containsString("--input"));
    assertThat(help, containsString("Default: src/samples/fortunes.jsonl"));
    assertThat(help, containsString("--batchSize"));
    assertThat(help, containsString("Default: 32"));
    assertThat(help, containsString("--executionProvider"));
  }

  @Test
  public void runsTheJobAndPrintsOneResultLine() throws Exception {
    Path input = TMP.newFile("in.jsonl").toPath();
    Files.writeString(
        input,
        "{\"id\":\"a\",\"text\":\"The quick brown fox.\"}\n"
            + "{\"id\":\"b\",\"text\":\"\"}\n"
            + "{\"id\":\"c\",\"text\":\"Jumps over the lazy dog.\"}\n");
    Path output = TMP.newFolder("out").toPath();
    int status = run("--input=" + input, "--output=" + output, "--progress=false");
    assertThat(err.toString(StandardCharsets.UTF_8), status, equalTo(0));
    String result = out.toString(StandardCharsets.UTF_8);
    assertThat(
        result, containsString("OK: 3 records read, 2 predicted, 1 failed {\"preprocess\":1}"));
    assertThat(result, containsString("Summary: " + output.resolve("summary.json")));
  }

  /** A file that breaks off is named on the result line, with the records read before the cut. */
  @Test
  public void aFileCutShortIsNamedOnTheResultLine() throws Exception {
    Path input = TMP.newFolder("cut").toPath().resolve("cut.csv");
    Files.writeString(
        input, "id,text\na,The quick brown fox.\nb,\"a quote that never closes\nc,Jumps.\n");
    Path output = TMP.newFolder("cut-out").toPath();
    int status =
        run("--input=" + input, "--inputFormat=CSV", "--output=" + output, "--progress=false");
    assertThat(err.toString(StandardCharsets.UTF_8), status, equalTo(0));
    String result = out.toString(StandardCharsets.UTF_8);
    String line =
        Arrays.stream(result.split("\\R")).filter(l -> l.startsWith("OK:")).findFirst().orElse("");
    assertThat(result, line, containsString("OK: 2 records read, 1 predicted, 1 failed"));
    assertThat(
        line,
        containsString(
            "UNREADABLE FILES: 1 file could not be read to the end, the rest of each is one read"
                + " failure (see unreadable_files in the summary): "
                + input
                + " after 1 record."));
  }

  @Test
  public void withoutWaitingItReturnsOnceSubmitted() throws Exception {
    Path input = TMP.newFile("nowait.jsonl").toPath();
    Files.writeString(input, "{\"id\":\"a\",\"text\":\"hello\"}\n");
    Path output = TMP.newFolder("nowait-out").toPath();
    int status =
        run(
            "--input=" + input,
            "--output=" + output,
            "--waitUntilFinish=false",
            "--progress=false");
    assertThat(err.toString(StandardCharsets.UTF_8), status, equalTo(0));
    String said = out.toString(StandardCharsets.UTF_8);
    assertThat(said, containsString("Submitted to DirectRunner"));
    assertThat(said, containsString("Not waiting for it to finish"));
    assertThat(said, containsString(output.resolve("summary.json").toString()));
  }

  @Test
  public void anUnknownOptionExitsWithTwo() {
    assertThat(run("--batchSiz=3"), equalTo(2));
    assertThat(err.toString(StandardCharsets.UTF_8), containsString("--help"));
  }

  @Test
  public void aJobThatCannotStartExitsWithTwoAndSaysWhy() throws Exception {
    Path input = TMP.newFile("one.jsonl").toPath();
    Files.writeString(input, "{\"id\":\"a\",\"text\":\"hello\"}\n");
    int status =
        run(
            "--input=" + input,
            "--model=/nonexistent.onnx",
            "--output=" + TMP.newFolder("never"),
            "--progress=false");
    assertThat(status, equalTo(2));
    assertThat(
        err.toString(StandardCharsets.UTF_8), containsString("error: The model cannot be used"));
  }

  @Test
  public void directRunnerDefaultsDoNotOverrideTheUser() {
    String[] args = CommandLine.withRunnerDefaults(new String[] {"--targetParallelism=1"});
    assertThat(Arrays.asList(args), hasItems("--targetParallelism=1", "--blockOnRun=false"));
    assertThat(Arrays.asList(args), not(hasItems("--targetParallelism=2")));
    String[] flink = CommandLine.withRunnerDefaults(new String[] {"--runner=FlinkRunner"});
    assertThat(Arrays.asList(flink), not(hasItems("--blockOnRun=false")));
  }

  @Test
  public void tooFewNewRecordsSkipTheRunWritingNothing() throws Exception {
    Path input = TMP.newFile("threshold.jsonl").toPath();
    Files.writeString(
        input, "{\"id\":\"a\",\"text\":\"hello\"}\n{\"id\":\"b\",\"text\":\"bye\"}\n");
    Path previous = TMP.newFile("threshold-summary.json").toPath();
    Files.writeString(
        previous, "{\"started_at\":\"" + java.time.Instant.now().minusSeconds(60) + "\"}");
    Path output = TMP.getRoot().toPath().resolve("threshold-out");
    String[] args = {
      "--input=" + input,
      "--output=" + output,
      "--previousSummary=" + previous,
      "--minNewRecords=3",
      "--progress=false"
    };
    assertThat(err.toString(StandardCharsets.UTF_8), run(args), equalTo(0));
    assertThat(
        out.toString(StandardCharsets.UTF_8),
        containsString("skipped: 2 new records (in 1 file) since "));
    assertThat(
        out.toString(StandardCharsets.UTF_8), containsString("fewer than --minNewRecords=3"));
    assertThat("nothing written", Files.exists(output), equalTo(false));

    String[] withoutPrevious = {"--input=" + input, "--output=" + output, "--minNewRecords=3"};
    assertThat(run(withoutPrevious), equalTo(2));
    assertThat(err.toString(StandardCharsets.UTF_8), containsString("set --previousSummary"));
  }
}
