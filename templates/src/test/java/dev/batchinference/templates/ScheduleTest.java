package dev.batchinference.templates;

import static org.hamcrest.MatcherAssert.assertThat;
import static org.hamcrest.Matchers.containsString;
import static org.hamcrest.Matchers.equalTo;
import static org.hamcrest.Matchers.is;
import static org.hamcrest.Matchers.not;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.Rule;
import org.junit.Test;
import org.junit.rules.TemporaryFolder;
import org.junit.runner.RunWith;
import org.junit.runners.JUnit4;

/**
 * The scheduling examples, run for real: {@code runners/schedule/nightly.sh} (dated outputs, the
 * {@code latest} pointer, the threshold, the lock, exit statuses) and {@code check-new-records.sh}
 * on the bundled jar, and the Airflow DAG compiled and checked against the template's parameters
 * (Airflow itself is not installed here).
 */
@RunWith(JUnit4.class)
public class ScheduleTest {

  @Rule public final TemporaryFolder tmp = new TemporaryFolder();

  private static final ObjectMapper JSON = new ObjectMapper();
  private static final Path TEMPLATES =
      Paths.get(System.getProperty("metadataFile", "metadata.json")).toAbsolutePath().getParent();
  private static final Path SCHEDULE = TEMPLATES.resolveSibling("runners").resolve("schedule");
  private static final Path DAG = TEMPLATES.resolve("airflow").resolve("batch_inference_dag.py");
  private static final Path SAMPLE =
      TEMPLATES.resolveSibling("src").resolve("samples").resolve("fortunes.jsonl");
  private static final Path AIRFLOW_EMULATOR =
      TEMPLATES.resolve("src").resolve("test").resolve("python").resolve("airflow_emulator.py");

  private String lastOutput;

  private int run(Map<String, String> env, List<String> command) throws Exception {
    ProcessBuilder builder = new ProcessBuilder(command).redirectErrorStream(true);
    builder.environment().put("JAR", System.getProperty("bundledJar"));
    builder.environment().put("DJL_OFFLINE", "true");
    builder.environment().put("RUST_FLAVOR", "cpu");
    builder.environment().putAll(env);
    Path log = Files.createTempFile(tmp.getRoot().toPath(), "run", ".log");
    builder.redirectOutput(log.toFile());
    Process process = builder.start();
    if (!process.waitFor(5, TimeUnit.MINUTES)) {
      process.destroyForcibly();
      throw new AssertionError("timed out: " + command);
    }
    lastOutput = Files.readString(log, StandardCharsets.UTF_8);
    return process.exitValue();
  }

  private int nightly(Path outRoot, String date, String... jobArgs) throws Exception {
    List<String> command =
        new ArrayList<>(List.of("bash", SCHEDULE.resolve("nightly.sh").toString()));
    command.addAll(List.of(jobArgs));
    return run(
        Map.of(
            "OUT_ROOT",
            outRoot.toString(),
            "RUN_DATE",
            date,
            "MIN_NEW_RECORDS",
            "5",
            "JAVA_OPTS",
            "-Xmx1g"),
        command);
  }

  /** Fortunes from the sample corpus, lines {@code from} (inclusive) to {@code to}. */
  private static void writeSample(Path file, int from, int to) throws Exception {
    List<String> lines = Files.readAllLines(SAMPLE, StandardCharsets.UTF_8).subList(from, to);
    Files.write(file, lines, StandardCharsets.UTF_8);
  }

  @Test
  public void nightlyRunsSkipsUntilEnoughNewRecordsThenRunsAgain() throws Exception {
    Path in = tmp.newFolder("in").toPath();
    Path outRoot = tmp.getRoot().toPath().resolve("out");
    writeSample(in.resolve("day1.jsonl"), 0, 20);
    String[] job = {
      "--input=" + in.resolve("*.jsonl"), "--carryFields=category", "--progress=false"
    };

    assertThat(lastOutput, nightly(outRoot, "2025-01-01", job), equalTo(0));
    assertThat(lastOutput, containsString("OK: 20 records read, 20 predicted"));
    assertThat(Files.readSymbolicLink(outRoot.resolve("latest")).toString(), equalTo("2025-01-01"));

    // Three new records, fewer than MIN_NEW_RECORDS=5: skipped, nothing written, latest stays.
    writeSample(in.resolve("day2.jsonl"), 20, 23);
    assertThat(lastOutput, nightly(outRoot, "2025-01-02", job), equalTo(0));
    assertThat(lastOutput, containsString("skipped: 3 new records (in 1 file) since "));
    assertThat(lastOutput, containsString("fewer than --minNewRecords=5"));
    assertThat(Files.exists(outRoot.resolve("2025-01-02")), is(false));
    assertThat(Files.readSymbolicLink(outRoot.resolve("latest")).toString(), equalTo("2025-01-01"));

    // Three more: six since the last run that ran, so this one runs (on all files: the threshold
    // decides whether to run, not what to read).
    writeSample(in.resolve("day3.jsonl"), 23, 26);
    assertThat(lastOutput, nightly(outRoot, "2025-01-03", job), equalTo(0));
    assertThat(lastOutput, containsString("running: 6 new records (in 2 files)"));
    assertThat(lastOutput, containsString("OK: 26 records read, 26 predicted"));
    assertThat(Files.readSymbolicLink(outRoot.resolve("latest")).toString(), equalTo("2025-01-03"));
    JsonNode summary = JSON.readTree(outRoot.resolve("latest/summary.json").toFile());
    assertThat(summary.get("records_read").asLong(), equalTo(26L));
    try (var logs = Files.list(outRoot.resolve("logs"))) {
      assertThat("one log per run", logs.count(), equalTo(3L));
    }
  }

  @Test
  public void nightlyPassesExitStatusesThroughAndHoldsALock() throws Exception {
    Path outRoot = tmp.getRoot().toPath().resolve("out");
    // A job that cannot start: 2, and no latest.
    assertThat(
        lastOutput,
        nightly(outRoot, "2025-02-01", "--input=" + tmp.getRoot().toPath().resolve("none.jsonl")),
        equalTo(2));
    assertThat(lastOutput, containsString("matches no file"));
    assertThat(Files.exists(outRoot.resolve("latest")), is(false));

    // A run that finished with a drift alert (3, from a stand-in for java that writes a summary):
    // passed through, and latest moves on, since the run is complete.
    Path fakeJava = tmp.newFile("java-drift").toPath();
    Files.writeString(
        fakeJava,
        "#!/usr/bin/env bash\n"
            + "for a; do case $a in --output=*) d=${a#--output=};; esac; done\n"
            + "mkdir -p \"$d\" && echo '{\"started_at\":\"2025-02-02T02:00:00Z\"}' > \"$d/summary.json\"\n"
            + "exit 3\n");
    fakeJava.toFile().setExecutable(true);
    int drift =
        run(
            Map.of(
                "OUT_ROOT",
                outRoot.toString(),
                "RUN_DATE",
                "2025-02-02",
                "JAVA",
                fakeJava.toString()),
            List.of("bash", SCHEDULE.resolve("nightly.sh").toString()));
    assertThat(lastOutput, drift, equalTo(3));
    assertThat(Files.readSymbolicLink(outRoot.resolve("latest")).toString(), equalTo("2025-02-02"));

    // An earlier run still going: 75, nothing started.
    Process holder =
        new ProcessBuilder(
                "bash",
                "-c",
                "exec 9>\"$1\" && flock 9 && read -r -t 60 _",
                "holder",
                outRoot.resolve(".nightly.lock").toString())
            .start();
    try {
      Thread.sleep(500);
      int locked =
          run(
              Map.of(
                  "OUT_ROOT",
                  outRoot.toString(),
                  "RUN_DATE",
                  "2025-02-03",
                  "JAVA",
                  fakeJava.toString()),
              List.of("bash", SCHEDULE.resolve("nightly.sh").toString()));
      assertThat(lastOutput, locked, equalTo(75));
      assertThat(lastOutput, containsString("still holds"));
      assertThat(Files.exists(outRoot.resolve("2025-02-03")), is(false));
    } finally {
      holder.destroy();
      holder.waitFor(10, TimeUnit.SECONDS);
    }
  }

  @Test
  public void theCheckAloneSaysSkipWithNinetyNine() throws Exception {
    Path input = tmp.newFile("old.jsonl").toPath();
    writeSample(input, 0, 10);
    Path summary = tmp.getRoot().toPath().resolve("summary.json");
    String[] check = {
      "bash",
      SCHEDULE.resolve("check-new-records.sh").toString(),
      "--input=" + input,
      "--previousSummary=" + summary,
      "--minNewRecords=5"
    };
    assertThat("no previous run yet: run", run(Map.of(), List.of(check)), equalTo(0));
    assertThat(lastOutput, containsString("no previous run"));
    Files.writeString(
        summary, "{\"started_at\":\"" + java.time.Instant.now().plusSeconds(5) + "\"}");
    assertThat(lastOutput, run(Map.of(), List.of(check)), equalTo(99));
    assertThat(lastOutput, containsString("skipped: 0 new records"));
    Files.writeString(summary, "{\"started_at\":\"2000-01-01T00:00:00Z\"}");
    assertThat(lastOutput, run(Map.of(), List.of(check)), equalTo(0));
    assertThat(lastOutput, containsString("running: 10 new records (in 1 file)"));
  }

  @Test
  public void theAirflowDagCompilesAndNamesOnlyTemplateParameters() throws Exception {
    Path compiled = tmp.getRoot().toPath().resolve("dag.pyc");
    int status =
        run(
            Map.of(),
            List.of(
                "python3",
                "-c",
                "import py_compile, sys; py_compile.compile(sys.argv[1], cfile=sys.argv[2],"
                    + " doraise=True)",
                DAG.toString(),
                compiled.toString()));
    assertThat(lastOutput, status, equalTo(0));

    Set<String> parameters = new HashSet<>();
    for (JsonNode p :
        JSON.readTree(TEMPLATES.resolve("metadata.json").toFile()).get("parameters")) {
      parameters.add(p.get("name").asText());
    }
    String dag = Files.readString(DAG, StandardCharsets.UTF_8);
    // The launch's parameters: the dict literal and the ones added to it.
    Matcher block = Pattern.compile("parameters = \\{(.*?)\\n\\s*\\}", Pattern.DOTALL).matcher(dag);
    assertThat("the DAG has a parameters block", block.find(), is(true));
    Matcher names = Pattern.compile("\"(\\w+)\":").matcher(block.group(1));
    List<String> used = new ArrayList<>();
    while (names.find()) {
      used.add(names.group(1));
    }
    Matcher added = Pattern.compile("parameters\\[\"(\\w+)\"\\] =").matcher(dag);
    while (added.find()) {
      used.add(added.group(1));
    }
    assertThat(used, not(equalTo(List.of())));
    for (String name : used) {
      assertThat("template parameter " + name, parameters.contains(name), is(true));
    }
    // The scripts the DAG runs exist.
    for (String script : List.of("nightly.sh", "check-new-records.sh", "check-run.sh")) {
      assertThat(dag, containsString("runners/schedule/" + script));
      assertThat(Files.isRegularFile(SCHEDULE.resolve(script)), is(true));
    }
  }

  /** Runs one DAG of the Airflow file for one date with the emulator; returns its output. */
  private String airflow(String dagId, String date, Path gcsRoot) throws Exception {
    String jar = System.getProperty("bundledJar");
    int status =
        run(
            Map.of(),
            List.of(
                "python3",
                AIRFLOW_EMULATOR.toString(),
                DAG.toString(),
                dagId,
                date,
                jar,
                gcsRoot.toString(),
                "batch_inference_bucket=b",
                "batch_inference_project=p",
                "batch_inference_repo=" + TEMPLATES.getParent(),
                "batch_inference_jar=" + jar,
                "batch_inference_min_new_records=5"));
    assertThat(lastOutput, status, equalTo(0));
    return lastOutput;
  }

  /** Sample fortunes {@code from} to {@code to}, with the {@code url} the DAG carries through. */
  private static void writeDocs(Path file, int from, int to) throws Exception {
    List<String> lines = new ArrayList<>();
    for (String line : Files.readAllLines(SAMPLE, StandardCharsets.UTF_8).subList(from, to)) {
      com.fasterxml.jackson.databind.node.ObjectNode doc =
          (com.fasterxml.jackson.databind.node.ObjectNode) JSON.readTree(line);
      doc.put("url", "https://example.org/" + doc.get("id").asText());
      lines.add(doc.toString());
    }
    Files.createDirectories(file.getParent());
    Files.write(file, lines, StandardCharsets.UTF_8);
  }

  @Test
  public void theDataflowDagRunsItsFirstNightWithoutAComparisonThenCompares() throws Exception {
    // An empty bucket (a local stand-in for gs://b): no runs/latest/summary.json yet.
    Path gcs = tmp.newFolder("gcs").toPath();
    Path runs = gcs.resolve("b").resolve("runs");
    writeDocs(gcs.resolve("b/docs/day1.jsonl"), 0, 20);

    String first = airflow("batch_inference_dataflow", "2025-03-01", gcs);
    assertThat(first, containsString("running: no previous run"));
    assertThat(first, containsString("task check_new_records: success"));
    assertThat(first, containsString("task launch: skipped"));
    assertThat(first, containsString("task launch_first_run: success"));
    assertThat(first, containsString("task check_run: success"));
    assertThat(first, containsString("OK: 20 records read, 20 predicted, 0 failed, nothing lost"));
    assertThat(first, containsString("task promote_summary: success"));
    assertThat(first, containsString("task drift_alert: skipped"));
    assertThat(first, containsString("dag run: success"));
    assertThat(first, not(containsString("--previousSummary")));
    JsonNode summary = JSON.readTree(runs.resolve("latest/summary.json").toFile());
    assertThat(summary.get("records_read").asLong(), equalTo(20L));
    assertThat("nothing to compare with", summary.has("comparison"), is(false));

    // The next night, with enough new records, compares with the first.
    writeDocs(gcs.resolve("b/docs/day2.jsonl"), 20, 26);
    String second = airflow("batch_inference_dataflow", "2025-03-02", gcs);
    assertThat(second, containsString("running: 6 new records (in 1 file)"));
    assertThat(second, containsString("task launch: success"));
    assertThat(second, containsString("task launch_first_run: skipped"));
    assertThat(second, containsString("task promote_summary: success"));
    summary = JSON.readTree(runs.resolve("latest/summary.json").toFile());
    assertThat(summary.get("records_read").asLong(), equalTo(26L));
    assertThat(
        summary.path("comparison").path("previous_summary").asText(),
        containsString("runs/latest/summary.json"));

    // No new records: the check skips, and so does everything after it.
    String third = airflow("batch_inference_dataflow", "2025-03-03", gcs);
    assertThat(third, containsString("task check_new_records: skipped"));
    assertThat(third, containsString("task launch: skipped"));
    assertThat(third, containsString("task launch_first_run: skipped"));
    assertThat(third, containsString("task check_run: skipped"));
    assertThat(third, containsString("task promote_summary: skipped"));
    assertThat(third, containsString("dag run: success"));
    assertThat(Files.exists(runs.resolve("2025-03-03")), is(false));
  }

  /** Sample fortunes as in {@link #writeDocs}, each of the first {@code bad} without its text. */
  private static void writeDocs(Path file, int from, int to, int bad) throws Exception {
    writeDocs(file, from, to);
    List<String> lines = new ArrayList<>(Files.readAllLines(file, StandardCharsets.UTF_8));
    for (int i = 0; i < bad; i++) {
      com.fasterxml.jackson.databind.node.ObjectNode doc =
          (com.fasterxml.jackson.databind.node.ObjectNode) JSON.readTree(lines.get(i));
      doc.remove("text");
      lines.set(i, doc.toString());
    }
    Files.write(file, lines, StandardCharsets.UTF_8);
  }

  /**
   * The Flex Template launch does not wait for the command line's verdict, so the DAG reads it from
   * the run's summary: a run over {@code --maxFailureRate} fails without retry and leaves {@code
   * latest} where it was; a run with drift alerts moves {@code latest} on (it is complete) and
   * still fails the DAG run, as {@code nightly.sh} does.
   */
  @Test
  public void theDataflowDagKeepsLatestOnTooManyFailuresAndMovesItOnDrift() throws Exception {
    Path gcs = tmp.newFolder("gcs").toPath();
    Path runs = gcs.resolve("b").resolve("runs");
    writeDocs(gcs.resolve("b/docs/day1.jsonl"), 0, 20);
    String first = airflow("batch_inference_dataflow", "2025-05-01", gcs);
    assertThat(first, containsString("task promote_summary: success"));
    assertThat(first, containsString("dag run: success"));

    // Ten new records without text: 10 of 30 fail preprocessing, above the default 0.1.
    writeDocs(gcs.resolve("b/docs/day2.jsonl"), 20, 30, 10);
    String failed = airflow("batch_inference_dataflow", "2025-05-02", gcs);
    assertThat("the job itself finished", failed, containsString("task launch: success"));
    assertThat(
        failed,
        containsString(
            "TOO MANY FAILURES: too many failures: 10 of 30 records failed (33.3%), above"
                + " --maxFailureRate=0.1"));
    assertThat(failed, containsString("task check_run: failed"));
    assertThat(failed, containsString("task promote_summary: upstream_failed"));
    assertThat(failed, containsString("dag run: failed"));
    JsonNode run = JSON.readTree(runs.resolve("2025-05-02/summary.json").toFile());
    assertThat(run.path("failure_gate").path("exceeded").asBoolean(), is(true));
    JsonNode latest = JSON.readTree(runs.resolve("latest/summary.json").toFile());
    assertThat(
        "latest stays on the first night", latest.get("records_read").asLong(), equalTo(20L));

    // The bad file withdrawn, six new records of which one fails: 1 of 26 (3.8%) is under the
    // gate, but up from 0% by more than --maxFailureRateIncrease (0.01): a drift alert.
    Files.delete(gcs.resolve("b/docs/day2.jsonl"));
    writeDocs(gcs.resolve("b/docs/day3.jsonl"), 30, 36, 1);
    String drift = airflow("batch_inference_dataflow", "2025-05-03", gcs);
    assertThat(drift, containsString("task launch: success"));
    assertThat(drift, containsString("DRIFT ALERT: "));
    assertThat(drift, containsString("task check_run: success"));
    assertThat(drift, containsString("task promote_summary: success"));
    assertThat(drift, containsString("task drift_alert: failed"));
    assertThat(drift, containsString("dag run: failed"));
    latest = JSON.readTree(runs.resolve("latest/summary.json").toFile());
    assertThat(
        "latest moves on: the run is complete", latest.get("records_read").asLong(), equalTo(26L));
    assertThat(latest.path("alerts").size() > 0, is(true));
  }

  @Test
  public void theDagsFailWithoutRetryOnTooManyFailuresAndDriftOnly() throws Exception {
    Map<String, String> expected =
        Map.of(
            "0", "success",
            "99", "skipped",
            "3", "failed",
            "4", "failed",
            "75", "up_for_retry",
            "1", "up_for_retry",
            "2", "up_for_retry");
    for (Map.Entry<String, String> e : expected.entrySet()) {
      int status =
          run(
              Map.of(),
              List.of(
                  "python3", AIRFLOW_EMULATOR.toString(), "--status", DAG.toString(), e.getKey()));
      assertThat(lastOutput, status, equalTo(0));
      assertThat(lastOutput, containsString("status " + e.getKey() + ": " + e.getValue()));
    }
  }

  @Test
  public void nightlyTreatsTooManyFailuresAsAFailedRun() throws Exception {
    Path outRoot = tmp.getRoot().toPath().resolve("out");
    // A run that finished and wrote its summary but failed more records than --maxFailureRate.
    Path fakeJava = tmp.newFile("java-failures").toPath();
    Files.writeString(
        fakeJava,
        "#!/usr/bin/env bash\n"
            + "for a; do case $a in --output=*) d=${a#--output=};; esac; done\n"
            + "mkdir -p \"$d\" && echo '{\"started_at\":\"2025-04-01T02:00:00Z\"}' > \"$d/summary.json\"\n"
            + "exit 4\n");
    fakeJava.toFile().setExecutable(true);
    int status =
        run(
            Map.of(
                "OUT_ROOT",
                outRoot.toString(),
                "RUN_DATE",
                "2025-04-01",
                "JAVA",
                fakeJava.toString()),
            List.of("bash", SCHEDULE.resolve("nightly.sh").toString()));
    assertThat(lastOutput, status, equalTo(4));
    assertThat(lastOutput, containsString("too many failed records"));
    assertThat(
        "a run over --maxFailureRate is no base for the next comparison",
        Files.exists(outRoot.resolve("latest")),
        is(false));
  }
}
