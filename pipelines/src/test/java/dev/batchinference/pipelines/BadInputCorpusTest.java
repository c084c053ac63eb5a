package dev.batchinference.pipelines;

import static org.hamcrest.MatcherAssert.assertThat;
import static org.hamcrest.Matchers.containsString;
import static org.hamcrest.Matchers.equalTo;
import static org.hamcrest.Matchers.is;
import static org.hamcrest.Matchers.startsWith;

import com.fasterxml.jackson.databind.JsonNode;
import dev.batchinference.pipelines.options.BatchInferenceOptions;
import dev.batchinference.transforms.io.ReadRecords;
import dev.batchinference.transforms.testing.FashionMnist;
import dev.batchinference.transforms.testing.ParquetFiles;
import java.io.ByteArrayOutputStream;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.zip.GZIPOutputStream;
import org.apache.avro.Schema;
import org.apache.avro.SchemaBuilder;
import org.apache.avro.generic.GenericRecord;
import org.apache.avro.generic.GenericRecordBuilder;
import org.apache.beam.sdk.testing.TestPipeline;
import org.junit.ClassRule;
import org.junit.Rule;
import org.junit.Test;
import org.junit.rules.TemporaryFolder;
import org.junit.runner.RunWith;
import org.junit.runners.JUnit4;

/**
 * A corpus of bad input for every input format. Each case must produce exactly the failure record
 * expected of it (stage and reason, at its file and record index), every good record a prediction,
 * and the run's own nothing-lost check must hold.
 */
@RunWith(JUnit4.class)
public class BadInputCorpusTest {

  @ClassRule public static final TemporaryFolder TMP = new TemporaryFolder();
  @Rule public final transient TestPipeline pipeline = TestPipeline.create();

  private static final int MAX_RECORD_BYTES = 4096;
  private static final String GOOD = "The quick brown fox jumps over the lazy dog.";

  /** A file's records, and the failures expected of them: "file#index" → "stage: reason". */
  private final Map<String, String> expected = new TreeMap<>();

  private Path dir;
  private int good;
  private String cutFile;
  private int expectedReads;

  /** The files that cannot be read to their end: file → records read before the cut. */
  private final Map<String, Long> unreadable = new TreeMap<>();

  private void expect(String file, long index, String stage, String reason) {
    expected.put(file + "#" + index, stage + "|" + reason);
  }

  private BatchInferenceOptions embed(String pattern, ReadRecords.Format format) {
    BatchInferenceOptions options = pipeline.getOptions().as(BatchInferenceOptions.class);
    options.setInput(dir.resolve(pattern).toString());
    options.setInputFormat(format);
    options.setOutput(dir.resolve("out").toString());
    options.setMaxRecordBytes(MAX_RECORD_BYTES);
    options.setMaxFailureChars(2000);
    return options;
  }

  /** Runs the job and checks every failure against what was expected, and nothing more. */
  private JobOutputs runAndCheck(BatchInferenceOptions options) throws Exception {
    BatchInference.build(pipeline, options);
    pipeline.run().waitUntilFinish();
    JobOutputs outputs = JobOutputs.read(dir.resolve("out"));
    Map<String, String> actual = new TreeMap<>();
    for (JsonNode f : outputs.failures) {
      String file = Path.of(f.get("source").asText()).getFileName().toString();
      actual.put(
          file + "#" + f.get("index").asLong(),
          f.get("stage").asText() + "|" + f.get("error").asText());
    }
    if (cutFile != null) {
      // Where a compressed file breaks off depends on the decompressor's buffering: the failure
      // must follow the records read from the file, whatever their number.
      long fromCut =
          outputs.predictions.stream()
              .filter(p -> p.get("source").asText().endsWith(cutFile))
              .count();
      assertThat("records before the cut", fromCut > 0, is(true));
      String cut = actual.remove(cutFile + "#" + fromCut);
      assertThat(cut, startsWith("read|"));
      assertThat(cut, containsString("could not be read"));
      good += (int) fromCut;
      expectedReads++;
      unreadable.put(cutFile, fromCut);
    }
    Map<String, Long> listed = new TreeMap<>();
    for (JsonNode u : outputs.summary.path("unreadable_files")) {
      listed.put(
          Path.of(u.get("file").asText()).getFileName().toString(),
          u.get("records_read_before_cut").asLong());
      assertThat(u.toString(), u.get("error").asText().isEmpty(), is(false));
    }
    assertThat("unreadable files in the summary", listed, equalTo(unreadable));
    assertThat("failures", actual.keySet(), equalTo(expected.keySet()));
    for (Map.Entry<String, String> e : expected.entrySet()) {
      String[] stageAndReason = e.getValue().split("\\|", 2);
      assertThat(e.getKey(), actual.get(e.getKey()), startsWith(stageAndReason[0] + "|"));
      assertThat(e.getKey(), actual.get(e.getKey()), containsString(stageAndReason[1]));
    }
    assertThat("predictions", outputs.predictions.size(), equalTo(good));
    assertThat(outputs.summary.get("nothing_lost").asBoolean(), is(true));
    assertThat(
        outputs.summary.get("records_read").asLong(),
        equalTo((long) good + expected.size() + expectedReads));
    return outputs;
  }

  private static byte[] utf8(String s) {
    return s.getBytes(StandardCharsets.UTF_8);
  }

  private static byte[] concat(byte[]... parts) throws Exception {
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    for (byte[] p : parts) {
      out.write(p);
    }
    return out.toByteArray();
  }

  @Test
  public void jsonLines() throws Exception {
    dir = TMP.newFolder("jsonl").toPath();
    String longText = "x".repeat(MAX_RECORD_BYTES + 100);
    byte[] file =
        concat(
            new byte[] {(byte) 0xEF, (byte) 0xBB, (byte) 0xBF}, // BOM: not part of record 0
            utf8("{\"id\":\"a\",\"text\":\"" + GOOD + "\"}\r\n"), // CRLF
            utf8("{\"id\":\"dup\",\"text\":\"first of two records with one id\"}\n"),
            utf8("{\"id\":\"dup\",\"text\":\"second of two records with one id\"}\n"),
            utf8("{\"id\":\"m\",\"text\":\n"), // 3: malformed
            utf8("{\"id\":\"u\",\"text\":\"caf"),
            new byte[] {(byte) 0xC3, (byte) 0x28}, // 4: invalid UTF-8
            utf8("\"}\n"),
            utf8("\n   \n"), // 5, 6: blank lines are skipped, not records
            utf8("{\"id\":\"n\",\"text\":null}\n"), // 7: null where text is expected
            utf8("{\"id\":\"j\",\"text\":{\"nested\":[1,2]}}\n"), // 8: nested junk
            utf8("{\"id\":\"num\",\"text\":1e999}\n"), // 9: a number, and an infinite one
            utf8("{\"id\":\"long\",\"text\":\"" + longText + "\"}\n"), // 10: over maxRecordBytes
            utf8("{\"id\":\"../../etc/passwd %s%n{}\",\"text\":\"" + GOOD + "\"}\n"),
            utf8("{\"id\":\"x\",\"id\":\"y\",\"text\":\"" + GOOD + "\"}\n"), // 12: duplicate key
            utf8("[\"not\",\"an\",\"object\"]\n"), // 13
            utf8("{\"id\":\"t\",\"text\":\"trailing\"} {}\n"), // 14: trailing tokens
            utf8("{\"id\":\"last\",\"text\":\"no newline at the end\"}"));
    Files.write(dir.resolve("mixed.jsonl"), file);

    expect("mixed.jsonl", 3, "parse", "not valid JSON");
    expect("mixed.jsonl", 4, "read", "line is not valid UTF-8");
    expect("mixed.jsonl", 7, "preprocess", "record has no 'text' field");
    expect("mixed.jsonl", 8, "preprocess", "field 'text' must be a string, got object");
    expect("mixed.jsonl", 9, "preprocess", "field 'text' must be a string, got number");
    expect("mixed.jsonl", 10, "read", "over the limit of 4096 bytes (maxRecordBytes)");
    expect("mixed.jsonl", 12, "parse", "Duplicate field 'id'");
    expect("mixed.jsonl", 13, "parse", "expected a JSON object, got array");
    expect("mixed.jsonl", 14, "parse", "not valid JSON");

    Files.write(dir.resolve("empty.jsonl"), new byte[0]);

    // A gzip file cut short: the lines before the cut are records, the rest one read failure.
    ByteArrayOutputStream gz = new ByteArrayOutputStream();
    try (OutputStream out = new GZIPOutputStream(gz)) {
      for (int i = 0; i < 400; i++) {
        out.write(utf8("{\"id\":\"gz" + i + "\",\"text\":\"" + GOOD + " " + i + "\"}\n"));
      }
    }
    byte[] whole = gz.toByteArray();
    Files.write(dir.resolve("cut.jsonl.gz"), Arrays.copyOf(whole, whole.length * 2 / 3));
    cutFile = "cut.jsonl.gz";
    good = 5;

    JobOutputs outputs = runAndCheck(embed("*.jsonl*", ReadRecords.Format.JSONL));
    Map<String, JsonNode> byId = new TreeMap<>();
    for (JsonNode p : outputs.predictions) {
      byId.put(p.get("id").asText() + "@" + p.get("index").asLong(), p);
    }
    assertThat("BOM removed, record 0 predicted", byId.containsKey("a@0"), is(true));
    assertThat(
        "both records with id 'dup' predicted",
        byId.containsKey("dup@1") && byId.containsKey("dup@2"),
        is(true));
    assertThat(
        "an id is data, never a path or a format",
        byId.containsKey("../../etc/passwd %s%n{}@11"),
        is(true));
  }

  @Test
  public void csv() throws Exception {
    dir = TMP.newFolder("csv").toPath();
    String longText = "y".repeat(MAX_RECORD_BYTES + 1);
    Files.write(
        dir.resolve("tickets.csv"),
        concat(
            new byte[] {(byte) 0xEF, (byte) 0xBB, (byte) 0xBF},
            utf8(
                "id,text\r\n"
                    + "c0,\""
                    + GOOD
                    + "\"\r\n" // 0
                    + "c1,\"a text with, a comma and\na newline inside quotes\"\n" // 1
                    + "c2,too,many,values\n" // 2: ragged
                    + "c3\n" // 3: ragged, too few
                    + "c4,\"\"\n" // 4: empty text
                    + "c5,"
                    + longText
                    + "\n" // 5: over maxRecordBytes
                    + "\n" // blank: skipped
                    + "c6,\""
                    + GOOD
                    + "\"\n"), // 6
            utf8("c7,\"caf"),
            new byte[] {(byte) 0xC3, (byte) 0x28}, // 7: not UTF-8; the rows around it are fine
            utf8("\"\nc8,\"" + GOOD + "\"\n"))); // 8
    Files.write(dir.resolve("header-only.csv"), utf8("id,text\n"));
    // As spreadsheets export: the header and each row end in a comma; the unnamed column is
    // ignored.
    Files.write(
        dir.resolve("spreadsheet.csv"),
        utf8("id,text,\r\ns0,\"" + GOOD + "\",\r\ns1,\"" + GOOD + "\",\r\n"));
    // Which 'text' is the text? Each row fails on its own, and each is counted.
    Files.write(dir.resolve("twice.csv"), utf8("id,text,text\nt0,a,b\nt1,a,b\n\nt2,a,b\n"));
    good = 6;
    for (int row = 0; row < 3; row++) {
      expect("twice.csv", row, "read", "the header names column 'text' twice (columns 2 and 3)");
    }
    expect("tickets.csv", 2, "read", "row has 4 values, the header has 2");
    expect("tickets.csv", 7, "read", "row is not valid UTF-8");
    expect("tickets.csv", 3, "read", "row has 1 values, the header has 2");
    expect("tickets.csv", 4, "preprocess", "field 'text' is empty");
    expect("tickets.csv", 5, "read", "over the limit of 4096 bytes (maxRecordBytes)");
    runAndCheck(embed("*.csv", ReadRecords.Format.CSV));
  }

  @Test
  public void parquet() throws Exception {
    dir = TMP.newFolder("parquet").toPath();
    Schema schema =
        SchemaBuilder.record("doc")
            .fields()
            .optionalString("id")
            .optionalString("text")
            .optionalLong("n")
            .endRecord();
    List<GenericRecord> rows = new ArrayList<>();
    rows.add(
        new GenericRecordBuilder(schema).set("id", "p0").set("text", GOOD).set("n", 1L).build());
    rows.add(new GenericRecordBuilder(schema).set("id", "p1").set("text", null).build()); // 1
    rows.add(new GenericRecordBuilder(schema).set("id", null).set("text", GOOD).build()); // 2
    rows.add(
        new GenericRecordBuilder(schema)
            .set("id", "p3")
            .set("text", "z".repeat(MAX_RECORD_BYTES))
            .build()); // 3: its JSON is over the limit
    rows.add(new GenericRecordBuilder(schema).set("id", "p4").set("text", GOOD).build());
    ParquetFiles.write(dir.resolve("docs.parquet"), schema, rows);
    Schema numeric =
        SchemaBuilder.record("doc").fields().requiredString("id").requiredLong("text").endRecord();
    ParquetFiles.write(
        dir.resolve("typed.parquet"),
        numeric,
        List.of(new GenericRecordBuilder(numeric).set("id", "q0").set("text", 42L).build()));
    Files.write(dir.resolve("garbage.parquet"), utf8("PAR1 this is not a Parquet file"));
    // A Parquet file cut short loses its footer, and with it every row.
    byte[] docs = Files.readAllBytes(dir.resolve("docs.parquet"));
    Files.write(dir.resolve("cut.parquet"), Arrays.copyOf(docs, docs.length - 16));
    good = 2;
    expect("docs.parquet", 1, "preprocess", "record has no 'text' field");
    expect("docs.parquet", 2, "parse", "record has no id field 'id'");
    expect("docs.parquet", 3, "read", "over the limit of 4096 bytes (maxRecordBytes)");
    expect("typed.parquet", 0, "preprocess", "field 'text' must be a string, got number");
    expect("garbage.parquet", 0, "read", "could not be read");
    expect("cut.parquet", 0, "read", "could not be read");
    // Each is one failure for its unread rest, and listed in the summary.
    unreadable.put("garbage.parquet", 0L);
    unreadable.put("cut.parquet", 0L);
    runAndCheck(embed("*.parquet", ReadRecords.Format.PARQUET));
  }

  @Test
  public void featureVectors() throws Exception {
    dir = TMP.newFolder("features").toPath();
    Path model = FashionMnist.trainedClassifier(dir, 1000);
    String zeros = "0,".repeat(783);
    Files.writeString(
        dir.resolve("images.jsonl"),
        "{\"id\":\"ok\",\"features\":["
            + zeros
            + "0]}\n"
            + "{\"id\":\"short\",\"features\":[1,2,3]}\n" // 1: wrong shape
            + "{\"id\":\"nan\",\"features\":["
            + zeros
            + "\"NaN\"]}\n" // 2
            + "{\"id\":\"inf\",\"features\":["
            + zeros
            + "1e999]}\n" // 3
            + "{\"id\":\"neg-inf\",\"features\":["
            + zeros
            + "\"-Infinity\"]}\n" // 4
            + "{\"id\":\"null\",\"features\":["
            + zeros
            + "null]}\n" // 5
            + "{\"id\":\"nested\",\"features\":["
            + zeros
            + "[1]]}\n" // 6
            + "{\"id\":\"scalar\",\"features\":7}\n" // 7
            + "{\"id\":\"nan-literal\",\"features\":[NaN]}\n" // 8: not JSON
            + "{\"id\":\"ok2\",\"features\":["
            + zeros
            + "1]}\n");
    good = 2;
    expect("images.jsonl", 1, "preprocess", "field 'features' has 3 values; the model takes 784");
    expect("images.jsonl", 2, "preprocess", "features[783] is NaN; features must be finite");
    expect("images.jsonl", 3, "preprocess", "features[783] is Infinity; features must be finite");
    expect("images.jsonl", 4, "preprocess", "features[783] is -Infinity; features must be finite");
    expect("images.jsonl", 5, "preprocess", "features[783] must be a number, got null");
    expect("images.jsonl", 6, "preprocess", "features[783] must be a number, got array");
    expect("images.jsonl", 7, "preprocess", "must be an array of numbers, got number");
    expect("images.jsonl", 8, "parse", "not valid JSON");
    BatchInferenceOptions options = embed("images.jsonl", ReadRecords.Format.JSONL);
    options.setTask(BatchInferenceOptions.Task.CLASSIFY);
    options.setModel(model.toString());
    runAndCheck(options);
  }
}
