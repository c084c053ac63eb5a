package dev.batchinference.pipelines;

import static org.hamcrest.MatcherAssert.assertThat;
import static org.hamcrest.Matchers.containsString;
import static org.hamcrest.Matchers.equalTo;
import static org.hamcrest.Matchers.is;

import dev.batchinference.pipelines.cli.CommandLine;
import dev.batchinference.pipelines.options.BatchInferenceOptions;
import dev.batchinference.pipelines.summary.ExitStatus;
import java.io.ByteArrayOutputStream;
import java.io.OutputStream;
import java.io.PrintStream;
import java.nio.channels.Channels;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.apache.beam.sdk.io.FileSystems;
import org.apache.beam.sdk.io.fs.EmptyMatchTreatment;
import org.apache.beam.sdk.io.fs.MatchResult;
import org.apache.beam.sdk.options.PipelineOptionsFactory;
import org.junit.AfterClass;
import org.junit.BeforeClass;
import org.junit.Test;
import org.junit.runner.RunWith;
import org.junit.runners.JUnit4;

/**
 * The output lock on a {@code gs://} output, against the Cloud Storage emulator in {@code
 * src/test/gcs-emulator}: a run refuses a directory another run holds, and takes it once released.
 * (The emulator does not enforce {@code ifGenerationMatch=0}, so two creates racing on it would
 * both succeed; Cloud Storage itself refuses the second. Here the holder is already there.)
 *
 * <p>Uses the emulator at {@code $GCS_EMULATOR_ENDPOINT}, else starts one itself.
 */
@RunWith(JUnit4.class)
public class OutputLockGcsIT {

  private static final String BUCKET = "gs://lock-test";
  private static final Path REPO = Paths.get(System.getProperty("user.dir")).getParent();
  private static final Path SCRIPT = REPO.resolve("src/test/gcs-emulator/emulator.sh");
  private static final Path EMULATOR_DIR =
      Paths.get(System.getProperty("user.dir"), "target", "gcs-emulator-lock-it");

  private static String endpoint;
  private static boolean startedHere;

  @BeforeClass
  public static void startEmulator() throws Exception {
    endpoint = System.getenv("GCS_EMULATOR_ENDPOINT");
    if (endpoint == null || endpoint.isEmpty()) {
      endpoint = emulator("start", "14454").strip();
      startedHere = true;
    }
    PipelineOptionsFactory.register(BatchInferenceOptions.class);
    FileSystems.setDefaultPipelineOptions(
        PipelineOptionsFactory.fromArgs(gcsArgs().toArray(new String[0])).create());
    try (OutputStream out =
        Channels.newOutputStream(
            FileSystems.create(
                FileSystems.matchNewResource(BUCKET + "/in/docs.jsonl", false),
                "application/jsonl"))) {
      out.write(
          ("{\"id\":\"a\",\"text\":\"The quick brown fox.\"}\n"
                  + "{\"id\":\"b\",\"text\":\"Jumps over the lazy dog.\"}\n")
              .getBytes(StandardCharsets.UTF_8));
    }
  }

  @AfterClass
  public static void stopEmulator() throws Exception {
    if (startedHere) {
      emulator("stop");
    }
  }

  private static String emulator(String... args) throws Exception {
    List<String> command = new ArrayList<>(List.of("bash", SCRIPT.toString()));
    command.addAll(List.of(args));
    ProcessBuilder pb = new ProcessBuilder(command).redirectErrorStream(true);
    pb.environment().put("GCS_EMULATOR_DIR", EMULATOR_DIR.toString());
    Process p = pb.start();
    String output = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    if (!p.waitFor(5, TimeUnit.MINUTES) || p.exitValue() != 0) {
      throw new IllegalStateException("emulator.sh " + String.join(" ", args) + ": " + output);
    }
    String[] lines = output.strip().split("\n");
    return lines[lines.length - 1];
  }

  private static List<String> gcsArgs() {
    return List.of(
        "--gcsEndpoint=" + endpoint,
        "--credentialFactoryClass=org.apache.beam.sdk.extensions.gcp.auth.NoopCredentialFactory",
        "--project=batch-inference-test");
  }

  private static boolean exists(String uri) throws Exception {
    MatchResult match = FileSystems.match(uri, EmptyMatchTreatment.ALLOW);
    return match.status() == MatchResult.Status.OK && !match.metadata().isEmpty();
  }

  @Test
  public void aRunRefusesAGcsOutputAnotherRunHoldsAndTakesItOnceReleased() throws Exception {
    String output = BUCKET + "/out/";
    String lockFile = output + OutputLock.FILE;
    OutputLock first = OutputLock.forRun(output, "first-run");
    first.acquire(false);
    assertThat(exists(lockFile), is(true));

    List<String> args =
        new ArrayList<>(
            List.of("--input=" + BUCKET + "/in/*.jsonl", "--output=" + output, "--progress=false"));
    args.addAll(gcsArgs());
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    ByteArrayOutputStream err = new ByteArrayOutputStream();
    int status =
        CommandLine.run(
            args.toArray(new String[0]),
            new PrintStream(out, true, StandardCharsets.UTF_8),
            new PrintStream(err, true, StandardCharsets.UTF_8));
    String said = err.toString(StandardCharsets.UTF_8);
    assertThat(said, status, equalTo(ExitStatus.OUTPUT_LOCKED.code()));
    assertThat(said, containsString("another run holds the output lock " + lockFile));
    assertThat(said, containsString("job 'first-run'"));
    assertThat("nothing written", exists(output + "summary.json"), is(false));

    first.release();
    assertThat(exists(lockFile), is(false));
    err.reset();
    status =
        CommandLine.run(
            args.toArray(new String[0]),
            new PrintStream(out, true, StandardCharsets.UTF_8),
            new PrintStream(err, true, StandardCharsets.UTF_8));
    assertThat(err.toString(StandardCharsets.UTF_8), status, equalTo(0));
    assertThat(out.toString(StandardCharsets.UTF_8), containsString("OK: 2 records read"));
    assertThat(exists(output + "summary.json"), is(true));
    assertThat("released at the end", exists(lockFile), is(false));
  }
}
