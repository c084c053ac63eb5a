package dev.batchinference.pipelines;

import static org.hamcrest.MatcherAssert.assertThat;
import static org.hamcrest.Matchers.containsString;
import static org.hamcrest.Matchers.equalTo;
import static org.hamcrest.Matchers.is;
import static org.hamcrest.Matchers.not;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.batchinference.pipelines.options.BatchInferenceOptions;
import dev.batchinference.pipelines.options.InvalidJobException;
import dev.batchinference.transforms.io.PostgresConnection;
import dev.batchinference.transforms.testing.Fortunes;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.sql.Array;
import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.Statement;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.apache.beam.sdk.Pipeline;
import org.apache.beam.sdk.PipelineResult;
import org.apache.beam.sdk.options.PipelineOptionsFactory;
import org.junit.AfterClass;
import org.junit.BeforeClass;
import org.junit.ClassRule;
import org.junit.Test;
import org.junit.rules.TemporaryFolder;
import org.junit.runner.RunWith;
import org.junit.runners.JUnit4;

/**
 * Predictions and failures upserted into a real PostgreSQL server on loopback (Debian's package,
 * started by {@code .ci/run} or by this test through {@code src/test/postgres/postgres.sh}): two
 * runs of the same job leave one row per record, with typed columns; records sharing an id become
 * one row (the one read last) and the summary counts the others as collapsed.
 */
@RunWith(JUnit4.class)
public class PostgresJobIT {

  @ClassRule public static final TemporaryFolder TMP = new TemporaryFolder();

  private static final Path REPO = Paths.get(System.getProperty("user.dir")).getParent();
  private static final String USER = "batchinference";
  private static String url;
  private static boolean startedHere;
  private static Path passwordFile;
  private static Path input;
  private static int good;

  @BeforeClass
  public static void startServer() throws Exception {
    url = System.getenv("POSTGRES_JDBC_URL");
    if (url == null || url.isEmpty()) {
      url = script("start", "15432");
      startedHere = true;
    }
    passwordFile = Files.writeString(TMP.getRoot().toPath().resolve("pw"), "batchinference-test\n");
    List<Fortunes.Fortune> fortunes = Fortunes.load(1);
    good = fortunes.size();
    input = TMP.getRoot().toPath().resolve("in.jsonl");
    Fortunes.writeJsonLines(input, fortunes);
    Files.writeString(
        input,
        "{\"id\":\"empty\",\"text\":\"\"}\nnot json\n",
        java.nio.file.StandardOpenOption.APPEND);
    try (Connection c = connection().open();
        Statement s = c.createStatement()) {
      s.execute("DROP TABLE IF EXISTS embeddings, embedding_failures");
    }
  }

  @AfterClass
  public static void stopServer() throws Exception {
    if (startedHere) {
      script("stop");
    }
  }

  private static String script(String... args) throws Exception {
    List<String> command =
        new ArrayList<>(List.of("bash", REPO.resolve("src/test/postgres/postgres.sh").toString()));
    command.addAll(List.of(args));
    ProcessBuilder pb = new ProcessBuilder(command).redirectErrorStream(true);
    pb.environment()
        .put(
            "POSTGRES_DIR",
            Paths.get(System.getProperty("user.dir"), "target", "postgres-it").toString());
    Process p = pb.start();
    String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8).strip();
    if (!p.waitFor(2, TimeUnit.MINUTES) || p.exitValue() != 0) {
      throw new IllegalStateException("postgres.sh " + String.join(" ", args) + ": " + out);
    }
    String[] lines = out.split("\n");
    return lines[lines.length - 1];
  }

  private static PostgresConnection connection() {
    return PostgresConnection.of(url, USER, null, passwordFile.toString());
  }

  private static PipelineResult.State run(String... extra) {
    List<String> args =
        new ArrayList<>(
            List.of(
                "--input=" + input,
                "--output=" + TMP.getRoot().toPath().resolve("out"),
                "--carryFields=category",
                "--zeroShotLabels=" + REPO.resolve("src/samples/fortune-topics.txt"),
                "--predictionsDbTable=embeddings",
                "--failuresDbTable=embedding_failures",
                "--jdbcUrl=" + url,
                "--jdbcUser=" + USER,
                "--blockOnRun=false"));
    args.addAll(List.of(extra));
    BatchInferenceOptions options =
        PipelineOptionsFactory.fromArgs(args.toArray(new String[0]))
            .as(BatchInferenceOptions.class);
    Pipeline pipeline = Pipeline.create(options);
    BatchInference.build(pipeline, options);
    return pipeline.run().waitUntilFinish();
  }

  private static long count(String sql) throws Exception {
    try (Connection c = connection().open();
        Statement s = c.createStatement();
        ResultSet r = s.executeQuery(sql)) {
      r.next();
      return r.getLong(1);
    }
  }

  @Test
  public void twoRunsLeaveOneRowPerRecord() throws Exception {
    // First run: the password from a file. Second: from an environment variable (set for the
    // test JVM by the build), as a scheduler would pass it.
    assertThat(run("--jdbcPasswordFile=" + passwordFile), equalTo(PipelineResult.State.DONE));
    assertThat(count("SELECT count(*) FROM embeddings"), equalTo((long) good));
    assertThat(count("SELECT count(*) FROM embedding_failures"), equalTo(2L));

    assertThat(
        run("--jdbcPasswordEnv=BATCH_INFERENCE_TEST_PGPASSWORD"),
        equalTo(PipelineResult.State.DONE));
    assertThat(
        "no duplicates after a re-run",
        count("SELECT count(*) FROM embeddings"),
        equalTo((long) good));
    assertThat(count("SELECT count(DISTINCT id) FROM embeddings"), equalTo((long) good));
    assertThat(count("SELECT count(*) FROM embedding_failures"), equalTo(2L));
    assertThat(count("SELECT count(DISTINCT failure_key) FROM embedding_failures"), equalTo(2L));

    try (Connection c = connection().open();
        Statement s = c.createStatement();
        ResultSet r =
            s.executeQuery(
                "SELECT id, category, model_sha256, embedding, label, score, top_k::text"
                    + " FROM embeddings ORDER BY id LIMIT 1")) {
      assertThat(r.next(), is(true));
      Array embedding = r.getArray("embedding");
      Float[] values = (Float[]) embedding.getArray();
      assertThat(values.length, equalTo(384));
      assertThat(r.getString("model_sha256").length(), equalTo(64));
      assertThat(r.getString("label").isEmpty(), is(false));
      assertThat(r.getFloat("score") > 0, is(true));
      assertThat(r.getString("top_k"), containsString("\"label\""));
    }
    try (Connection c = connection().open();
        Statement s = c.createStatement();
        ResultSet r =
            s.executeQuery(
                "SELECT column_name, data_type FROM information_schema.columns"
                    + " WHERE table_name = 'embeddings' ORDER BY ordinal_position")) {
      StringBuilder columns = new StringBuilder();
      while (r.next()) {
        columns.append(r.getString(1)).append(':').append(r.getString(2)).append(' ');
      }
      assertThat(columns.toString(), containsString("embedding:ARRAY"));
      assertThat(columns.toString(), containsString("score:real"));
      assertThat(columns.toString(), containsString("index:bigint"));
      assertThat(columns.toString(), containsString("top_k:jsonb"));
    }
  }

  @Test
  public void aWrongPasswordFailsBeforeReadingAndIsNotShown() throws Exception {
    Path wrong = Files.writeString(TMP.getRoot().toPath().resolve("wrong"), "not-the-password");
    try {
      run("--jdbcPasswordFile=" + wrong);
      throw new AssertionError("expected a refusal");
    } catch (InvalidJobException e) {
      assertThat(e.getMessage(), containsString("Cannot use PostgreSQL at " + url));
      assertThat(e.getMessage(), containsString("password authentication failed"));
      assertThat(e.getMessage(), not(containsString("not-the-password")));
    }
  }

  @Test
  public void recordsSharingAnIdAreCountedAsCollapsed() throws Exception {
    Path dups = TMP.getRoot().toPath().resolve("dups.jsonl");
    Files.writeString(
        dups,
        "{\"id\":\"dup\",\"text\":\"The first of two records with one id.\",\"category\":\"a\"}\n"
            + "{\"id\":\"other\",\"text\":\"A record of its own.\",\"category\":\"b\"}\n"
            + "{\"id\":\"dup\",\"text\":\"The second of two records with one id.\",\"category\":\"c\"}\n");
    Path out = TMP.getRoot().toPath().resolve("out-dups");
    BatchInferenceOptions options =
        PipelineOptionsFactory.fromArgs(
                "--input=" + dups,
                "--output=" + out,
                "--carryFields=category",
                "--predictionsDbTable=dup_embeddings",
                "--jdbcUrl=" + url,
                "--jdbcUser=" + USER,
                "--jdbcPasswordFile=" + passwordFile,
                "--blockOnRun=false")
            .as(BatchInferenceOptions.class);
    try (Connection c = connection().open();
        Statement s = c.createStatement()) {
      s.execute("DROP TABLE IF EXISTS dup_embeddings");
    }
    Pipeline pipeline = Pipeline.create(options);
    BatchInference.build(pipeline, options);
    assertThat(pipeline.run().waitUntilFinish(), equalTo(PipelineResult.State.DONE));

    assertThat(count("SELECT count(*) FROM dup_embeddings"), equalTo(2L));
    JsonNode summary = new ObjectMapper().readTree(out.resolve(BatchInference.SUMMARY).toFile());
    assertThat(
        "predictions as the table holds them", summary.get("predictions").asLong(), equalTo(2L));
    assertThat(summary.get("collapsed_duplicate_ids").asLong(), equalTo(1L));
    assertThat(summary.get("nothing_lost").asBoolean(), is(true));
    assertThat(
        summary.get("nothing_lost_check").asText(),
        equalTo("read 3 = 2 predictions + 1 collapsed duplicate ids + 0 failures"));
    try (Connection c = connection().open();
        Statement s = c.createStatement();
        ResultSet r =
            s.executeQuery(
                "SELECT category, settings_sha256 FROM dup_embeddings WHERE id = 'dup'")) {
      assertThat(r.next(), is(true));
      assertThat("the record read last wins", r.getString(1), equalTo("c"));
      assertThat(r.getString(2), equalTo(summary.get("settings_sha256").asText()));
    }
  }
}
