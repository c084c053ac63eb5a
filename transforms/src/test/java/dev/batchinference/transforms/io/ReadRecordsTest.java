package dev.batchinference.transforms.io;

import static dev.batchinference.transforms.testing.DisplayItems.hasDisplayItem;
import static org.hamcrest.MatcherAssert.assertThat;
import static org.hamcrest.Matchers.containsString;
import static org.hamcrest.Matchers.equalTo;
import static org.hamcrest.Matchers.hasItem;
import static org.hamcrest.Matchers.not;
import static org.hamcrest.Matchers.startsWith;
import static org.junit.Assert.assertThrows;

import dev.batchinference.transforms.Failure;
import dev.batchinference.transforms.RecordMeta;
import dev.batchinference.transforms.Stage;
import dev.batchinference.transforms.preprocess.FeatureVector;
import dev.batchinference.transforms.preprocess.Preprocess;
import dev.batchinference.transforms.tensor.Tensor;
import dev.batchinference.transforms.tensor.TensorExample;
import dev.batchinference.transforms.testing.FashionMnist;
import dev.batchinference.transforms.testing.Metas;
import java.io.ByteArrayOutputStream;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.zip.GZIPOutputStream;
import org.apache.beam.sdk.Pipeline;
import org.apache.beam.sdk.testing.PAssert;
import org.apache.beam.sdk.testing.TestPipeline;
import org.apache.beam.sdk.transforms.display.DisplayData;
import org.apache.beam.sdk.values.KV;
import org.junit.Rule;
import org.junit.Test;
import org.junit.rules.TemporaryFolder;
import org.junit.runner.RunWith;
import org.junit.runners.JUnit4;

/** Tests of {@link ReadRecords} on JSON Lines and CSV files. */
@RunWith(JUnit4.class)
public class ReadRecordsTest {

  @Rule public final transient TestPipeline pipeline = TestPipeline.create();
  @Rule public final TemporaryFolder tmp = new TemporaryFolder();

  private static final byte[] BOM = {(byte) 0xEF, (byte) 0xBB, (byte) 0xBF};

  private static byte[] bytes(Object... parts) throws Exception {
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    for (Object part : parts) {
      out.write(
          part instanceof byte[]
              ? (byte[]) part
              : ((String) part).getBytes(StandardCharsets.UTF_8));
    }
    return out.toByteArray();
  }

  private Path write(String name, byte[] content) throws Exception {
    return Files.write(tmp.getRoot().toPath().resolve(name), content);
  }

  /** A BOM, CRLF endings, blank lines, a line of invalid UTF-8, and no final newline. */
  private static byte[] jsonLines() throws Exception {
    return bytes(
        BOM,
        "{\"id\":\"a\"}\r\n",
        "\r\n",
        "{\"id\":\"b\",\"text\":\"é ✓\"}\n",
        "   \n",
        "{\"id\":\"",
        new byte[] {(byte) 0xFF, (byte) 0xC3},
        "\"}\n",
        "{\"id\":\"c\"}");
  }

  private void assertJsonLinesRead(ReadRecords.Result result, String source) {
    PAssert.that(result.records())
        .containsInAnyOrder(
            RawRecord.of(source, 0, "{\"id\":\"a\"}"),
            RawRecord.of(source, 2, "{\"id\":\"b\",\"text\":\"é ✓\"}"),
            RawRecord.of(source, 5, "{\"id\":\"c\"}"));
    PAssert.that(result.failures())
        .containsInAnyOrder(
            Failure.of(
                null,
                source,
                4,
                Stage.READ,
                "java.nio.charset.MalformedInputException",
                "line is not valid UTF-8",
                "{\"id\":\"\uFFFD\uFFFD\"}"));
  }

  @Test
  public void readsJsonLinesWithTheirPositions() throws Exception {
    Path file = write("in.jsonl", jsonLines());
    assertJsonLinesRead(pipeline.apply(ReadRecords.from(file.toString())), file.toString());
    pipeline.run().waitUntilFinish();
  }

  @Test
  public void readsGzippedJsonLines() throws Exception {
    Path file = tmp.getRoot().toPath().resolve("in.jsonl.gz");
    try (OutputStream out = new GZIPOutputStream(Files.newOutputStream(file))) {
      out.write(jsonLines());
    }
    assertJsonLinesRead(pipeline.apply(ReadRecords.from(file.toString())), file.toString());
    pipeline.run().waitUntilFinish();
  }

  @Test
  public void positionsCountWithinEachFile() throws Exception {
    Path a = write("part-a.jsonl", bytes("{\"n\":1}\n{\"n\":2}\n"));
    Path b = write("part-b.jsonl", bytes("{\"n\":3}\n"));
    write("other.txt", bytes("{\"n\":4}\n"));
    ReadRecords.Result result = pipeline.apply(ReadRecords.from(tmp.getRoot() + "/part-*.jsonl"));
    PAssert.that(result.records())
        .containsInAnyOrder(
            RawRecord.of(a.toString(), 0, "{\"n\":1}"),
            RawRecord.of(a.toString(), 1, "{\"n\":2}"),
            RawRecord.of(b.toString(), 0, "{\"n\":3}"));
    PAssert.that(result.failures()).empty();
    pipeline.run().waitUntilFinish();
  }

  @Test
  public void aPatternThatMatchesNothingFailsTheRead() {
    pipeline.apply(ReadRecords.from(tmp.getRoot() + "/none-*.jsonl"));
    Pipeline.PipelineExecutionException e =
        assertThrows(
            Pipeline.PipelineExecutionException.class, () -> pipeline.run().waitUntilFinish());
    assertThat(e.getMessage(), containsString("none-*.jsonl"));
  }

  @Test
  public void readsCsvWithQuotedNewlinesAndFailsRaggedRows() throws Exception {
    Path file =
        write(
            "in.csv",
            bytes( // a BOM, CRLF endings, a quoted newline, a ragged row and a blank line
                BOM,
                "id,text,px0,px1\r\n",
                "a,\"line one\nline two\",1,2\r\n",
                "b,short,3\r\n",
                "\r\n",
                "c,\"say \"\"hi\"\", twice\",0.5,-1\r\n"));
    String source = file.toString();
    ReadRecords.Result result =
        pipeline.apply(ReadRecords.from(source).withFormat(ReadRecords.Format.CSV));
    PAssert.that(result.records())
        .containsInAnyOrder(
            RawRecord.of(
                source,
                0,
                "{\"id\":\"a\",\"text\":\"line one\\nline two\",\"px0\":\"1\",\"px1\":\"2\"}"),
            RawRecord.of(
                source,
                2,
                "{\"id\":\"c\",\"text\":\"say \\\"hi\\\", twice\",\"px0\":\"0.5\",\"px1\":\"-1\"}"));
    PAssert.that(result.failures())
        .containsInAnyOrder(
            Failure.of(
                null,
                source,
                1,
                Stage.READ,
                "dev.batchinference.transforms.io.RaggedRowException",
                "row has 3 values, the header has 4",
                "b,short,3"));

    Preprocess.Result<TensorExample> examples =
        result
            .records()
            .apply(
                Preprocess.with(FeatureVector.of("input", 2).withColumns(List.of("px*")))
                    .withIdField("id"));
    PAssert.that(Metas.withoutHashes(examples.examples()))
        .containsInAnyOrder(
            KV.of(
                RecordMeta.of("a", source, 0, null),
                TensorExample.of("input", Tensor.vector(new float[] {1, 2}))),
            KV.of(
                RecordMeta.of("c", source, 2, null),
                TensorExample.of("input", Tensor.vector(new float[] {0.5f, -1}))));
    PAssert.that(examples.failures()).empty();
    pipeline.run().waitUntilFinish();
  }

  /** A spreadsheet's export: the header ends in a comma, and so does every row. */
  @Test
  public void csvColumnsWithoutANameAreIgnored() throws Exception {
    Path file = write("sheet.csv", bytes("id,text,\r\n", "a,hello,\r\n", "b,world,\r\n"));
    String source = file.toString();
    ReadRecords.Result result =
        pipeline.apply(ReadRecords.from(source).withFormat(ReadRecords.Format.CSV));
    PAssert.that(result.records())
        .containsInAnyOrder(
            RawRecord.of(source, 0, "{\"id\":\"a\",\"text\":\"hello\"}"),
            RawRecord.of(source, 1, "{\"id\":\"b\",\"text\":\"world\"}"));
    PAssert.that(result.failures()).empty();
    pipeline.run().waitUntilFinish();
  }

  /** Which column would a row's value belong to? Every row fails on its own, and is counted. */
  @Test
  public void csvHeaderThatNamesAColumnTwiceFailsEveryRowOnItsOwn() throws Exception {
    Path file = write("twice.csv", bytes("id,text,text\n", "a,x,y\n", "b,x,y\n", "\n", "c,x\n"));
    String source = file.toString();
    ReadRecords.Result result =
        pipeline.apply(ReadRecords.from(source).withFormat(ReadRecords.Format.CSV));
    String why =
        "the header names column 'text' twice (columns 2 and 3), so no row of the file can be read";
    PAssert.that(result.records()).empty();
    PAssert.that(result.failures())
        .containsInAnyOrder(
            Failure.of(null, source, 0, Stage.READ, ReadRecords.BAD_HEADER, why, "a,x,y"),
            Failure.of(null, source, 1, Stage.READ, ReadRecords.BAD_HEADER, why, "b,x,y"),
            Failure.of(null, source, 2, Stage.READ, ReadRecords.BAD_HEADER, why, "c,x"));
    pipeline.run().waitUntilFinish();
  }

  /**
   * A CSV file whose quote never closes cannot be read past it: the rows before it are read (a
   * record, a ragged row), the rest of the file is one failure, and the file is listed with the 2
   * records read before the cut.
   */
  @Test
  public void aFileCutShortIsListedWithTheRecordsReadBeforeTheCut() throws Exception {
    Path file =
        write(
            "cut.csv",
            bytes("id,text\n", "a,one\n", "\n", "x\n", "b,\"never closed\n", "c,three\n"));
    String source = file.toString();
    ReadRecords.Result result =
        pipeline.apply(ReadRecords.from(source).withFormat(ReadRecords.Format.CSV));
    PAssert.that(result.records())
        .containsInAnyOrder(RawRecord.of(source, 0, "{\"id\":\"a\",\"text\":\"one\"}"));
    PAssert.that(result.failures())
        .satisfies(
            failures -> {
              List<String> said = new ArrayList<>();
              failures.forEach(f -> said.add(f.index() + ": " + f.message()));
              assertThat(said.toString(), said.size(), equalTo(2));
              assertThat(said, hasItem("1: row has 1 values, the header has 2"));
              assertThat(
                  said,
                  hasItem(
                      startsWith("2: the rest of the file, from record 2 on, could not be read")));
              return null;
            });
    PAssert.that(result.unreadableFiles())
        .satisfies(
            files -> {
              List<UnreadableFile> all = new ArrayList<>();
              files.forEach(all::add);
              assertThat(all.toString(), all.size(), equalTo(1));
              assertThat(all.get(0).file(), equalTo(source));
              assertThat(all.get(0).recordsRead(), equalTo(2L));
              assertThat(all.get(0).error(), containsString("EOF reached"));
              return null;
            });
    pipeline.run().waitUntilFinish();
  }

  @Test
  public void fashionMnistCsvPixelsReadBackExactly() throws Exception {
    FashionMnist.Dataset data = FashionMnist.load(false, 5);
    Path file = tmp.getRoot().toPath().resolve("images.csv");
    FashionMnist.writeCsv(file, data, "img-");
    String source = file.toString();
    Preprocess.Result<TensorExample> examples =
        pipeline
            .apply(ReadRecords.from(source).withFormat(ReadRecords.Format.CSV))
            .records()
            .apply(
                Preprocess.with(
                        FeatureVector.of("input", FashionMnist.PIXELS).withColumns(List.of("px*")))
                    .withIdField("id")
                    .withCarryFields(List.of("label")));
    List<KV<RecordMeta, TensorExample>> expected = new ArrayList<>();
    for (int i = 0; i < data.size(); i++) {
      String carried = "{\"label\":\"" + FashionMnist.LABELS.get(data.labels()[i]) + "\"}";
      expected.add(
          KV.of(
              RecordMeta.of("img-" + i, source, i, carried),
              TensorExample.of("input", Tensor.vector(data.images()[i]))));
    }
    PAssert.that(Metas.withoutHashes(examples.examples())).containsInAnyOrder(expected);
    PAssert.that(examples.failures()).empty();
    pipeline.run().waitUntilFinish();
  }

  @Test
  public void displayDataShowsTheInput() {
    DisplayData data =
        DisplayData.from(
            ReadRecords.from("gs://bucket/in/*.csv")
                .withFormat(ReadRecords.Format.CSV)
                .withMaxRecordBytes(1024));
    assertThat(data, hasDisplayItem("filePattern", "gs://bucket/in/*.csv"));
    assertThat(data, hasDisplayItem("format", "CSV"));
    assertThat(data, hasDisplayItem("maxRecordBytes", 1024));

    DisplayData defaults = DisplayData.from(ReadRecords.from("in/*.jsonl"));
    assertThat(defaults, hasDisplayItem("format", "JSONL"));
    assertThat(defaults, not(hasDisplayItem("maxRecordBytes")));
  }
}
