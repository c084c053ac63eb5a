package dev.batchinference.pipelines.cli;

import static org.hamcrest.MatcherAssert.assertThat;
import static org.hamcrest.Matchers.containsString;
import static org.hamcrest.Matchers.equalTo;
import static org.hamcrest.Matchers.hasItems;
import static org.hamcrest.Matchers.not;

import com.fasterxml.jackson.databind.JsonNode;
import dev.batchinference.pipelines.JobOutputs;
import dev.batchinference.pipelines.summary.ExitStatus;
import dev.batchinference.transforms.model.SharedResources;
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
    // One failure in three records is above the default failure gate (0.1): raise it.
    int status =
        run("--input=" + input, "--output=" + output, "--progress=false", "--maxFailureRate=0.5");
    assertThat(err.toString(StandardCharsets.UTF_8), status, equalTo(0));
    String result = out.toString(StandardCharsets.UTF_8);
    assertThat(
        result, containsString("OK: 3 records read, 2 predicted, 1 failed {\"preprocess\":1}"));
    assertThat(result, containsString("Summary: " + output.resolve("summary.json")));
  }

  /**
   * On the DirectRunner the workers run in this JVM: they use the session and tokenizer that the
   * checks opened before the run, instead of loading them a second time.
   */
  @Test
  public void theWorkersUseTheModelAndTokenizerTheChecksOpened() throws Exception {
    Path dir = TMP.newFolder("loaded-once").toPath();
    Path model = dir.resolve("model.onnx");
    Path tokenizer = dir.resolve("tokenizer.json");
    try (java.io.InputStream in =
        getClass().getClassLoader().getResourceAsStream("all-minilm-l6-v2-q.onnx")) {
      Files.copy(in, model);
    }
    try (java.io.InputStream in =
        getClass().getClassLoader().getResourceAsStream("all-minilm-l6-v2-q-tokenizer.json")) {
      Files.copy(in, tokenizer);
    }
    Path input = dir.resolve("in.jsonl");
    Files.writeString(
        input, "{\"id\":\"a\",\"text\":\"One.\"}\n{\"id\":\"b\",\"text\":\"Two.\"}\n");
    int status =
        run(
            "--input=" + input,
            "--output=" + dir.resolve("out"),
            "--model=" + model,
            "--tokenizer=" + tokenizer,
            "--runner=DirectRunner",
            "--progress=false");
    assertThat(err.toString(StandardCharsets.UTF_8), status, equalTo(0));
    assertThat(
        out.toString(StandardCharsets.UTF_8), containsString("OK: 2 records read, 2 predicted"));
    assertThat(
        "model sessions opened", SharedResources.loadCountContaining(model.toString()), equalTo(1));
    assertThat(
        "tokenizers opened", SharedResources.loadCountContaining(tokenizer.toString()), equalTo(1));
  }

  /** A file that breaks off is named on the result line, with the records read before the cut. */
  @Test
  public void aFileCutShortIsNamedOnTheResultLine() throws Exception {
    Path input = TMP.newFolder("cut").toPath().resolve("cut.csv");
    Files.writeString(
        input, "id,text\na,The quick brown fox.\nb,\"a quote that never closes\nc,Jumps.\n");
    Path output = TMP.newFolder("cut-out").toPath();
    // One of two records failed: past the default failure gate, which is not what this tests.
    int status =
        run(
            "--input=" + input,
            "--inputFormat=CSV",
            "--output=" + output,
            "--progress=false",
            "--maxFailureRate=-1");
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

  /** Two good texts and three that fail in preprocessing: 60% failed. */
  private static Path mostlyBad() throws Exception {
    Path input = TMP.getRoot().toPath().resolve("mostly-bad.jsonl");
    if (!Files.exists(input)) {
      Files.writeString(
          input,
          "{\"id\":\"a\",\"text\":\"The quick brown fox.\"}\n"
              + "{\"id\":\"b\",\"text\":\"\"}\n"
              + "{\"id\":\"c\"}\n"
              + "{\"id\":\"d\",\"text\":\"   \"}\n"
              + "{\"id\":\"e\",\"text\":\"Jumps over the lazy dog.\"}\n");
    }
    return input;
  }

  @Test
  public void aRunThatMostlyFailedWritesEverythingAndExitsWithFour() throws Exception {
    Path output = TMP.newFolder("mostly-bad-out").toPath();
    int status = run("--input=" + mostlyBad(), "--output=" + output, "--progress=false");
    String said = err.toString(StandardCharsets.UTF_8);
    assertThat(said, status, equalTo(ExitStatus.TOO_MANY_FAILURES.code()));
    assertThat(
        out.toString(StandardCharsets.UTF_8),
        containsString("TOO MANY FAILURES: 5 records read, 2 predicted, 3 failed"));
    assertThat(
        said,
        containsString(
            "error: too many failures: 3 of 5 records failed (60.0%), above --maxFailureRate=0.1;"
                + " most frequent: preprocess:"
                + " dev.batchinference.transforms.preprocess.InvalidRecordException (3), e.g. \""));
    assertThat(said, containsString("exit status 4"));
    assertThat(
        "one line says it", said.lines().filter(l -> l.contains("too many")).count(), equalTo(1L));
    JobOutputs written = JobOutputs.read(output);
    assertThat("everything is written", written.predictions.size(), equalTo(2));
    assertThat(written.failures.size(), equalTo(3));
    JsonNode summary = written.summary;
    assertThat(summary.path("failure_rate").asDouble(), equalTo(0.6));
    assertThat(summary.path("failure_gate").path("exceeded").asBoolean(), equalTo(true));
    assertThat(summary.path("nothing_lost").asBoolean(), equalTo(true));
  }

  @Test
  public void theFailureGateCanBeRaisedOrTurnedOff() throws Exception {
    assertThat(
        run(
            "--input=" + mostlyBad(),
            "--output=" + TMP.newFolder("gate-raised"),
            "--progress=false",
            "--maxFailureRate=0.6"),
        equalTo(0));
    assertThat(out.toString(StandardCharsets.UTF_8), containsString("OK: 5 records read"));
    Path off = TMP.newFolder("gate-off").toPath();
    assertThat(
        run("--input=" + mostlyBad(), "--output=" + off, "--progress=false", "--maxFailureRate=-1"),
        equalTo(0));
    JsonNode summary = JobOutputs.read(off).summary;
    assertThat(summary.path("failure_gate").path("max_failure_rate").isNull(), equalTo(true));
    assertThat(summary.path("failure_gate").path("exceeded").asBoolean(), equalTo(false));
  }

  private static String[] concat(String[] args, String... more) {
    String[] all = Arrays.copyOf(args, args.length + more.length);
    System.arraycopy(more, 0, all, args.length, more.length);
    return all;
  }

  @Test
  public void anIncrementalRunCountsWhatItCarriedForwardOnTheResultLine() throws Exception {
    Path input = TMP.newFile("incremental.jsonl").toPath();
    Files.writeString(
        input,
        "{\"id\":\"a\",\"text\":\"The quick brown fox.\"}\n"
            + "{\"id\":\"b\",\"text\":\"Jumps over the lazy dog.\"}\n");
    Path output = TMP.newFolder("incremental-out").toPath();
    String[] args = {"--input=" + input, "--output=" + output, "--progress=false"};
    assertThat(err.toString(StandardCharsets.UTF_8), run(args), equalTo(0));
    Files.writeString(
        input,
        "{\"id\":\"c\",\"text\":\"A new text.\"}\n",
        java.nio.file.StandardOpenOption.APPEND);
    out.reset();
    int status = run(concat(args, "--previousPredictions=" + output + "/predictions*.jsonl"));
    assertThat(err.toString(StandardCharsets.UTF_8), status, equalTo(0));
    assertThat(
        out.toString(StandardCharsets.UTF_8),
        containsString("OK: 3 records read, 1 predicted, 0 failed {}, 2 carried forward in "));
    assertThat(JobOutputs.read(output).predictions.size(), equalTo(3));
  }

  @Test
  public void helpListsTheOptionsInGroupsOnePerConcern() {
    assertThat(run("--help"), equalTo(0));
    // A newline first, so that the first group's header is found like the others.
    String help = "\n" + out.toString(StandardCharsets.UTF_8);
    // Each group (an options interface) with one of its own options, which --help lists under it.
    java.util.Map<String, String> groups = new java.util.LinkedHashMap<>();
    groups.put("InputOptions", "--inputFormat");
    groups.put("OutputOptions", "--outputFormat");
    groups.put("BigQueryIoOptions", "--inputTable");
    groups.put("PostgresOptions", "--predictionsDbTable");
    groups.put("ModelOptions", "--task");
    groups.put("TextOptions", "--tokenizer");
    groups.put("ClassifierOptions", "--featuresField");
    groups.put("BatchingOptions", "--maxBatchWeight");
    groups.put("OnnxRuntimeOptions", "--intraOpThreads");
    groups.put("DriftOptions", "--maxPsi");
    groups.put("RunOptions", "--previousPredictions");
    for (java.util.Map.Entry<String, String> group : groups.entrySet()) {
      String header = "dev.batchinference.pipelines.options." + group.getKey() + ":";
      int start = help.indexOf("\n" + header + "\n");
      assertThat(
          "group " + header + " in --help:" + help,
          start,
          org.hamcrest.Matchers.greaterThanOrEqualTo(0));
      // The group runs to the next line that names an interface.
      java.util.regex.Matcher next =
          java.util.regex.Pattern.compile("\n[a-z][\\w.]*:\n").matcher(help);
      int end = next.find(start + header.length() + 2) ? next.start() : help.length();
      assertThat(header, help.substring(start, end), containsString(group.getValue() + "="));
    }
  }

  /**
   * The console is for people: progress, warnings and the result line. The summary is in
   * summary.json (and in the log only at DEBUG), never printed whole, whether through the command
   * line's streams or the log, which writes to the process's own.
   */
  @Test
  public void theConsoleHoldsTheResultLineNotTheSummary() throws Exception {
    Path input = TMP.newFile("console.jsonl").toPath();
    Files.writeString(
        input,
        "{\"id\":\"a\",\"text\":\"The quick brown fox.\"}\n"
            + "{\"id\":\"b\",\"text\":\"Jumps over the lazy dog.\"}\n");
    Path output = TMP.newFolder("console-out").toPath();
    ByteArrayOutputStream processOut = new ByteArrayOutputStream();
    ByteArrayOutputStream processErr = new ByteArrayOutputStream();
    PrintStream systemOut = System.out;
    PrintStream systemErr = System.err;
    int status;
    try {
      System.setOut(new PrintStream(processOut, true, StandardCharsets.UTF_8));
      System.setErr(new PrintStream(processErr, true, StandardCharsets.UTF_8));
      status = run("--input=" + input, "--output=" + output, "--progress=false");
    } finally {
      System.setOut(systemOut);
      System.setErr(systemErr);
    }
    String console =
        out.toString(StandardCharsets.UTF_8)
            + err.toString(StandardCharsets.UTF_8)
            + processOut.toString(StandardCharsets.UTF_8)
            + processErr.toString(StandardCharsets.UTF_8);
    assertThat(console, status, equalTo(0));
    assertThat(
        out.toString(StandardCharsets.UTF_8),
        containsString("OK: 2 records read, 2 predicted, 0 failed {} in "));
    assertThat(console, not(containsString("\"nothing_lost_check\"")));
    assertThat(console, not(containsString("\"prediction_distribution\"")));
    assertThat(
        Files.readString(output.resolve("summary.json")), containsString("\"nothing_lost_check\""));
  }
}
