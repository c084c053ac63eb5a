package dev.batchinference.transforms.io;

import static dev.batchinference.transforms.testing.DisplayItems.hasDisplayItem;
import static org.hamcrest.MatcherAssert.assertThat;
import static org.hamcrest.Matchers.equalTo;
import static org.hamcrest.Matchers.greaterThan;

import dev.batchinference.transforms.Failure;
import dev.batchinference.transforms.testing.Outputs;
import java.io.ByteArrayOutputStream;
import java.io.OutputStream;
import java.lang.reflect.Constructor;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.zip.GZIPOutputStream;
import org.apache.beam.sdk.io.Compression;
import org.apache.beam.sdk.io.FileIO;
import org.apache.beam.sdk.io.FileSystems;
import org.apache.beam.sdk.io.fs.MatchResult;
import org.apache.beam.sdk.testing.PAssert;
import org.apache.beam.sdk.testing.TestPipeline;
import org.apache.beam.sdk.transforms.display.DisplayData;
import org.junit.Rule;
import org.junit.Test;
import org.junit.rules.TemporaryFolder;
import org.junit.runner.RunWith;
import org.junit.runners.JUnit4;

/**
 * Tests of {@link ReadRecords} reading files cut into byte ranges: every record and every read
 * failure comes out exactly as the reader of the whole file gives it, at the same position.
 */
@RunWith(JUnit4.class)
public class ReadRecordsSplitTest {

  @Rule public final transient TestPipeline pipeline = TestPipeline.create();
  @Rule public final TemporaryFolder tmp = new TemporaryFolder();

  private static final byte[] BOM = {(byte) 0xEF, (byte) 0xBB, (byte) 0xBF};
  private static final byte[] NOT_UTF8 = {(byte) 0xFF, (byte) 0xC3};

  /** Ranges of 13 bytes: most records cross a cut, and some ranges hold no record start. */
  private static final long SMALL_RANGES = 13;

  private Path write(String name, Object... parts) throws Exception {
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    for (Object part : parts) {
      out.write(
          part instanceof byte[]
              ? (byte[]) part
              : ((String) part).getBytes(StandardCharsets.UTF_8));
    }
    return Files.write(tmp.getRoot().toPath().resolve(name), out.toByteArray());
  }

  /** What the reader of the whole file outputs. */
  private static Outputs readWhole(Path file, ReadRecords.Format format, long maxRecordBytes)
      throws Exception {
    MatchResult.Metadata metadata = FileSystems.matchSingleFileSpec(file.toString());
    Constructor<FileIO.ReadableFile> constructor =
        FileIO.ReadableFile.class.getDeclaredConstructor(
            MatchResult.Metadata.class, Compression.class);
    constructor.setAccessible(true);
    Outputs out = new Outputs();
    new ReadRecords.ReadFileFn(format, maxRecordBytes)
        .process(constructor.newInstance(metadata, Compression.detect(file.toString())), out);
    return out;
  }

  private void assertReadAsWhole(
      Path file, ReadRecords.Format format, long maxRecordBytes, int expectedRecords)
      throws Exception {
    FileSystems.setDefaultPipelineOptions(pipeline.getOptions());
    Outputs whole = readWhole(file, format, maxRecordBytes);
    List<RawRecord> records = whole.ofType(RawRecord.class);
    List<Failure> failures = whole.ofType(Failure.class);
    assertThat("records in the whole file", records.size(), equalTo(expectedRecords));
    ReadRecords.Result split =
        pipeline.apply(
            ReadRecords.from(file.toString())
                .withFormat(format)
                .withMaxRecordBytes(maxRecordBytes)
                .withRangeBytes(SMALL_RANGES)
                .withMinRanges(1));
    PAssert.that(split.records()).containsInAnyOrder(records);
    PAssert.that(split.failures()).containsInAnyOrder(failures);
    PAssert.that(split.unreadableFiles()).empty();
    pipeline.run().waitUntilFinish();
  }

  /** A BOM, CRLF endings, blank lines, bad UTF-8, an over-size line, no final newline. */
  private Object[] jsonLines() {
    return new Object[] {
      BOM,
      "{\"id\":\"a\"}\r\n",
      "\r\n",
      "{\"id\":\"b\",\"text\":\"é ✓ 日本語\"}\n",
      "   \n",
      "{\"id\":\"",
      NOT_UTF8,
      "\"}\n",
      "{\"id\":\"long\",\"text\":\"" + "x".repeat(120) + "\"}\n",
      "{\"id\":\"c\"}\n",
      "\n",
      "{\"id\":\"d\",\"text\":\"\uD83D\uDE00\"}\r\n",
      "{\"id\":\"e\"}"
    };
  }

  @Test
  public void splitJsonLinesKeepTheirLineIndexes() throws Exception {
    Path file = write("in.jsonl", jsonLines());
    assertReadAsWhole(file, ReadRecords.Format.JSONL, 100, 5);
  }

  @Test
  public void gzipFilesAreReadWhole() throws Exception {
    Path plain = write("plain.jsonl", jsonLines());
    Path file = tmp.getRoot().toPath().resolve("in.jsonl.gz");
    try (OutputStream out = new GZIPOutputStream(Files.newOutputStream(file))) {
      out.write(Files.readAllBytes(plain));
    }
    assertReadAsWhole(file, ReadRecords.Format.JSONL, 100, 5);
  }

  @Test
  public void splitCsvKeepsItsRowIndexes() throws Exception {
    Path file =
        write(
            "in.csv",
            BOM,
            "id,text,\r\n",
            "1,\"a, b\",\r\n",
            "\r\n",
            "2,\"say \"\"hi\"\"\",\r\n",
            "3,too,many,values\r\n",
            "4,\"",
            NOT_UTF8,
            "\",\r\n",
            "5,é ✓ 日本語,\r\n",
            "6,",
            "y".repeat(120),
            ",\r\n",
            "7,last,");
    // Its rows are its lines, so that it is read in ranges rather than whole.
    try (java.io.InputStream in = Files.newInputStream(file)) {
      assertThat(
          LineRanges.count(LineRanges.owned(in, 0, Files.size(file)), true).csvRowsAreLines,
          equalTo(true));
    }
    assertReadAsWhole(file, ReadRecords.Format.CSV, 100, 4);
  }

  @Test
  public void csvWithQuotedNewlinesIsReadWhole() throws Exception {
    Path file =
        write(
            "in.csv",
            "id,text\n",
            "1,plain\n",
            "2,\"two\nlines, \"\"quoted\"\"\"\n",
            "3,\"three\r\nlines\r\nhere\"\n",
            "4,plain\n");
    assertReadAsWhole(file, ReadRecords.Format.CSV, 1000, 4);
  }

  @Test
  public void aLargeFileIsCutForTheWorkersAndBySize() {
    long mib = ReadRecords.MIN_RANGE_BYTES;
    assertThat(ReadRecords.ranges(ReadRecords.Format.JSONL, 100 * mib, 64 * mib, 32), equalTo(32L));
    assertThat(
        ReadRecords.ranges(ReadRecords.Format.JSONL, 10_240 * mib, 64 * mib, 32), equalTo(160L));
    assertThat(ReadRecords.ranges(ReadRecords.Format.CSV, 5 * mib, 64 * mib, 32), equalTo(5L));
    assertThat(ReadRecords.ranges(ReadRecords.Format.JSONL, mib / 2, 64 * mib, 32), equalTo(1L));
    assertThat(
        "0 reads whole",
        ReadRecords.ranges(ReadRecords.Format.JSONL, 100 * mib, 0, 32),
        equalTo(1L));
    assertThat(
        ReadRecords.ranges(ReadRecords.Format.PARQUET, 100 * mib, 64 * mib, 32), equalTo(1L));
    assertThat(ReadRecords.ranges(ReadRecords.Format.JSONL, 50, 13, 1), greaterThan(1L));
  }

  @Test
  public void displaysItsRangeSize() {
    DisplayData data =
        DisplayData.from(ReadRecords.from("in.jsonl").withRangeBytes(1 << 20).withMinRanges(4));
    assertThat(data, hasDisplayItem("rangeBytes", 1L << 20));
    assertThat(data, hasDisplayItem("minRanges", 4));
  }
}
