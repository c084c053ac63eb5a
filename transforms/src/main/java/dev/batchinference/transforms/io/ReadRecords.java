package dev.batchinference.transforms.io;

import static org.apache.beam.vendor.guava.v32_1_2_jre.com.google.common.base.Preconditions.checkArgument;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.batchinference.transforms.Failure;
import dev.batchinference.transforms.RecordOverLimitException;
import dev.batchinference.transforms.Stage;
import dev.batchinference.transforms.TupleOutput;
import java.io.BufferedInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.io.Reader;
import java.nio.ByteBuffer;
import java.nio.channels.Channels;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CharsetDecoder;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.util.HashMap;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import org.apache.avro.generic.GenericRecord;
import org.apache.beam.sdk.io.FileIO;
import org.apache.beam.sdk.io.fs.EmptyMatchTreatment;
import org.apache.beam.sdk.metrics.Counter;
import org.apache.beam.sdk.metrics.Metrics;
import org.apache.beam.sdk.transforms.DoFn;
import org.apache.beam.sdk.transforms.PTransform;
import org.apache.beam.sdk.transforms.ParDo;
import org.apache.beam.sdk.transforms.display.DisplayData;
import org.apache.beam.sdk.values.PBegin;
import org.apache.beam.sdk.values.PCollection;
import org.apache.beam.sdk.values.PCollectionTuple;
import org.apache.beam.sdk.values.TupleTag;
import org.apache.beam.sdk.values.TupleTagList;
import org.apache.commons.csv.CSVFormat;
import org.apache.commons.csv.CSVParser;
import org.apache.commons.csv.CSVRecord;
import org.apache.commons.csv.DuplicateHeaderMode;
import org.apache.parquet.hadoop.ParquetReader;
import org.checkerframework.checker.nullness.qual.Nullable;

/**
 * Reads the records of every file that matches a pattern (local or any Beam file system, e.g.
 * {@code gs://}; compressed files by extension), each with its position: the file and the
 * zero-based record index in it (the line for JSON Lines, the data row for CSV).
 *
 * <p>Files are read whole and in order by one worker each, which is what makes positions stable;
 * spread the records afterwards if the later steps need more parallelism than there are files. A
 * line that is not valid UTF-8 and a CSV row whose number of values differs from the header become
 * {@link Stage#READ} failures, one per record. Blank lines are skipped.
 *
 * <p>A CSV header's unnamed columns (an empty name, as in the {@code id,text,} that spreadsheets
 * export) are ignored. A header that names a column twice, or is not valid UTF-8, fails every row
 * of its file, each on its own, so that the rows are still counted.
 *
 * <p>A file that cannot be read past some point (a truncated gzip stream, a corrupt or cut Parquet
 * file, a CSV quote that never closes, a file that cannot be opened) gives one more {@link
 * Stage#READ} failure, at the index of the first record it could not read, standing for the unread
 * rest, and an {@link UnreadableFile} on {@link Result#unreadableFiles()} with the number of
 * records read before the cut.
 */
public final class ReadRecords extends PTransform<PBegin, ReadRecords.Result> {

  /** File formats. */
  public enum Format {
    /** One JSON object per line. */
    JSONL,
    /** Comma-separated values with a header row (RFC 4180 quoting, newlines inside quotes). */
    CSV,
    /** Apache Parquet; each row becomes a JSON object of its columns (see {@link AvroJson}). */
    PARQUET
  }

  /** The default largest record: 8 MiB. */
  public static final long DEFAULT_MAX_RECORD_BYTES = 8L << 20;

  /**
   * What bytes that are not UTF-8 decode to in CSV files: a Unicode noncharacter, which text meant
   * for interchange does not contain.
   */
  static final String NOT_UTF8 = "\uFDD0";

  /** How much of a record over the size limit its failure keeps. */
  static final int KEPT_OF_OVERSIZED = 1024;

  /**
   * How CSV input is parsed: RFC 4180 with a header row, fields untrimmed, and empty lines (which
   * RFC 4180 keeps as one-value rows) skipped as the blank lines they are. Headers with empty or
   * repeated names are let through the parser, so that the rows can still be counted; {@link
   * ReadRecords} ignores the unnamed columns and fails the rows under a repeated name.
   */
  public static final CSVFormat CSV_FORMAT =
      CSVFormat.RFC4180
          .builder()
          .setHeader()
          .setSkipHeaderRecord(true)
          .setTrim(false)
          .setIgnoreEmptyLines(true)
          .setAllowMissingColumnNames(true)
          .setDuplicateHeaderMode(DuplicateHeaderMode.ALLOW_ALL)
          .build();

  /** The error class of the failures of rows under a header that cannot be used. */
  static final String BAD_HEADER = "dev.batchinference.transforms.io.BadHeaderException";

  /** How much of the error that cut a file short its {@link UnreadableFile} keeps. */
  static final int KEPT_OF_CUT_ERROR = 1000;

  private static final TupleTag<RawRecord> RECORDS = new TupleTag<RawRecord>() {};
  private static final TupleTag<Failure> FAILURES = new TupleTag<Failure>() {};
  private static final TupleTag<UnreadableFile> UNREADABLE = new TupleTag<UnreadableFile>() {};

  private final String filepattern;
  private final Format format;
  private final long maxRecordBytes;

  private ReadRecords(String filepattern, Format format, long maxRecordBytes) {
    this.filepattern = filepattern;
    this.format = format;
    this.maxRecordBytes = maxRecordBytes;
  }

  /** Reads JSON Lines files matching {@code filepattern}. */
  public static ReadRecords from(String filepattern) {
    checkArgument(filepattern != null && !filepattern.isEmpty(), "filepattern must be set");
    return new ReadRecords(filepattern, Format.JSONL, DEFAULT_MAX_RECORD_BYTES);
  }

  public ReadRecords withFormat(Format format) {
    return new ReadRecords(filepattern, format, maxRecordBytes);
  }

  /**
   * Records larger than this (bytes of a line; characters of a CSV row's values or of a Parquet
   * row's JSON rendering) become {@link Stage#READ} failures that name the limit and the size, with
   * only the record's beginning kept. A JSON Lines line over the limit is never held whole in
   * memory. Default {@value #DEFAULT_MAX_RECORD_BYTES}.
   */
  public ReadRecords withMaxRecordBytes(long maxRecordBytes) {
    checkArgument(maxRecordBytes > 0, "maxRecordBytes must be > 0, got %s", maxRecordBytes);
    return new ReadRecords(filepattern, format, maxRecordBytes);
  }

  @Override
  public void populateDisplayData(DisplayData.Builder builder) {
    super.populateDisplayData(builder);
    builder
        .add(DisplayData.item("filePattern", filepattern).withLabel("Input file pattern"))
        .add(DisplayData.item("format", format.name()).withLabel("Input format"))
        .addIfNotDefault(
            DisplayData.item("maxRecordBytes", maxRecordBytes).withLabel("Max record size (bytes)"),
            DEFAULT_MAX_RECORD_BYTES);
  }

  @Override
  public Result expand(PBegin input) {
    PCollectionTuple read =
        input
            .apply(
                "MatchFiles",
                FileIO.match()
                    .filepattern(filepattern)
                    .withEmptyMatchTreatment(EmptyMatchTreatment.DISALLOW))
            .apply("OpenFiles", FileIO.readMatches())
            .apply(
                "ReadFiles",
                ParDo.of(new ReadFileFn(format, maxRecordBytes))
                    .withOutputTags(RECORDS, TupleTagList.of(FAILURES).and(UNREADABLE)));
    read.get(RECORDS).setCoder(RawRecord.Coder.of());
    read.get(FAILURES).setCoder(Failure.Coder.of());
    read.get(UNREADABLE).setCoder(UnreadableFile.Coder.of());
    return new Result(read);
  }

  /** Reads one file's records in order. */
  static final class ReadFileFn extends DoFn<FileIO.ReadableFile, RawRecord> {
    private static final ObjectMapper JSON = new ObjectMapper();
    private final Format format;
    private final long maxRecordBytes;
    private final Counter read = Metrics.counter(ReadRecords.class, "records_read");
    private final Counter blank = Metrics.counter(ReadRecords.class, "blank_lines_skipped");
    private final Counter unreadable = Metrics.counter(ReadRecords.class, "unreadable_files");

    /** Records (and record failures) read from the file being read, for its cut if it breaks. */
    private transient long readInFile;

    ReadFileFn(Format format) {
      this(format, DEFAULT_MAX_RECORD_BYTES);
    }

    ReadFileFn(Format format, long maxRecordBytes) {
      this.format = format;
      this.maxRecordBytes = maxRecordBytes;
    }

    @ProcessElement
    public void processElement(@Element FileIO.ReadableFile file, MultiOutputReceiver out) {
      String source = file.getMetadata().resourceId().toString();
      long[] next = {0};
      readInFile = 0;
      try {
        if (format == Format.PARQUET) {
          readParquet(source, file, next, out);
        } else {
          readText(source, file, next, out);
        }
      } catch (IOException | RuntimeException e) {
        String error = Failure.describe(e);
        long before = readInFile;
        // The unread rest is one failure (and one record read): how many records it held cannot
        // be known, and the file's entry in the summary's unreadable files says so.
        count();
        unreadable.inc();
        out.get(FAILURES)
            .output(
                Failure.of(
                    null,
                    source,
                    next[0],
                    Stage.READ,
                    e.getClass().getName(),
                    "the rest of the file, from record "
                        + next[0]
                        + " on, could not be read: "
                        + error,
                    null));
        out.get(UNREADABLE)
            .output(
                UnreadableFile.of(
                    source,
                    before,
                    error.length() > KEPT_OF_CUT_ERROR
                        ? error.substring(0, KEPT_OF_CUT_ERROR)
                        : error));
      }
    }

    /** Counts a record (or a record's failure) read from the current file. */
    private void count() {
      read.inc();
      readInFile++;
    }

    private void readText(
        String source, FileIO.ReadableFile file, long[] next, MultiOutputReceiver out)
        throws IOException {
      try (InputStream in = Channels.newInputStream(file.open())) {
        if (format == Format.JSONL) {
          readJsonLines(source, in, next, out);
        } else {
          readCsv(source, in, next, out);
        }
      }
    }

    private void readParquet(
        String source, FileIO.ReadableFile file, long[] next, MultiOutputReceiver out)
        throws IOException {
      try (ParquetReader<GenericRecord> rows = new ParquetInput(file).open()) {
        GenericRecord row;
        while ((row = rows.read()) != null) {
          long index = next[0]++;
          count();
          String json;
          try {
            json = AvroJson.toJson(row).toString();
          } catch (RuntimeException e) {
            // The row was read whole, so the file goes on: only this row fails.
            out.get(FAILURES).output(Failure.of(null, source, index, Stage.READ, e, null));
            continue;
          }
          if (json.length() > maxRecordBytes) {
            out.get(FAILURES)
                .output(
                    oversized(
                        source,
                        index,
                        json.length(),
                        json.substring(0, Math.min(json.length(), KEPT_OF_OVERSIZED))));
            continue;
          }
          out.get(RECORDS).output(RawRecord.of(source, index, json));
        }
      }
    }

    private void readJsonLines(String source, InputStream raw, long[] next, MultiOutputReceiver out)
        throws IOException {
      BoundedLines lines = new BoundedLines(raw, maxRecordBytes);
      CharsetDecoder decoder = strictUtf8();
      while (lines.next()) {
        long index = next[0]++;
        long length = lines.length();
        byte[] bytes = lines.bytes();
        int kept = lines.kept();
        if (length > maxRecordBytes) {
          String head =
              new String(bytes, 0, Math.min(kept, KEPT_OF_OVERSIZED), StandardCharsets.UTF_8);
          count();
          out.get(FAILURES).output(oversized(source, index, length, head));
          continue;
        }
        int start = index == 0 && startsWithBom(bytes, kept) ? 3 : 0;
        int end = kept > start && bytes[kept - 1] == '\r' ? kept - 1 : kept;
        String text;
        try {
          text = decoder.decode(ByteBuffer.wrap(bytes, start, end - start)).toString();
        } catch (CharacterCodingException e) {
          count();
          out.get(FAILURES)
              .output(
                  notUtf8(
                      source,
                      index,
                      "line",
                      new String(bytes, start, end - start, StandardCharsets.UTF_8)));
          continue;
        }
        if (text.isBlank()) {
          blank.inc();
          continue;
        }
        count();
        out.get(RECORDS).output(RawRecord.of(source, index, text));
      }
    }

    private static Failure notUtf8(String source, long index, String what, String input) {
      return Failure.of(
          null,
          source,
          index,
          Stage.READ,
          "java.nio.charset.MalformedInputException",
          what + " is not valid UTF-8",
          input);
    }

    private Failure oversized(String source, long index, long size, String kept) {
      return Failure.of(
          null,
          source,
          index,
          Stage.READ,
          RecordOverLimitException.class.getName(),
          "the record is "
              + size
              + " bytes, over the limit of "
              + maxRecordBytes
              + " bytes (maxRecordBytes); its first "
              + kept.length()
              + " characters are kept",
          kept);
    }

    /** A decoder that reports bytes that are not UTF-8 instead of replacing them. */
    private static CharsetDecoder strictUtf8() {
      return StandardCharsets.UTF_8
          .newDecoder()
          .onMalformedInput(CodingErrorAction.REPORT)
          .onUnmappableCharacter(CodingErrorAction.REPORT);
    }

    private static boolean startsWithBom(byte[] bytes) {
      return startsWithBom(bytes, bytes.length);
    }

    private static boolean startsWithBom(byte[] bytes, int length) {
      return length >= 3
          && (bytes[0] & 0xff) == 0xEF
          && (bytes[1] & 0xff) == 0xBB
          && (bytes[2] & 0xff) == 0xBF;
    }

    private void readCsv(String source, InputStream raw, long[] next, MultiOutputReceiver out)
        throws IOException {
      // Bytes that are not UTF-8 become a noncharacter, so that the row holding them fails alone:
      // a decoder that reports them would fail a whole buffer of rows, good ones included.
      CharsetDecoder decoder =
          StandardCharsets.UTF_8
              .newDecoder()
              .onMalformedInput(CodingErrorAction.REPLACE)
              .onUnmappableCharacter(CodingErrorAction.REPLACE)
              .replaceWith(NOT_UTF8);
      BufferedInputStream in = new BufferedInputStream(raw, 1 << 16);
      in.mark(3);
      byte[] bom = in.readNBytes(3);
      if (!startsWithBom(bom)) {
        in.reset();
      }
      Reader reader = new InputStreamReader(in, decoder);
      try (CSVParser parser = CSVParser.parse(reader, CSV_FORMAT)) {
        List<String> header = parser.getHeaderNames();
        String headerProblem = headerProblem(header);
        Iterator<CSVRecord> rows = parser.iterator();
        while (rows.hasNext()) {
          CSVRecord row = rows.next();
          long index = next[0]++;
          count();
          String[] values = row.values();
          long size = 0;
          boolean notUtf8 = false;
          for (String value : values) {
            size += value.length();
            notUtf8 |= value.indexOf(NOT_UTF8.charAt(0)) >= 0;
          }
          if (notUtf8) {
            out.get(FAILURES)
                .output(
                    notUtf8(
                        source,
                        index,
                        "row",
                        CSV_FORMAT.format(values).replace(NOT_UTF8, "\uFFFD")));
            continue;
          }
          if (size > maxRecordBytes) {
            String kept = CSV_FORMAT.format(values);
            out.get(FAILURES)
                .output(
                    oversized(
                        source,
                        index,
                        size,
                        kept.substring(0, Math.min(kept.length(), KEPT_OF_OVERSIZED))));
            continue;
          }
          if (headerProblem != null) {
            out.get(FAILURES)
                .output(
                    Failure.of(
                        null,
                        source,
                        index,
                        Stage.READ,
                        BAD_HEADER,
                        headerProblem,
                        CSV_FORMAT.format(values)));
            continue;
          }
          if (row.size() != header.size()) {
            out.get(FAILURES)
                .output(
                    Failure.of(
                        null,
                        source,
                        index,
                        Stage.READ,
                        "dev.batchinference.transforms.io.RaggedRowException",
                        "row has " + row.size() + " values, the header has " + header.size(),
                        CSV_FORMAT.format(row.values())));
            continue;
          }
          ObjectNode object = JSON.createObjectNode();
          for (int c = 0; c < values.length; c++) {
            if (!unnamed(header.get(c))) {
              object.put(header.get(c), values[c]);
            }
          }
          out.get(RECORDS).output(RawRecord.of(source, index, JSON.writeValueAsString(object)));
        }
      }
    }
  }

  /**
   * Why no row under {@code header} can be read, or null when they can: a name given to two columns
   * (which one would a row's value belong to?), or bytes that are not UTF-8.
   */
  static @Nullable String headerProblem(List<String> header) {
    if (String.join("", header).contains(NOT_UTF8)) {
      return "the header row is not valid UTF-8";
    }
    Map<String, Integer> seen = new HashMap<>();
    for (int c = 0; c < header.size(); c++) {
      String name = header.get(c);
      if (unnamed(name)) {
        continue;
      }
      Integer first = seen.putIfAbsent(name, c);
      if (first != null) {
        return "the header names column '"
            + name
            + "' twice (columns "
            + (first + 1)
            + " and "
            + (c + 1)
            + "), so no row of the file can be read";
      }
    }
    return null;
  }

  /**
   * Whether a header name leaves its column unnamed: empty or blank, as a spreadsheet exports a
   * trailing comma. Such columns are ignored.
   */
  static boolean unnamed(String name) {
    return name.trim().isEmpty();
  }

  /** The records read and the failures of reading. */
  public static final class Result extends TupleOutput {

    private Result(PCollectionTuple tuple) {
      super(tuple);
    }

    public PCollection<RawRecord> records() {
      return tuple.get(RECORDS);
    }

    public PCollection<Failure> failures() {
      return tuple.get(FAILURES);
    }

    /**
     * The files that could not be read to their end, each with the records read before the cut.
     * Each also has its failure on {@link #failures()}.
     */
    public PCollection<UnreadableFile> unreadableFiles() {
      return tuple.get(UNREADABLE);
    }
  }
}
