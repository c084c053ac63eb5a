package dev.batchinference.pipelines.cli;

import static org.hamcrest.MatcherAssert.assertThat;
import static org.hamcrest.Matchers.containsString;
import static org.hamcrest.Matchers.equalTo;
import static org.hamcrest.Matchers.hasItems;
import static org.hamcrest.Matchers.not;
import static org.hamcrest.Matchers.nullValue;

import dev.batchinference.pipelines.BatchInference;
import java.io.ByteArrayOutputStream;
import java.io.OutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.zip.GZIPOutputStream;
import org.junit.ClassRule;
import org.junit.Test;
import org.junit.rules.TemporaryFolder;
import org.junit.runner.RunWith;
import org.junit.runners.JUnit4;

/**
 * The runner a command line without {@code --runner} gets: the DirectRunner for small inputs,
 * Flink's embedded mini cluster above the threshold, and an explicit {@code --runner} always wins.
 */
@RunWith(JUnit4.class)
public class DefaultRunnerTest {

  @ClassRule public static final TemporaryFolder TMP = new TemporaryFolder();

  /** The README's default input: 2,000 fortunes, 393,556 bytes of JSON Lines. */
  private static final Path FORTUNES =
      Path.of("..", "src", "samples", "fortunes.jsonl").toAbsolutePath().normalize();

  private static final List<String> JOB = List.of("--input=" + FORTUNES, "--carryFields=category");

  @Test
  public void smallInputStaysOnTheDirectRunner() {
    long bytes = DefaultRunner.inputBytes(BatchInference.parse(JOB.toArray(new String[0])));
    assertThat("the fortunes file's size", bytes, equalTo(fileSize(FORTUNES)));

    DefaultRunner.Choice choice =
        DefaultRunner.choose(JOB, bytes, 100_000_000L, "1/32 of the max heap, 1,000.0 MB", true, 2);

    assertThat("arguments unchanged", choice.args(), equalTo(JOB));
    assertThat(choice.line(), containsString("runner: DirectRunner, since input 0.4 MB"));
    assertThat(choice.line(), containsString("is within 100.0 MB"));
  }

  @Test
  public void theThresholdIsAThirtySecondOfTheMaxHeap() {
    assertThat(System.getProperty(DefaultRunner.THRESHOLD_PROPERTY), nullValue());
    DefaultRunner.Choice choice =
        DefaultRunner.choose(JOB, BatchInference.parse(JOB.toArray(new String[0])));
    long threshold = Runtime.getRuntime().maxMemory() / 32;
    assertThat(
        choice.line(),
        containsString(
            String.format(
                java.util.Locale.ROOT,
                "is within %,.1f MB (1/32 of the max heap, ",
                threshold / 1e6)));
  }

  @Test
  public void bigInputRunsOnEmbeddedFlinkWithAParallelismOfTheCores() {
    DefaultRunner.Choice choice =
        DefaultRunner.choose(JOB, 450_000_000L, 100_000_000L, "1/32 of the max heap", true, 2);

    assertThat(
        choice.args(),
        equalTo(
            List.of(
                JOB.get(0),
                JOB.get(1),
                "--runner=FlinkRunner",
                "--flinkMaster=[local]",
                "--parallelism=2")));
    assertThat(
        "one line that says which runner and why",
        choice.line(),
        containsString(
            "runner: Flink's embedded mini cluster (--runner=FlinkRunner --flinkMaster=[local]"
                + " --parallelism=2), since input 450.0 MB is above 100.0 MB (1/32 of the max"
                + " heap)"));
    assertThat(choice.line().lines().count(), equalTo(1L));
  }

  @Test
  public void aParallelismTheUserSetIsKept() {
    List<String> job = List.of(JOB.get(0), "--parallelism=1");
    DefaultRunner.Choice choice = DefaultRunner.choose(job, 2, 1, "test", true, 2);
    assertThat(
        choice.args(),
        equalTo(
            List.of(
                JOB.get(0), "--parallelism=1", "--runner=FlinkRunner", "--flinkMaster=[local]")));
    assertThat(choice.line(), not(containsString("--parallelism=2")));
  }

  @Test
  public void anExplicitRunnerAlwaysWins() {
    for (String runner : List.of("--runner=DirectRunner", "--runner=FlinkRunner")) {
      List<String> job = List.of(JOB.get(0), runner);
      DefaultRunner.Choice big = DefaultRunner.choose(job, 450_000_000L, 1, "test", true, 2);
      assertThat(runner, big.args(), equalTo(job));
      assertThat(runner + ": nothing to say", big.line(), nullValue());
    }
  }

  @Test
  public void withoutFlinkOnTheClassPathABigInputStaysAndSaysSo() {
    DefaultRunner.Choice choice = DefaultRunner.choose(JOB, 450_000_000L, 1000, "test", false, 2);
    assertThat(choice.args(), equalTo(JOB));
    assertThat(choice.line(), containsString("the Flink runner is not on the class path"));
  }

  @Test
  public void aNegativeThresholdNeverChoosesFlinkAndZeroAlwaysDoes() {
    assertThat(DefaultRunner.choose(JOB, 450_000_000L, -1, "test", true, 2).args(), equalTo(JOB));
    assertThat(
        DefaultRunner.choose(JOB, 1, 0, "test", true, 2).args(),
        hasItems("--runner=FlinkRunner", "--flinkMaster=[local]"));
  }

  @Test
  public void compressedFilesCountAsTheirExpandedSize() throws Exception {
    Path dir = TMP.newFolder("gz").toPath();
    Path gz = dir.resolve("fortunes.jsonl.gz");
    try (OutputStream out = new GZIPOutputStream(Files.newOutputStream(gz))) {
      Files.copy(FORTUNES, out);
    }
    long bytes = DefaultRunner.inputBytes(BatchInference.parse("--input=" + dir + "/*.gz"));
    assertThat(bytes, equalTo(Files.size(gz) * DefaultRunner.COMPRESSED_EXPANSION));
  }

  @Test
  public void bigQueryInputAndUnlistableInputHaveNoSize() {
    assertThat(
        DefaultRunner.inputBytes(
            BatchInference.parse("--inputTable=p:d.t", "--idField=id", "--project=p")),
        equalTo(-1L));
    assertThat(
        DefaultRunner.inputBytes(BatchInference.parse("--input=" + TMP.getRoot() + "/none-*")),
        equalTo(-1L));
    assertThat(
        "no size, no choice",
        DefaultRunner.choose(JOB, -1, 0, "test", true, 2).line(),
        nullValue());
  }

  @Test
  public void theCommandLineSaysWhichRunnerItChose() throws Exception {
    Path output = TMP.newFolder("out").toPath();
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    ByteArrayOutputStream err = new ByteArrayOutputStream();
    String previous = System.getProperty(DefaultRunner.THRESHOLD_PROPERTY);
    // Never Flink here: the pipelines module's tests have only the DirectRunner.
    System.setProperty(DefaultRunner.THRESHOLD_PROPERTY, "-1");
    int status;
    try {
      Path input = TMP.newFile("two.jsonl").toPath();
      Files.write(input, Files.readAllLines(FORTUNES).subList(0, 2), StandardCharsets.UTF_8);
      status =
          CommandLine.run(
              new String[] {"--input=" + input, "--output=" + output, "--progress=false"},
              new PrintStream(out, true, StandardCharsets.UTF_8),
              new PrintStream(err, true, StandardCharsets.UTF_8));
    } finally {
      if (previous == null) {
        System.clearProperty(DefaultRunner.THRESHOLD_PROPERTY);
      } else {
        System.setProperty(DefaultRunner.THRESHOLD_PROPERTY, previous);
      }
    }
    String said = out.toString(StandardCharsets.UTF_8);
    assertThat(err.toString(StandardCharsets.UTF_8), status, equalTo(0));
    assertThat(said, containsString("runner: DirectRunner, since input "));
    assertThat(said, containsString("-D" + DefaultRunner.THRESHOLD_PROPERTY + "=-1"));
  }

  private static long fileSize(Path file) {
    try {
      return Files.size(file);
    } catch (java.io.IOException e) {
      throw new AssertionError(e);
    }
  }
}
