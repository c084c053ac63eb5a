package dev.batchinference.pipelines.cli;

import static org.hamcrest.MatcherAssert.assertThat;
import static org.hamcrest.Matchers.closeTo;
import static org.hamcrest.Matchers.containsString;
import static org.hamcrest.Matchers.equalTo;
import static org.hamcrest.Matchers.hasSize;

import com.fasterxml.jackson.databind.JsonNode;
import dev.batchinference.pipelines.JobOutputs;
import dev.batchinference.pipelines.summary.ExitStatus;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Map;
import java.util.TreeMap;
import org.junit.ClassRule;
import org.junit.Test;
import org.junit.rules.TemporaryFolder;
import org.junit.runner.RunWith;
import org.junit.runners.JUnit4;

/**
 * {@code --task=RAW} with models that do not batch on a dynamic first dimension, end to end through
 * the command line on the DirectRunner: no batch dimension, a fixed one, and what is refused. The
 * models are made by {@code transforms/src/test/resources/models/make_models.py}.
 */
@RunWith(JUnit4.class)
public class AnyOnnxModelJobTest {

  @ClassRule public static final TemporaryFolder TMP = new TemporaryFolder();

  private static final Path MODELS = Path.of("../transforms/src/test/resources/models");
  private static final Path RELU =
      Path.of("/usr/share/libonnx-testdata/data/node/test_relu/model.onnx");

  private final ByteArrayOutputStream out = new ByteArrayOutputStream();
  private final ByteArrayOutputStream err = new ByteArrayOutputStream();

  private int run(String... args) {
    return CommandLine.run(
        args,
        new PrintStream(out, true, StandardCharsets.UTF_8),
        new PrintStream(err, true, StandardCharsets.UTF_8));
  }

  private String stdout() {
    return out.toString(StandardCharsets.UTF_8);
  }

  private String stderr() {
    return err.toString(StandardCharsets.UTF_8);
  }

  private static String model(String name) {
    return MODELS.resolve(name + ".onnx").toAbsolutePath().normalize().toString();
  }

  private static Path input(String name, String lines) throws Exception {
    Path file = TMP.newFolder().toPath().resolve(name);
    Files.writeString(file, lines);
    return file;
  }

  private static String[] raw(String model, Path input, Path output, String... more) {
    String[] args = {
      "--task=RAW", "--model=" + model, "--input=" + input, "--output=" + output, "--progress=false"
    };
    String[] all = Arrays.copyOf(args, args.length + more.length);
    System.arraycopy(more, 0, all, args.length, more.length);
    return all;
  }

  /** x[3,4,5] + y[5] times alpha[]: one record holds the three tensors whole and runs alone. */
  @Test
  public void anUnbatchedModelRunsOneWholeTensorRecordPerCall() throws Exception {
    StringBuilder lines = new StringBuilder();
    for (int r = 0; r < 3; r++) {
      StringBuilder x = new StringBuilder("[");
      for (int i = 0; i < 3; i++) {
        x.append(i > 0 ? "," : "").append('[');
        for (int j = 0; j < 4; j++) {
          x.append(j > 0 ? "," : "").append('[');
          for (int k = 0; k < 5; k++) {
            x.append(k > 0 ? "," : "").append(i + j + k);
          }
          x.append(']');
        }
        x.append(']');
      }
      x.append(']');
      lines
          .append("{\"id\":\"r")
          .append(r)
          .append("\",\"x\":")
          .append(x)
          .append(",\"y\":[0,10,20,30,40],\"alpha\":")
          .append(r + 1)
          .append("}\n");
    }
    Path output = TMP.newFolder().toPath();
    int status = run(raw(model("unbatched"), input("whole.jsonl", lines.toString()), output));
    assertThat(stderr(), status, equalTo(0));
    assertThat(stdout(), containsString("OK: 3 records read, 3 predicted, 0 failed"));
    JobOutputs job = JobOutputs.read(output);
    assertThat(job.summary.path("batching").asText(), equalTo("one record per run"));
    assertThat(job.summary.path("batch_size_limit").asLong(), equalTo(1L));
    for (JsonNode p : job.predictions) {
      int r = p.get("id").asText().charAt(1) - '0';
      JsonNode z = p.path("outputs").path("z");
      assertThat(z.size(), equalTo(3));
      assertThat(z.get(0).size(), equalTo(4));
      // z[2][3][4] = (2 + 3 + 4 + 40) * alpha
      assertThat(z.get(2).get(3).get(4).asDouble(), equalTo(49.0 * (r + 1)));
    }
  }

  /**
   * A batch dimension fixed at 4 makes every batch 4 records, the last padded with zero rows:
   * eleven records all get the output the model gives them alone (fixed at 1).
   */
  @Test
  public void aFixedBatchModelGetsBatchesOfExactlyN() throws Exception {
    StringBuilder lines = new StringBuilder();
    for (int r = 0; r < 11; r++) {
      lines
          .append("{\"id\":\"r")
          .append(r)
          .append("\",\"x\":[")
          .append(r)
          .append(",-1.5,")
          .append(0.25 * r)
          .append("]}\n");
    }
    Path in = input("rows.jsonl", lines.toString());
    Path four = TMP.newFolder().toPath();
    assertThat(stderr(), run(raw(model("fixed_batch4"), in, four)), equalTo(0));
    assertThat(stdout(), containsString("OK: 11 records read, 11 predicted, 0 failed"));
    Path one = TMP.newFolder().toPath();
    assertThat(stderr(), run(raw(model("fixed_batch1"), in, one)), equalTo(0));

    JobOutputs batched = JobOutputs.read(four);
    assertThat(batched.summary.path("batching").asText(), equalTo("fixed 4"));
    assertThat(batched.summary.path("batch_size_limit").asLong(), equalTo(4L));
    Map<String, JsonNode> alone = byId(JobOutputs.read(one).predictions);
    assertThat(JobOutputs.read(one).summary.path("batching").asText(), equalTo("fixed 1"));
    assertThat(batched.predictions, hasSize(11));
    for (JsonNode p : batched.predictions) {
      JsonNode prob = p.path("outputs").path("prob");
      JsonNode single = alone.get(p.get("id").asText()).path("outputs").path("prob");
      assertThat(prob.size(), equalTo(2));
      for (int c = 0; c < 2; c++) {
        assertThat(prob.get(c).asDouble(), closeTo(single.get(c).asDouble(), 1e-6));
      }
    }
  }

  private static Map<String, JsonNode> byId(Iterable<JsonNode> predictions) {
    Map<String, JsonNode> byId = new TreeMap<>();
    predictions.forEach(p -> byId.put(p.get("id").asText(), p));
    return byId;
  }

  /** ONNX's own test_relu (x[3,4,5]) is a model fixed at 3: rows of [4,5] run in threes. */
  @Test
  public void aBatchSizeOtherThanTheFixedOneIsRefusedBeforeReading() throws Exception {
    StringBuilder lines = new StringBuilder();
    java.util.Random random = new java.util.Random(13);
    for (int i = 0; i < 7; i++) {
      StringBuilder x = new StringBuilder("[");
      for (int r = 0; r < 4; r++) {
        x.append(r == 0 ? "[" : ",[");
        for (int c = 0; c < 5; c++) {
          x.append(c == 0 ? "" : ",").append(random.nextGaussian());
        }
        x.append(']');
      }
      lines.append("{\"id\":\"r").append(i).append("\",\"x\":").append(x).append("]}\n");
    }
    Path in = input("relu.jsonl", lines.toString());
    Path refused = TMP.newFolder().toPath();
    int status = run(raw(RELU.toString(), in, refused, "--batchSize=2"));
    assertThat(stdout(), status, equalTo(ExitStatus.INVALID.code()));
    assertThat(
        stderr(),
        containsString(
            "--batchSize=2 does not fit the model: its inputs have a batch dimension fixed at 3"));
    assertThat(stderr(), containsString("Leave --batchSize unset or set it to 3."));
    assertThat(
        "nothing was written", Files.exists(refused.resolve("summary.json")), equalTo(false));

    Path output = TMP.newFolder().toPath();
    assertThat(stderr(), run(raw(RELU.toString(), in, output, "--batchSize=3")), equalTo(0));
    assertThat(stdout(), containsString("OK: 7 records read, 7 predicted, 0 failed"));
    JobOutputs job = JobOutputs.read(output);
    assertThat(job.summary.path("batching").asText(), equalTo("fixed 3"));
    for (JsonNode p : job.predictions) {
      assertThat(p.path("outputs").path("y").size(), equalTo(4));
    }
  }

  @Test
  public void aModelWithoutABatchDimensionRefusesAnotherBatchSize() throws Exception {
    Path in = input("one.jsonl", "{\"id\":\"a\",\"x\":[],\"y\":[1,2,3,4,5],\"alpha\":1}\n");
    int status = run(raw(model("unbatched"), in, TMP.newFolder().toPath(), "--batchSize=8"));
    assertThat(stdout(), status, equalTo(ExitStatus.INVALID.code()));
    assertThat(
        stderr(),
        containsString(
            "--batchSize=8 does not fit the model: it has no batch dimension ("
                + "{x=FLOAT[3, 4, 5]"));
    assertThat(stderr(), containsString("so it runs one record per call"));
  }

  /** Inputs RAW cannot fill are refused before reading, naming the input and its type. */
  @Test
  public void inputsThatAreNotTensorsOfASupportedTypeAreRefusedBeforeReading() throws Exception {
    Path in = input("any.jsonl", "{\"id\":\"a\"}\n");
    String[][] cases = {
      {"uint16", "input 'u' of element type uint16; supported are float, double, float16"},
      {"sequence_input", "input 'seq' of type sequence of float values; only tensors"},
      {"optional_input", "input 'maybe' of type optional; only tensors are supported"},
    };
    for (String[] c : cases) {
      err.reset();
      int status = run(raw(model(c[0]), in, TMP.newFolder().toPath()));
      assertThat(c[0] + ": " + stdout(), status, equalTo(ExitStatus.INVALID.code()));
      assertThat(c[0], stderr(), containsString(c[1]));
    }
  }

  /**
   * A model that declares a dynamic batch but reshapes each row to 4 columns fails every record of
   * 3 columns in ONNX Runtime: the run is not OK, with the failure gate (4) and without it (1).
   */
  @Test
  public void aRunInWhichTheModelFailsEveryRecordIsAnError() throws Exception {
    StringBuilder lines = new StringBuilder();
    for (int i = 0; i < 6; i++) {
      lines.append("{\"id\":\"r").append(i).append("\",\"x\":[1,2,").append(i).append("]}\n");
    }
    Path in = input("threes.jsonl", lines.toString());
    int status = run(raw(model("reshape4"), in, TMP.newFolder().toPath()));
    assertThat(stderr(), status, equalTo(ExitStatus.TOO_MANY_FAILURES.code()));
    assertThat(
        stdout(),
        containsString("TOO MANY FAILURES: 6 records read, 0 predicted, 6 failed {\"infer\":6}"));

    out.reset();
    err.reset();
    status = run(raw(model("reshape4"), in, TMP.newFolder().toPath(), "--maxFailureRate=-1"));
    assertThat(stdout(), status, equalTo(ExitStatus.FAILED.code()));
    assertThat(stdout(), containsString("MODEL FAILED: 6 records read, 0 predicted, 6 failed"));
    assertThat(
        stderr(),
        containsString(
            "error: MODEL FAILED: every one of the 6 records read failed at infer: the model cannot"
                + " run these records"));
    assertThat(stderr(), containsString("most frequent: infer: ai.onnxruntime.OrtException (6)"));
  }

  /**
   * Every element type in and out through the job's JSON Lines, exactly (int64 past 2^53 as an
   * integer); an incremental run reads them back and carries the prediction forward unchanged; a
   * Parquet output, whose raw values are FLOAT64, refuses the string output before reading.
   */
  @Test
  public void everyTypeIsWrittenExactlyAndCarriedForwardUnchanged() throws Exception {
    Path in =
        input(
            "types.jsonl",
            "{\"id\":\"a\",\"in_float\":[1.5,-3.25],\"in_double\":[0.1,1e300],"
                + "\"in_float16\":[65504,-0.5],\"in_bfloat16\":[1.5,-2],\"in_int8\":[-128,127],"
                + "\"in_int16\":[-32768,32767],\"in_int32\":[-2147483648,2147483647],"
                + "\"in_int64\":[9007199254740993,-9223372036854775808],\"in_uint8\":[0,255],"
                + "\"in_bool\":[true,false],\"in_string\":[\"h\u00e9llo\",\"\"]}\n");
    Path first = TMP.newFolder().toPath();
    assertThat(stderr(), run(raw(model("all_types"), in, first)), equalTo(0));
    String line;
    try (java.nio.file.DirectoryStream<Path> files =
        Files.newDirectoryStream(first, "predictions*.jsonl")) {
      StringBuilder all = new StringBuilder();
      for (Path file : files) {
        all.append(Files.readString(file));
      }
      line = all.toString();
    }
    assertThat(
        line,
        containsString(
            "\"outputs\":{\"out_float\":[1.5,-3.25],\"out_double\":[0.1,1.0E300],"
                + "\"out_float16\":[65504.0,-0.5],\"out_bfloat16\":[1.5,-2.0],"
                + "\"out_int8\":[-128,127],\"out_int16\":[-32768,32767],"
                + "\"out_int32\":[-2147483648,2147483647],"
                + "\"out_int64\":[9007199254740993,-9223372036854775808],"
                + "\"out_uint8\":[0,255],\"out_bool\":[true,false],"
                + "\"out_string\":[\"h\u00e9llo\",\"\"]}"));
    assertThat(JobOutputs.read(first).summary.path("batching").asText(), equalTo("dynamic"));

    Path second = TMP.newFolder().toPath();
    assertThat(
        stderr(),
        run(
            raw(
                model("all_types"),
                in,
                second,
                "--previousPredictions=" + first + "/predictions*")),
        equalTo(0));
    JobOutputs carried = JobOutputs.read(second);
    assertThat(carried.summary.path("carried_forward").asLong(), equalTo(1L));
    assertThat(
        carried.predictions.get(0).path("outputs"),
        equalTo(JobOutputs.read(first).predictions.get(0).path("outputs")));

    err.reset();
    int status =
        run(raw(model("all_types"), in, TMP.newFolder().toPath(), "--outputFormat=PARQUET"));
    assertThat(stdout(), status, equalTo(ExitStatus.INVALID.code()));
    assertThat(
        stderr(),
        containsString(
            "Model output 'out_string' is a string tensor, which Parquet, BigQuery and PostgreSQL"
                + " outputs cannot hold"));
  }
}
