package dev.batchinference.pipelines.summary;

import static org.hamcrest.MatcherAssert.assertThat;
import static org.hamcrest.Matchers.containsString;
import static org.hamcrest.Matchers.equalTo;

import com.fasterxml.jackson.databind.ObjectMapper;
import dev.batchinference.pipelines.cli.CommandLine;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.ClassRule;
import org.junit.Test;
import org.junit.rules.TemporaryFolder;
import org.junit.runner.RunWith;
import org.junit.runners.JUnit4;

/**
 * {@link RunStatus}: a summary's exit status, the same one the command line gave its run, and its
 * {@code main} for schedulers that only see the summary.
 */
@RunWith(JUnit4.class)
public class RunStatusTest {

  @ClassRule public static final TemporaryFolder TMP = new TemporaryFolder();

  private static final ObjectMapper JSON = new ObjectMapper();

  private static final String GATE_EXCEEDED =
      "\"failure_gate\":{\"max_failure_rate\":0.1,\"exceeded\":true,"
          + "\"message\":\"too many failures: 3 of 5 records failed (60.0%)\"}";
  private static final String ALERTS =
      "\"alerts\":[{\"metric\":\"psi\",\"message\":\"score PSI 0.4 above 0.2\"},"
          + "{\"metric\":\"rate\",\"message\":\"throughput fell by 80%\"}]";

  private static RunStatus of(String summaryFields) throws Exception {
    return RunStatus.of(
        JSON.readTree(
            "{\"records_read\":5,\"predictions\":2,\"failures\":3," + summaryFields + "}"));
  }

  @Test
  public void aSummaryThatLostNothingPassedTheGateAndHasNoAlertsIsZero() throws Exception {
    RunStatus status =
        of(
            "\"nothing_lost\":true,\"alerts\":[],"
                + "\"failure_gate\":{\"max_failure_rate\":0.9,\"exceeded\":false}");
    assertThat(status.line(), status.exitStatus().code(), equalTo(0));
    assertThat(status.line(), equalTo("OK: 5 records read, 2 predicted, 3 failed, nothing lost"));
  }

  @Test
  public void driftAlertsAreThreeAndNamedOnOneLine() throws Exception {
    RunStatus status =
        of(
            "\"nothing_lost\":true,"
                + ALERTS
                + ",\"comparison\":{\"previous_summary\":\"gs://b/runs/latest/summary.json\"}");
    assertThat(status.line(), status.exitStatus().code(), equalTo(ExitStatus.DRIFT_ALERT.code()));
    assertThat(
        status.line(),
        equalTo(
            "DRIFT ALERT: 2 drift alerts against gs://b/runs/latest/summary.json:"
                + " score PSI 0.4 above 0.2; throughput fell by 80%"));
  }

  @Test
  public void theFailureGateWinsOverDriftAlerts() throws Exception {
    RunStatus status = of("\"nothing_lost\":true," + GATE_EXCEEDED + "," + ALERTS);
    assertThat(
        status.line(), status.exitStatus().code(), equalTo(ExitStatus.TOO_MANY_FAILURES.code()));
    assertThat(
        status.line(),
        equalTo("TOO MANY FAILURES: too many failures: 3 of 5 records failed (60.0%)"));
  }

  @Test
  public void aBrokenNothingLostCheckWinsOverEverything() throws Exception {
    RunStatus status =
        of(
            "\"nothing_lost\":false,\"nothing_lost_check\":\"read 5 != 2 predictions + 2 failures\","
                + GATE_EXCEEDED
                + ","
                + ALERTS);
    assertThat(status.line(), status.exitStatus().code(), equalTo(1));
    assertThat(
        status.line(),
        equalTo(
            "LOST RECORDS: the nothing-lost check failed: read 5 != 2 predictions + 2 failures"));
    // A summary that does not say nothing was lost is not taken to say so.
    assertThat(of("\"alerts\":[]").exitStatus().code(), equalTo(1));
  }

  /** The status from a real run's summary is the one the command line exited with. */
  @Test
  public void aRunsSummaryGivesTheStatusItsCommandLineGave() throws Exception {
    Path input = TMP.newFile("mostly-bad.jsonl").toPath();
    Files.writeString(
        input,
        "{\"id\":\"a\",\"text\":\"The quick brown fox.\"}\n"
            + "{\"id\":\"b\",\"text\":\"\"}\n"
            + "{\"id\":\"c\"}\n"
            + "{\"id\":\"d\",\"text\":\"   \"}\n"
            + "{\"id\":\"e\",\"text\":\"Jumps over the lazy dog.\"}\n");
    for (String maxFailureRate : new String[] {"0.1", "0.6"}) {
      Path output = TMP.newFolder("out-" + maxFailureRate).toPath();
      ByteArrayOutputStream ignored = new ByteArrayOutputStream();
      PrintStream sink = new PrintStream(ignored, true, StandardCharsets.UTF_8);
      int commandLine =
          CommandLine.run(
              new String[] {
                "--input=" + input,
                "--output=" + output,
                "--progress=false",
                "--maxFailureRate=" + maxFailureRate
              },
              sink,
              sink);
      Result checked = main(output.resolve("summary.json").toString());
      assertThat(checked.out, checked.status, equalTo(commandLine));
      if (maxFailureRate.equals("0.1")) {
        assertThat(commandLine, equalTo(ExitStatus.TOO_MANY_FAILURES.code()));
        assertThat(
            checked.out,
            containsString(
                "TOO MANY FAILURES: too many failures: 3 of 5 records failed (60.0%), above"
                    + " --maxFailureRate=0.1; most frequent: preprocess:"));
      } else {
        assertThat(commandLine, equalTo(0));
        assertThat(
            checked.out, equalTo("OK: 5 records read, 2 predicted, 3 failed, nothing lost\n"));
      }
      assertThat("one line", checked.out.lines().count(), equalTo(1L));
    }
  }

  @Test
  public void aMissingSummaryIsOneAndNoArgumentIsTwo() throws Exception {
    Result missing = main(TMP.getRoot().toPath().resolve("never/summary.json").toString());
    assertThat(missing.out, missing.status, equalTo(1));
    assertThat(missing.out, containsString("NO SUMMARY: "));
    assertThat(main().status, equalTo(2));
  }

  private static final class Result {
    final int status;
    final String out;

    Result(int status, String out) {
      this.status = status;
      this.out = out;
    }
  }

  private static Result main(String... args) {
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    ByteArrayOutputStream err = new ByteArrayOutputStream();
    int status =
        RunStatus.run(
            args,
            new PrintStream(out, true, StandardCharsets.UTF_8),
            new PrintStream(err, true, StandardCharsets.UTF_8));
    return new Result(status, out.toString(StandardCharsets.UTF_8));
  }
}
