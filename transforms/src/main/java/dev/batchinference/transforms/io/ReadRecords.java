package dev.batchinference.transforms.io;

import static org.apache.beam.vendor.guava.v32_1_2_jre.com.google.common.base.Preconditions.checkArgument;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.batchinference.transforms.Failure;
import dev.batchinference.transforms.RecordOverLimitException;
import dev.batchinference.transforms.Stage;
import dev.batchinference.transforms.TupleOutput;
import java.io.BufferedInputStream;
import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.io.Reader;
import java.io.SequenceInputStream;
import java.nio.ByteBuffer;
import java.nio.channels.Channels;
import java.nio.channels.ReadableByteChannel;
import java.nio.channels.SeekableByteChannel;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CharsetDecoder;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import org.apache.avro.generic.GenericRecord;
import org.apache.beam.sdk.coders.KvCoder;
import org.apache.beam.sdk.coders.StringUtf8Coder;
import org.apache.beam.sdk.coders.VarLongCoder;
import org.apache.beam.sdk.io.Compression;
import org.apache.beam.sdk.io.FileIO;
import org.apache.beam.sdk.io.FileSystems;
import org.apache.beam.sdk.io.fs.EmptyMatchTreatment;
import org.apache.beam.sdk.io.fs.MatchResult;
import org.apache.beam.sdk.io.fs.MetadataCoderV2;
import org.apache.beam.sdk.io.fs.ResourceId;
import org.apache.beam.sdk.metrics.Counter;
import org.apache.beam.sdk.metrics.Metrics;
import org.apache.beam.sdk.transforms.Create;
import org.apache.beam.sdk.transforms.DoFn;
import org.apache.beam.sdk.transforms.Flatten;
import org.apache.beam.sdk.transforms.GroupByKey;
import org.apache.beam.sdk.transforms.PTransform;
import org.apache.beam.sdk.transforms.ParDo;
import org.apache.beam.sdk.transforms.Reshuffle;
import org.apache.beam.sdk.transforms.display.DisplayData;
import org.apache.beam.sdk.values.KV;
import org.apache.beam.sdk.values.PBegin;
import org.apache.beam.sdk.values.PCollection;
import org.apache.beam.sdk.values.PCollectionList;
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
 * <p>An uncompressed JSON Lines or CSV file that can be read from any byte (a local file, a Cloud
 * Storage object stored as it is) is cut into byte ranges of about {@link #withRangeBytes} (64
 * MiB), and into at least {@link #withMinRanges} (32) of at least 1 MiB each, so that one big file
 * feeds every worker. The (file, start, end) descriptors are shuffled, not the records, so that the
 * ranges spread over the workers on every runner. A range owns the lines that start in it (the rule
 * of Beam's {@code TextIO}): its reader skips the partial line it begins in and reads past its end
 * to finish its last line. Positions do not change with the cut: a first pass counts the lines of
 * every range, in parallel, and each range numbers its records on from the lines before it, so a
 * record's index is its line (JSON Lines) or data row (CSV) as when the file is read whole, at the
 * cost of reading a cut file twice (the counting pass only scans bytes). A CSV file is cut only
 * when its rows are its lines (no newline inside quotes, no lone carriage return, nothing between a
 * closing quote and the next comma, the header on the first line), which the counting pass checks;
 * any other CSV file is read whole by one reader, as are compressed files (gzip and the rest, which
 * cannot be read from the middle), Parquet files and files smaller than 2 MiB. Each CSV range reads
 * the header from the start of its file.
 *
 * <p>A line that is not valid UTF-8 and a CSV row whose number of values differs from the header
 * become {@link Stage#READ} failures, one per record. Blank lines are skipped.
 *
 * <p>A CSV header's unnamed columns (an empty name, as in the {@code id,text,} that spreadsheets
 * export) are ignored. A header that names a column twice, or is not valid UTF-8, fails every row
 * of its file, each on its own, so that the rows are still counted.
 *
 * <p>A file that cannot be read past some point (a truncated gzip stream, a corrupt or cut Parquet
 * file, a CSV quote that never closes, a file that cannot be opened) gives one more {@link
 * Stage#READ} failure, at the index of the first record it could not read, standing for the unread
 * rest, and an {@link UnreadableFile} on {@link Result#unreadableFiles()} with the number of
 * records read before the cut. For a file read in ranges, the failure stands for the rest of the
 * range, and the count is of the range's records.
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
  private static final TupleTag<Long> READ_COUNTS = new TupleTag<Long>() {};
  private static final TupleTag<ReadSide> SIDE = new TupleTag<ReadSide>() {};
  private static final TupleTag<Failure> THEN_FAILURES = new TupleTag<Failure>() {};
  private static final TupleTag<FileRange> WHOLE = new TupleTag<FileRange>() {};
  private static final TupleTag<FileRange> CUT = new TupleTag<FileRange>() {};

  /** The default size of the byte ranges a large uncompressed file is cut into: 64 MiB. */
  public static final long DEFAULT_RANGE_BYTES = 64L << 20;

  /**
   * The default least number of ranges a large file is cut into (each at least {@link
   * #MIN_RANGE_BYTES}): 32, four for each of 8 workers, so that ranges spread over random keys
   * leave no worker of a small cluster idle.
   */
  public static final int DEFAULT_MIN_RANGES = 32;

  /** The smallest range that {@link #withMinRanges} cuts a file into: 1 MiB. */
  public static final long MIN_RANGE_BYTES = 1L << 20;

  private final String filepattern;
  private final Format format;
  private final long maxRecordBytes;
  private final long rangeBytes;
  private final int minRanges;

  private ReadRecords(
      String filepattern, Format format, long maxRecordBytes, long rangeBytes, int minRanges) {
    this.filepattern = filepattern;
    this.format = format;
    this.maxRecordBytes = maxRecordBytes;
    this.rangeBytes = rangeBytes;
    this.minRanges = minRanges;
  }

  /** Reads JSON Lines files matching {@code filepattern}. */
  public static ReadRecords from(String filepattern) {
    checkArgument(filepattern != null && !filepattern.isEmpty(), "filepattern must be set");
    return new ReadRecords(
        filepattern,
        Format.JSONL,
        DEFAULT_MAX_RECORD_BYTES,
        DEFAULT_RANGE_BYTES,
        DEFAULT_MIN_RANGES);
  }

  public ReadRecords withFormat(Format format) {
    return new ReadRecords(filepattern, format, maxRecordBytes, rangeBytes, minRanges);
  }

  /**
   * Uncompressed JSON Lines and CSV files are cut into byte ranges of about this size, read in
   * parallel; 0 reads every file whole, by one reader. Default {@value #DEFAULT_RANGE_BYTES}.
   */
  public ReadRecords withRangeBytes(long rangeBytes) {
    checkArgument(rangeBytes >= 0, "rangeBytes must be >= 0, got %s", rangeBytes);
    return new ReadRecords(filepattern, format, maxRecordBytes, rangeBytes, minRanges);
  }

  /**
   * A file large enough to be cut is cut into at least this many ranges, none smaller than {@link
   * #MIN_RANGE_BYTES}, so that a file below the range size still feeds every worker. Default
   * {@value #DEFAULT_MIN_RANGES}.
   */
  public ReadRecords withMinRanges(int minRanges) {
    checkArgument(minRanges >= 1, "minRanges must be >= 1, got %s", minRanges);
    return new ReadRecords(filepattern, format, maxRecordBytes, rangeBytes, minRanges);
  }

  /**
   * Records larger than this (bytes of a line; characters of a CSV row's values or of a Parquet
   * row's JSON rendering) become {@link Stage#READ} failures that name the limit and the size, with
   * only the record's beginning kept. A JSON Lines line over the limit is never held whole in
   * memory. Default {@value #DEFAULT_MAX_RECORD_BYTES}.
   */
  public ReadRecords withMaxRecordBytes(long maxRecordBytes) {
    checkArgument(maxRecordBytes > 0, "maxRecordBytes must be > 0, got %s", maxRecordBytes);
    return new ReadRecords(filepattern, format, maxRecordBytes, rangeBytes, minRanges);
  }

  @Override
  public void populateDisplayData(DisplayData.Builder builder) {
    super.populateDisplayData(builder);
    builder
        .add(DisplayData.item("filePattern", filepattern).withLabel("Input file pattern"))
        .add(DisplayData.item("format", format.name()).withLabel("Input format"))
        .addIfNotDefault(
            DisplayData.item("maxRecordBytes", maxRecordBytes).withLabel("Max record size (bytes)"),
            DEFAULT_MAX_RECORD_BYTES)
        .addIfNotDefault(
            DisplayData.item("rangeBytes", rangeBytes).withLabel("Range size (bytes)"),
            DEFAULT_RANGE_BYTES)
        .addIfNotDefault(
            DisplayData.item("minRanges", minRanges).withLabel("Least ranges per large file"),
            DEFAULT_MIN_RANGES);
  }

  /**
   * Does {@code fn} with each record where it is read, in the reading step: the result has {@code
   * fn}'s outputs instead of the records, and its failures beside the read's. Not for Parquet (read
   * by {@code ReadFiles}, file by file); JSON Lines and CSV files, in ranges or whole.
   */
  public <T> Then<T> thenEach(RecordFn<T> fn) {
    checkArgument(format != Format.PARQUET, "thenEach reads JSON Lines or CSV, not %s", format);
    return new Then<>(this, Objects.requireNonNull(fn));
  }

  @Override
  public Result expand(PBegin input) {
    return new Result(read(input, RECORDS, null, RawRecord.Coder.of()));
  }

  /**
   * Reads the files: {@code main} has the records, or what {@code then} made of them; the tuple
   * also has {@link #FAILURES}, {@link #UNREADABLE}, {@link #READ_COUNTS} and {@link
   * #THEN_FAILURES}.
   */
  private <T> PCollectionTuple read(
      PBegin input,
      TupleTag<T> main,
      @Nullable RecordFn<T> then,
      org.apache.beam.sdk.coders.Coder<T> mainCoder) {
    PCollectionTuple read;
    if (format == Format.PARQUET) {
      // Read file by file: Beam's match spreads the files over the workers.
      PCollection<MatchResult.Metadata> files =
          input.apply(
              "MatchFiles",
              FileIO.match()
                  .filepattern(filepattern)
                  .withEmptyMatchTreatment(EmptyMatchTreatment.DISALLOW));
      checkArgument(then == null, "Parquet files are read file by file, with no step after");
      read =
          files
              .apply("OpenFiles", FileIO.readMatches())
              .apply(
                  "ReadFiles",
                  ParDo.of(new ReadFileFn(format, maxRecordBytes))
                      .withOutputTags(RECORDS, TupleTagList.of(SIDE)));
    } else {
      // The descriptors are spread, not the records: on Flink's batch translation a splittable
      // read's initial splits stay on the subtask that made them, while a shuffle of (file, start,
      // end) hands every worker ranges to read. The ranges of a cut file are counted first, in
      // parallel, and grouped by file to number them (a grouping rather than a side input, which
      // the DirectRunner polls while it waits).
      // The files are matched where the pattern is, without FileIO.match()'s reshuffle (a
      // shuffle and three steps): the ranges cut from them are spread below.
      PCollection<MatchResult.Metadata> files =
          input
              .apply("Filepattern", Create.of(filepattern).withCoder(StringUtf8Coder.of()))
              .apply("MatchFiles", ParDo.of(new MatchFn()))
              .setCoder(MetadataCoderV2.of());
      PCollectionTuple cut =
          files.apply(
              "CutRanges",
              ParDo.of(new CutRangesFn(format, rangeBytes, minRanges))
                  .withOutputTags(WHOLE, TupleTagList.of(CUT)));
      cut.get(WHOLE).setCoder(FileRange.Coder.of());
      PCollection<FileRange> numbered =
          cut.get(CUT)
              .setCoder(FileRange.Coder.of())
              .apply("SpreadRangesToCount", Reshuffle.<FileRange>viaRandomKey())
              .apply("CountLines", ParDo.of(new CountLinesFn(format)))
              .setCoder(KvCoder.of(StringUtf8Coder.of(), FileRange.Lines.Coder.of()))
              .apply("GroupByFile", GroupByKey.create())
              .apply("NumberRanges", ParDo.of(new NumberRangesFn(format)))
              .setCoder(FileRange.Coder.of());
      read =
          PCollectionList.of(cut.get(WHOLE))
              .and(numbered)
              .apply("AllRanges", Flatten.pCollections())
              .apply("SpreadRanges", Reshuffle.<FileRange>viaRandomKey())
              .apply(
                  "ReadRanges",
                  ParDo.of(new ReadRangeFn<>(format, maxRecordBytes, main, then))
                      .withOutputTags(main, TupleTagList.of(SIDE)));
    }
    // The records have one output besides the reports (see ReadSide); the reports, few and small,
    // are split in a step of their own.
    read.get(main).setCoder(mainCoder);
    PCollectionTuple side =
        read.get(SIDE)
            .setCoder(ReadSide.Coder.of())
            .apply(
                "SplitReports",
                ParDo.of(new SplitReportsFn())
                    .withOutputTags(
                        FAILURES, TupleTagList.of(UNREADABLE).and(READ_COUNTS).and(THEN_FAILURES)));
    side.get(FAILURES).setCoder(Failure.Coder.of());
    side.get(UNREADABLE).setCoder(UnreadableFile.Coder.of());
    side.get(READ_COUNTS).setCoder(VarLongCoder.of());
    side.get(THEN_FAILURES).setCoder(Failure.Coder.of());
    return PCollectionTuple.of(main, read.get(main))
        .and(FAILURES, side.get(FAILURES))
        .and(UNREADABLE, side.get(UNREADABLE))
        .and(READ_COUNTS, side.get(READ_COUNTS))
        .and(THEN_FAILURES, side.get(THEN_FAILURES));
  }

  /** Puts a read step's reports back on the outputs they stand for. */
  static final class SplitReportsFn extends DoFn<ReadSide, Failure> {
    @ProcessElement
    public void processElement(@Element ReadSide report, MultiOutputReceiver out) {
      switch (report.kind()) {
        case FAILURE:
          out.get(FAILURES).output(report.failure());
          break;
        case UNREADABLE:
          out.get(UNREADABLE).output(report.unreadable());
          break;
        case THEN_FAILURE:
          out.get(THEN_FAILURES).output(report.failure());
          break;
        default:
          out.get(READ_COUNTS).output(report.count());
      }
    }
  }

  /**
   * Gives a read DoFn's code the outputs it writes to (records, failures, unreadable files, counts)
   * over the two its step has: the records go on as they are, the rest as {@link ReadSide} reports.
   */
  static final class ReportingOutputs<OutputT> implements DoFn.MultiOutputReceiver {
    private final DoFn.MultiOutputReceiver out;
    private final TupleTag<OutputT> main;
    private final @Nullable RecordFn<OutputT> then;

    /**
     * The receiver of each tag, made on first use: the reading code asks for its output once per
     * record.
     */
    private final Map<String, DoFn.OutputReceiver<?>> receivers = new HashMap<>();

    /** The records go on {@link #RECORDS} as they are. */
    ReportingOutputs(DoFn.MultiOutputReceiver out) {
      this(out, null, null);
    }

    /** Each record goes through {@code then}, when set, onto {@code main}. */
    ReportingOutputs(
        DoFn.MultiOutputReceiver out,
        @Nullable TupleTag<OutputT> main,
        @Nullable RecordFn<OutputT> then) {
      this.out = out;
      this.main = main;
      this.then = then;
    }

    @Override
    @SuppressWarnings("unchecked")
    public <T> DoFn.OutputReceiver<T> get(TupleTag<T> tag) {
      return (DoFn.OutputReceiver<T>) receivers.computeIfAbsent(tag.getId(), id -> receiver(tag));
    }

    @SuppressWarnings("unchecked")
    private <T> DoFn.OutputReceiver<T> receiver(TupleTag<T> tag) {
      DoFn.OutputReceiver<ReadSide> side = out.get(SIDE);
      if (tag.getId().equals(RECORDS.getId())) {
        if (then == null) {
          return main == null ? out.get(tag) : (DoFn.OutputReceiver<T>) out.get(main);
        }
        DoFn.OutputReceiver<OutputT> outputs = out.get(main);
        RecordFn<OutputT> fn = then;
        java.util.function.Consumer<OutputT> toOutputs = outputs::output;
        java.util.function.Consumer<Failure> toReports =
            failure -> side.output(ReadSide.thenFailure(failure));
        return new DoFn.OutputReceiver<T>() {
          @Override
          public void output(T record) {
            fn.apply((RawRecord) record, toOutputs, toReports);
          }

          @Override
          public void outputWithTimestamp(T record, org.joda.time.Instant timestamp) {
            fn.apply(
                (RawRecord) record,
                value -> outputs.outputWithTimestamp(value, timestamp),
                failure -> side.outputWithTimestamp(ReadSide.thenFailure(failure), timestamp));
          }
        };
      }
      java.util.function.Function<T, ReadSide> report;
      if (tag.getId().equals(FAILURES.getId())) {
        report = value -> ReadSide.failure((Failure) value);
      } else if (tag.getId().equals(UNREADABLE.getId())) {
        report = value -> ReadSide.unreadable((UnreadableFile) value);
      } else if (tag.getId().equals(READ_COUNTS.getId())) {
        report = value -> ReadSide.count((Long) value);
      } else {
        throw new IllegalArgumentException("not an output of a read step: " + tag);
      }
      return new DoFn.OutputReceiver<T>() {
        @Override
        public void output(T value) {
          side.output(report.apply(value));
        }

        @Override
        public void outputWithTimestamp(T value, org.joda.time.Instant timestamp) {
          side.outputWithTimestamp(report.apply(value), timestamp);
        }
      };
    }

    @Override
    public <T> DoFn.OutputReceiver<org.apache.beam.sdk.values.Row> getRowReceiver(TupleTag<T> tag) {
      return out.getRowReceiver(tag);
    }
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
    public void processElement(@Element FileIO.ReadableFile file, MultiOutputReceiver outputs) {
      process(file, new ReportingOutputs(outputs));
    }

    /** Reads {@code file} to the outputs the transform has: records, failures, files, counts. */
    void process(FileIO.ReadableFile file, MultiOutputReceiver outputs) {
      CountingRecords out = new CountingRecords(outputs);
      try {
        readFile(file, out);
      } finally {
        out.emitCount();
      }
    }

    private void readFile(FileIO.ReadableFile file, MultiOutputReceiver out) {
      String source = file.getMetadata().resourceId().toString();
      read(
          source,
          0,
          "the rest of the file",
          out,
          next -> {
            if (format == Format.PARQUET) {
              readParquet(source, file, next, out);
            } else {
              readText(source, Channels.newInputStream(file.open()), null, next, out);
            }
          });
    }

    /** Reads records with {@code body}, numbered from {@code first}. */
    interface Body {
      void read(long[] next) throws IOException;
    }

    /**
     * Reads a file or a range of it with {@code body}, its records numbered from {@code first};
     * where the reading breaks off, {@code rest} (the rest of the file, or of the range) is one
     * failure and the file is unreadable.
     */
    void read(String source, long first, String rest, MultiOutputReceiver out, Body body) {
      long[] next = {first};
      readInFile = 0;
      try {
        body.read(next);
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
                    rest + ", from record " + next[0] + " on, could not be read: " + error,
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

    /**
     * Reads the JSON Lines or CSV records of {@code opened} and closes it; {@code csvHeader}, when
     * set, is the header line of a CSV file whose range {@code opened} holds.
     */
    void readText(
        String source,
        InputStream opened,
        byte @Nullable [] csvHeader,
        long[] next,
        MultiOutputReceiver out)
        throws IOException {
      try (InputStream in = opened) {
        if (format == Format.JSONL) {
          readJsonLines(source, in, next, out);
        } else if (csvHeader == null) {
          readCsv(source, in, next, out);
        } else {
          readCsv(
              source, new SequenceInputStream(new ByteArrayInputStream(csvHeader), in), next, out);
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
   * Cuts each matched file into the ranges its readers take: uncompressed JSON Lines and CSV files
   * that can be read from any byte (local files, Cloud Storage objects stored as they are) into
   * ranges of about {@code rangeBytes}, and at least {@code minRanges} of at least {@link
   * #MIN_RANGE_BYTES}; every other file (compressed, or too small to cut) into one range, read
   * whole.
   */
  static final class CutRangesFn extends DoFn<MatchResult.Metadata, FileRange> {
    private final Format format;
    private final long rangeBytes;
    private final int minRanges;

    CutRangesFn(Format format, long rangeBytes, int minRanges) {
      this.format = format;
      this.rangeBytes = rangeBytes;
      this.minRanges = minRanges;
    }

    @ProcessElement
    public void processElement(@Element MatchResult.Metadata file, MultiOutputReceiver out) {
      ResourceId id = file.resourceId();
      if (id.isDirectory()) {
        return;
      }
      String name = id.toString();
      long size = file.sizeBytes();
      long count = ranges(format, size, rangeBytes, minRanges);
      if (count <= 1
          || !file.isReadSeekEfficient()
          || Compression.detect(id.getFilename() == null ? name : id.getFilename())
              != Compression.UNCOMPRESSED) {
        out.get(WHOLE).output(FileRange.of(name, 0, size, 0, 1));
        return;
      }
      for (int i = 0; i < count; i++) {
        out.get(CUT)
            .output(FileRange.of(name, size * i / count, size * (i + 1) / count, i, (int) count));
      }
    }
  }

  /** How many ranges a file of {@code size} bytes is cut into; 1 reads it whole. */
  static long ranges(Format format, long size, long rangeBytes, int minRanges) {
    if (format == Format.PARQUET || rangeBytes == 0 || size <= 1) {
      return 1;
    }
    long bySize = (size + rangeBytes - 1) / rangeBytes;
    long forWorkers = Math.min(minRanges, size / MIN_RANGE_BYTES);
    return Math.min(Math.max(bySize, forWorkers), Math.min(size, Integer.MAX_VALUE));
  }

  /** Opens {@code file} at byte {@code position}. */
  static InputStream openAt(String file, long position) throws IOException {
    ReadableByteChannel channel = FileSystems.open(FileSystems.matchNewResource(file, false));
    if (position > 0) {
      ((SeekableByteChannel) channel).position(position);
    }
    return Channels.newInputStream(channel);
  }

  /** Opens the lines of {@code range} (see {@link LineRanges#owned}). */
  static InputStream openLines(FileRange range) throws IOException {
    return LineRanges.owned(
        openAt(range.file(), Math.max(0, range.start() - 1)), range.start(), range.end());
  }

  /**
   * Counts the lines of each range of a file that was cut, so that a range's reader knows the index
   * of its first record and whether the file's CSV rows are its lines. Files read whole are not
   * counted. A range that cannot be counted marks its file as one to read whole.
   */
  /** The files a pattern matches (at least one, else it fails, as the job checked at launch). */
  static final class MatchFn extends DoFn<String, MatchResult.Metadata> {
    private static final org.slf4j.Logger LOG = org.slf4j.LoggerFactory.getLogger(MatchFn.class);

    @ProcessElement
    public void processElement(@Element String pattern, OutputReceiver<MatchResult.Metadata> out)
        throws java.io.IOException {
      MatchResult match =
          org.apache.beam.sdk.io.FileSystems.match(pattern, EmptyMatchTreatment.DISALLOW);
      List<MatchResult.Metadata> files = match.metadata();
      LOG.info("Matched {} files for pattern {}", files.size(), pattern);
      for (MatchResult.Metadata file : files) {
        out.output(file);
      }
    }
  }

  static final class CountLinesFn extends DoFn<FileRange, KV<String, FileRange.Lines>> {
    private final Format format;

    CountLinesFn(Format format) {
      this.format = format;
    }

    @ProcessElement
    public void processElement(
        @Element FileRange range, OutputReceiver<KV<String, FileRange.Lines>> out) {
      if (range.whole()) {
        return;
      }
      FileRange.Lines lines;
      try (InputStream in = openLines(range)) {
        LineRanges.Counts counts =
            format == Format.JSONL
                ? LineRanges.countLines(in)
                : LineRanges.count(in, range.start() == 0);
        lines =
            new FileRange.Lines(
                range,
                counts.lines,
                counts.nonEmptyLines,
                format == Format.JSONL || counts.csvRowsAreLines);
      } catch (IOException | RuntimeException e) {
        // The reader of the file's first range reads it whole, and reports what breaks there.
        lines = new FileRange.Lines(range, 0, 0, false);
      }
      out.output(KV.of(range.file(), lines));
    }
  }

  /**
   * Numbers the ranges of a file from their counts: each range learns the index of its first record
   * (the lines before it for JSON Lines; the rows after the header before it for CSV, the header
   * being the first line). A file whose ranges cannot all be read on their own (a CSV file whose
   * rows are not its lines, a range that could not be counted) becomes one range, read whole.
   */
  static final class NumberRangesFn extends DoFn<KV<String, Iterable<FileRange.Lines>>, FileRange> {
    private final Format format;

    NumberRangesFn(Format format) {
      this.format = format;
    }

    @ProcessElement
    public void processElement(
        @Element KV<String, Iterable<FileRange.Lines>> file, OutputReceiver<FileRange> out) {
      List<FileRange.Lines> ranges = new ArrayList<>();
      file.getValue().forEach(ranges::add);
      ranges.sort(Comparator.comparingLong(l -> l.range.start()));
      int count = ranges.get(0).range.count();
      boolean splittable = ranges.size() == count;
      for (FileRange.Lines lines : ranges) {
        splittable &= lines.splittable;
      }
      if (!splittable) {
        long size = ranges.get(ranges.size() - 1).range.end();
        out.output(FileRange.of(file.getKey(), 0, size, 0, 1));
        return;
      }
      long linesBefore = 0;
      long nonEmptyBefore = 0;
      for (FileRange.Lines lines : ranges) {
        FileRange range = lines.range;
        long first =
            format == Format.JSONL || range.index() == 0 ? linesBefore : nonEmptyBefore - 1;
        out.output(range.numbered(first));
        linesBefore += lines.lines;
        nonEmptyBefore += lines.nonEmptyLines;
      }
    }
  }

  /**
   * Reads one range: a whole file as {@link ReadFileFn} does, or the lines that start in a range of
   * a file that was cut, numbered on from the index {@link NumberRangesFn} gave it.
   */
  static final class ReadRangeFn<OutputT> extends DoFn<FileRange, OutputT> {
    private final ReadFileFn reader;
    private final Format format;
    private final TupleTag<OutputT> main;
    private final @Nullable RecordFn<OutputT> then;

    ReadRangeFn(
        Format format,
        long maxRecordBytes,
        TupleTag<OutputT> main,
        @Nullable RecordFn<OutputT> then) {
      this.reader = new ReadFileFn(format, maxRecordBytes);
      this.format = format;
      this.main = main;
      this.then = then;
    }

    @Setup
    public void setup() throws Exception {
      if (then != null) {
        then.setup();
      }
    }

    @Teardown
    public void teardown() {
      if (then != null) {
        then.teardown();
      }
    }

    @ProcessElement
    public void processElement(@Element FileRange range, MultiOutputReceiver outputs) {
      CountingRecords out = new CountingRecords(new ReportingOutputs<>(outputs, main, then));
      try {
        readRange(range, out);
      } finally {
        out.emitCount();
      }
    }

    private void readRange(FileRange range, MultiOutputReceiver out) {
      String source = range.file();
      if (range.whole()) {
        readWhole(source, out);
        return;
      }
      reader.read(
          source,
          range.first(),
          "the rest of bytes [" + range.start() + ", " + range.end() + ") of the file",
          out,
          next -> {
            byte[] header = null;
            if (format == Format.CSV && range.index() > 0) {
              try (InputStream in = openLines(FileRange.of(source, 0, 1, 0, range.count()))) {
                header = in.readAllBytes();
              }
            }
            reader.readText(source, openLines(range), header, next, out);
          });
    }

    private void readWhole(String source, MultiOutputReceiver out) {
      reader.read(
          source,
          0,
          "the rest of the file",
          out,
          next -> {
            ResourceId id = FileSystems.matchNewResource(source, false);
            InputStream in =
                Channels.newInputStream(
                    Compression.detect(id.getFilename() == null ? source : id.getFilename())
                        .readDecompressed(FileSystems.open(id)));
            reader.readText(source, in, null, next, out);
          });
    }
  }

  /**
   * Passes a read DoFn's outputs on, counting the records; {@link #emitCount} then outputs the
   * count on {@link #READ_COUNTS}. Counting where the records are read, rather than in a step of
   * its own on the records, keeps them from fanning out to a second consumer: on Flink's batch
   * translation that would cost a serialization of every record and break the chain into
   * preprocessing.
   */
  static final class CountingRecords implements DoFn.MultiOutputReceiver {
    private final DoFn.MultiOutputReceiver out;
    private long records;

    /** The counting receiver of the records, made on first use (asked for once per record). */
    private DoFn.@Nullable OutputReceiver<?> counting;

    CountingRecords(DoFn.MultiOutputReceiver out) {
      this.out = out;
    }

    @Override
    @SuppressWarnings("unchecked")
    public <T> DoFn.OutputReceiver<T> get(TupleTag<T> tag) {
      if (!tag.getId().equals(RECORDS.getId())) {
        return out.get(tag);
      }
      if (counting == null) {
        counting = counting(out.get(tag));
      }
      return (DoFn.OutputReceiver<T>) counting;
    }

    private <T> DoFn.OutputReceiver<T> counting(DoFn.OutputReceiver<T> receiver) {
      return new DoFn.OutputReceiver<T>() {
        @Override
        public void output(T record) {
          records++;
          receiver.output(record);
        }

        @Override
        public void outputWithTimestamp(T record, org.joda.time.Instant timestamp) {
          records++;
          receiver.outputWithTimestamp(record, timestamp);
        }
      };
    }

    @Override
    public <T> DoFn.OutputReceiver<org.apache.beam.sdk.values.Row> getRowReceiver(TupleTag<T> tag) {
      return out.getRowReceiver(tag);
    }

    void emitCount() {
      out.get(READ_COUNTS).output(records);
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

  /** What every read reports beside its records: the failures of reading, counts, cut files. */
  public abstract static class Reports extends TupleOutput {

    private Reports(PCollectionTuple tuple) {
      super(tuple);
    }

    /** The records that could not be read ({@link Stage#READ} failures). */
    public PCollection<Failure> failures() {
      return tuple.get(FAILURES);
    }

    /**
     * How many records each file or range gave, one count per file or range read: their sum is the
     * records read, counted where they were read.
     */
    public PCollection<Long> readCounts() {
      return tuple.get(READ_COUNTS);
    }

    /**
     * The files that could not be read to their end, each with the records read before the cut.
     * Each also has its failure on {@link #failures()}.
     */
    public PCollection<UnreadableFile> unreadableFiles() {
      return tuple.get(UNREADABLE);
    }
  }

  /** The records read and the failures of reading. */
  public static final class Result extends Reports {

    private Result(PCollectionTuple tuple) {
      super(tuple);
    }

    public PCollection<RawRecord> records() {
      return tuple.get(RECORDS);
    }
  }

  /**
   * {@link ReadRecords} with a {@link RecordFn} done on each record in the reading step ({@link
   * #thenEach}).
   */
  public static final class Then<T> extends PTransform<PBegin, ThenResult<T>> {
    private final ReadRecords read;
    private final RecordFn<T> fn;

    private Then(ReadRecords read, RecordFn<T> fn) {
      this.read = read;
      this.fn = fn;
    }

    @Override
    public void populateDisplayData(DisplayData.Builder builder) {
      super.populateDisplayData(builder);
      read.populateDisplayData(builder);
      builder.add(DisplayData.item("then", fn.getClass()).withLabel("Done with each record"));
    }

    @Override
    public ThenResult<T> expand(PBegin input) {
      TupleTag<T> outputs = new TupleTag<T>() {};
      return new ThenResult<>(read.read(input, outputs, fn, fn.outputCoder()), outputs);
    }
  }

  /**
   * What the {@link RecordFn} made of the records read, its failures, and the read's reports; each
   * record read counts once in {@link #readCounts()}, whatever the fn made of it.
   */
  public static final class ThenResult<T> extends Reports {
    private final TupleTag<T> outputs;

    private ThenResult(PCollectionTuple tuple, TupleTag<T> outputs) {
      super(tuple);
      this.outputs = outputs;
    }

    /** What the {@link RecordFn} output. */
    public PCollection<T> outputs() {
      return tuple.get(outputs);
    }

    /** The records the {@link RecordFn} turned into failures. */
    public PCollection<Failure> thenFailures() {
      return tuple.get(THEN_FAILURES);
    }
  }
}
