package dev.batchinference.pipelines;

import static org.hamcrest.MatcherAssert.assertThat;
import static org.hamcrest.Matchers.containsString;
import static org.hamcrest.Matchers.equalTo;
import static org.hamcrest.Matchers.is;

import dev.batchinference.pipelines.cli.CommandLine;
import dev.batchinference.pipelines.options.BatchInferenceOptions;
import dev.batchinference.pipelines.summary.ExitStatus;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.stream.Collectors;
import java.util.stream.Stream;
import org.apache.beam.sdk.PipelineResult;
import org.junit.After;
import org.junit.BeforeClass;
import org.junit.ClassRule;
import org.junit.Test;
import org.junit.rules.TemporaryFolder;
import org.junit.runner.RunWith;
import org.junit.runners.JUnit4;

/**
 * Two runs into one output directory: the second refuses (exit status 75) with a message naming the
 * lock file and the run holding it, and writes nothing; a lock left by a killed run on this host is
 * taken over; --breakLock removes one left elsewhere; the lock is gone when a run ends.
 */
@RunWith(JUnit4.class)
public class OutputLockTest {

  @ClassRule public static final TemporaryFolder TMP = new TemporaryFolder();

  private static Path input;
  private final ByteArrayOutputStream out = new ByteArrayOutputStream();
  private final ByteArrayOutputStream err = new ByteArrayOutputStream();
  private Process holder;

  @BeforeClass
  public static void writeInput() throws Exception {
    input = TMP.newFile("in.jsonl").toPath();
    Files.writeString(
        input,
        "{\"id\":\"a\",\"text\":\"The quick brown fox.\"}\n"
            + "{\"id\":\"b\",\"text\":\"Jumps over the lazy dog.\"}\n");
  }

  @After
  public void stopHolder() throws Exception {
    if (holder != null) {
      holder.destroy();
      holder.waitFor(10, TimeUnit.SECONDS);
    }
  }

  private int run(Path output, String... more) {
    out.reset();
    err.reset();
    List<String> args =
        new ArrayList<>(List.of("--input=" + input, "--output=" + output, "--progress=false"));
    args.addAll(List.of(more));
    return CommandLine.run(
        args.toArray(new String[0]),
        new PrintStream(out, true, StandardCharsets.UTF_8),
        new PrintStream(err, true, StandardCharsets.UTF_8));
  }

  private static List<String> files(Path dir) throws Exception {
    try (Stream<Path> listing = Files.list(dir)) {
      return listing.map(p -> p.getFileName().toString()).sorted().collect(Collectors.toList());
    }
  }

  /** A lock as another run writes it. */
  private static void writeLock(Path output, String host, long pid) throws Exception {
    Files.writeString(
        output.resolve(OutputLock.FILE),
        "{\"run\":\"other-run\",\"job\":\"nightly\",\"host\":\""
            + host
            + "\",\"pid\":"
            + pid
            + ",\"started_at\":\"2025-01-01T02:00:00Z\"}");
  }

  private static String thisHost() throws Exception {
    return java.net.InetAddress.getLocalHost().getHostName();
  }

  @Test
  public void aRunRefusesAnOutputDirectoryAnotherRunHolds() throws Exception {
    Path output = TMP.newFolder("held").toPath();
    // The other run: a live process on this host.
    holder = new ProcessBuilder("sleep", "120").start();
    writeLock(output, thisHost(), holder.pid());

    assertThat(run(output), equalTo(ExitStatus.OUTPUT_LOCKED.code()));
    String said = err.toString(StandardCharsets.UTF_8);
    assertThat(
        said,
        containsString("another run holds the output lock " + output.resolve(OutputLock.FILE)));
    assertThat(said, containsString("run other-run of job 'nightly'"));
    assertThat(said, containsString("pid " + holder.pid()));
    assertThat(said, containsString("--breakLock"));
    assertThat(
        "nothing written, the lock left alone", files(output), equalTo(List.of(OutputLock.FILE)));
    assertThat(
        Files.readString(output.resolve(OutputLock.FILE)), containsString("\"run\":\"other-run\""));

    // Once that run is gone (killed: its lock stays behind), the next run takes over.
    holder.destroy();
    holder.waitFor(10, TimeUnit.SECONDS);
    assertThat(err.toString(StandardCharsets.UTF_8), run(output), equalTo(0));
    assertThat(out.toString(StandardCharsets.UTF_8), containsString("OK: 2 records read"));
    assertThat("released at the end", Files.exists(output.resolve(OutputLock.FILE)), is(false));
  }

  @Test
  public void breakLockRemovesALockLeftOnAnotherMachine() throws Exception {
    Path output = TMP.newFolder("elsewhere").toPath();
    writeLock(output, "another-machine", 4242);
    assertThat(run(output), equalTo(ExitStatus.OUTPUT_LOCKED.code()));
    assertThat(err.toString(StandardCharsets.UTF_8), containsString("host another-machine"));

    assertThat(err.toString(StandardCharsets.UTF_8), run(output, "--breakLock"), equalTo(0));
    assertThat(Files.exists(output.resolve("summary.json")), is(true));
    assertThat(Files.exists(output.resolve(OutputLock.FILE)), is(false));
  }

  @Test
  public void ofRunsTakingOneLockAtOnceExactlyOneGetsIt() throws Exception {
    Path output = TMP.newFolder("race").toPath();
    int runs = 8;
    ExecutorService pool = Executors.newFixedThreadPool(runs);
    CountDownLatch start = new CountDownLatch(1);
    List<Future<Boolean>> taken = new ArrayList<>();
    for (int i = 0; i < runs; i++) {
      OutputLock lock = OutputLock.forRun(output.toString(), "run-" + i);
      Callable<Boolean> take =
          () -> {
            start.await();
            try {
              lock.acquire(false);
              return true;
            } catch (OutputLock.HeldException e) {
              return false;
            }
          };
      taken.add(pool.submit(take));
    }
    start.countDown();
    int winners = 0;
    for (Future<Boolean> f : taken) {
      winners += f.get(1, TimeUnit.MINUTES) ? 1 : 0;
    }
    pool.shutdown();
    assertThat(winners, equalTo(1));
  }

  @Test
  public void aJobNobodyWaitsForReleasesTheLockInItsLastStep() throws Exception {
    Path output = TMP.newFolder("nowait").toPath();
    BatchInferenceOptions options =
        BatchInference.parse(
            "--input=" + input, "--output=" + output, "--blockOnRun=false", "--jobName=nowait");
    writeLock(output, "another-machine", 4242);
    try {
      BatchInference.run(options);
      throw new AssertionError("launched into a directory another run holds");
    } catch (IllegalStateException e) {
      assertThat(e.getMessage(), containsString("another run holds the output lock"));
    }
    Files.delete(output.resolve(OutputLock.FILE));

    PipelineResult result = BatchInference.run(options);
    assertThat(result.waitUntilFinish(), equalTo(PipelineResult.State.DONE));
    assertThat(Files.exists(output.resolve("summary.json")), is(true));
    assertThat(Files.exists(output.resolve(OutputLock.FILE)), is(false));
  }
}
