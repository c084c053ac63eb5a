package dev.batchinference.runners.flink;

import static org.hamcrest.MatcherAssert.assertThat;
import static org.hamcrest.Matchers.containsString;
import static org.hamcrest.Matchers.equalTo;
import static org.hamcrest.Matchers.is;
import static org.hamcrest.Matchers.not;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.batchinference.transforms.testing.Fortunes;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.BeforeClass;
import org.junit.Test;
import org.junit.runner.RunWith;
import org.junit.runners.JUnit4;

/**
 * The bundled jar without {@code --runner}, as the README's first command runs it: above the size
 * threshold (forced down to 1,000 bytes here, so that a small input crosses it) the job runs on
 * Flink's embedded mini cluster and says so; an explicit {@code --runner} still wins.
 */
@RunWith(JUnit4.class)
public class EmbeddedFlinkDefaultIT {

  private static final ObjectMapper JSON = new ObjectMapper();
  private static final Path WORK = Paths.get("target/it-embedded").toAbsolutePath();
  private static final Path JAR =
      Paths.get(System.getProperty("bundled.jar", "../target/batch-inference-bundled.jar"));
  private static final String THRESHOLD = "-Dbatchinference.embeddedFlinkAboveBytes=1000";

  private static Path texts;
  private static int textCount;

  @BeforeClass
  public static void writeData() throws Exception {
    Files.createDirectories(WORK);
    List<Fortunes.Fortune> fortunes = Fortunes.load(3);
    textCount = fortunes.size();
    texts = WORK.resolve("fortunes.jsonl");
    Fortunes.writeJsonLines(texts, fortunes);
  }

  @Test
  public void aBigInputWithoutRunnerRunsOnEmbeddedFlink() throws Exception {
    Path out = WORK.resolve("auto");
    String said = run(out, List.of());
    assertThat(
        said,
        containsString(
            "runner: Flink's embedded mini cluster (--runner=FlinkRunner --flinkMaster=[local]"));
    assertThat(said, containsString("is above 0.0 MB (" + THRESHOLD + ")"));
    JsonNode summary = JSON.readTree(out.resolve("summary.json").toFile());
    assertThat(summary.get("runner").asText(), equalTo("FlinkRunner"));
    assertThat(summary.get("records_read").asLong(), equalTo((long) textCount));
    assertThat(summary.get("predictions").asLong(), equalTo((long) textCount));
    assertThat(summary.get("nothing_lost").asBoolean(), is(true));
  }

  @Test
  public void anExplicitRunnerWins() throws Exception {
    Path out = WORK.resolve("explicit");
    String said = run(out, List.of("--runner=DirectRunner"));
    assertThat(said, not(containsString("runner: ")));
    JsonNode summary = JSON.readTree(out.resolve("summary.json").toFile());
    assertThat(summary.get("runner").asText(), equalTo("DirectRunner"));
    assertThat(summary.get("predictions").asLong(), equalTo((long) textCount));
  }

  /** Runs the bundled jar with the forced threshold; returns what it printed. */
  private static String run(Path out, List<String> more) throws Exception {
    List<String> command =
        new ArrayList<>(
            List.of(
                "java",
                "-Xmx1g",
                THRESHOLD,
                "-jar",
                JAR.toAbsolutePath().toString(),
                "--input=" + texts,
                "--carryFields=category",
                "--output=" + out,
                "--progress=false"));
    command.addAll(more);
    Path log = WORK.resolve(out.getFileName() + ".log");
    ProcessBuilder builder = new ProcessBuilder(command).redirectErrorStream(true);
    builder.environment().put("DJL_OFFLINE", "true");
    builder.environment().put("RUST_FLAVOR", "cpu");
    builder.redirectOutput(log.toFile());
    Process job = builder.start();
    if (!job.waitFor(5, TimeUnit.MINUTES)) {
      job.destroyForcibly();
      throw new AssertionError("the job did not finish in 5 minutes; see " + log);
    }
    String said = Files.readString(log, StandardCharsets.UTF_8);
    assertThat("exit status; the job said:\n" + said, job.exitValue(), equalTo(0));
    return said;
  }
}
