package dev.batchinference.pipelines.cli;

import com.fasterxml.jackson.databind.JsonNode;
import dev.batchinference.pipelines.JobChecks;
import dev.batchinference.pipelines.options.BatchInferenceOptions;
import dev.batchinference.pipelines.options.InvalidJobException;
import dev.batchinference.pipelines.summary.ExitStatus;
import dev.batchinference.pipelines.summary.RunComparison;
import dev.batchinference.transforms.io.ParquetInput;
import dev.batchinference.transforms.io.ReadRecords;
import java.io.IOException;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.io.Reader;
import java.nio.channels.Channels;
import java.nio.channels.ReadableByteChannel;
import java.nio.channels.SeekableByteChannel;
import java.nio.charset.CharsetDecoder;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.time.Instant;
import java.time.format.DateTimeParseException;
import java.util.Iterator;
import java.util.List;
import org.apache.beam.sdk.io.Compression;
import org.apache.beam.sdk.io.FileSystems;
import org.apache.beam.sdk.io.fs.EmptyMatchTreatment;
import org.apache.beam.sdk.io.fs.MatchResult;
import org.apache.beam.sdk.options.PipelineOptionsFactory;
import org.apache.commons.csv.CSVParser;
import org.apache.commons.csv.CSVRecord;
import org.apache.parquet.hadoop.ParquetFileReader;
import org.apache.parquet.io.InputFile;
import org.apache.parquet.io.SeekableInputStream;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The threshold trigger of {@code --minNewRecords}: how many records arrived since the previous
 * run.
 *
 * <p>"New" means: every record of every input file (matched by {@code --input}) whose last-modified
 * time is after the previous run's {@code started_at} (from {@code --previousSummary}). A file that
 * was appended to or rewritten counts whole; a file the file system gives no time for counts as
 * new; a file written while the previous run ran counts again, so a record is never missed. Records
 * are counted as the job's {@code records_read} would count them: JSON Lines lines that are not
 * blank, CSV data rows (RFC 4180, so a quoted newline does not start a row), Parquet rows from the
 * files' footers. A file that cannot be read to the end counts the records before the damage plus
 * one, as the job would (its read failure is a record).
 *
 * <p>{@code java -cp batch-inference-bundled.jar dev.batchinference.pipelines.cli.NewRecords
 * --input=... --previousSummary=... --minNewRecords=N} only checks: exit status 0 when there are
 * enough new records or no previous run (its summary does not exist yet), {@link
 * ExitStatus#TOO_FEW_NEW_RECORDS} (99) when there are too few (what Airflow's {@code BashOperator}
 * takes for "skip"), 2 when it cannot tell.
 */
public final class NewRecords {

  private static final Logger LOG = LoggerFactory.getLogger(NewRecords.class);

  /** What the check found: the count, since when, and whether it is enough. */
  static final class Check {
    final long newRecords;
    final int newFiles;
    final Instant since;
    final long minimum;

    Check(long newRecords, int newFiles, Instant since, long minimum) {
      this.newRecords = newRecords;
      this.newFiles = newFiles;
      this.since = since;
      this.minimum = minimum;
    }

    boolean enough() {
      return newRecords >= minimum;
    }

    /** One line for the log and the console. */
    String line() {
      return String.format(
          java.util.Locale.ROOT,
          "%s: %,d new records (in %,d %s) since %s, %s --minNewRecords=%,d",
          enough() ? "running" : "skipped",
          newRecords,
          newFiles,
          newFiles == 1 ? "file" : "files",
          since,
          enough() ? "at least" : "fewer than",
          minimum);
    }
  }

  private NewRecords() {}

  /**
   * Checks the options and counts the new records; fails with {@link InvalidJobException} when they
   * cannot be counted. Only for {@code --minNewRecords} above 0.
   */
  static Check check(BatchInferenceOptions options) {
    JobChecks.checkMinNewRecords(options);
    FileSystems.setDefaultPipelineOptions(options);
    Instant since = previousStart(options.getPreviousSummary());
    List<MatchResult.Metadata> files;
    try {
      files = FileSystems.match(options.getInput(), EmptyMatchTreatment.DISALLOW).metadata();
    } catch (IOException | IllegalArgumentException e) {
      throw new InvalidJobException(
          "--input=" + options.getInput() + " matches no file, or cannot be listed: " + e, e);
    }
    long records = 0;
    int newFiles = 0;
    for (MatchResult.Metadata file : files) {
      long modified = file.lastModifiedMillis();
      if (modified != 0 && modified <= since.toEpochMilli()) {
        continue;
      }
      newFiles++;
      records += count(file, options.getInputFormat());
    }
    Check check = new Check(records, newFiles, since, options.getMinNewRecords());
    LOG.info(check.line());
    return check;
  }

  /** The {@code started_at} of a run summary. */
  static Instant previousStart(String summaryPath) {
    JsonNode summary = RunComparison.readSummary(summaryPath);
    try {
      return Instant.parse(summary.path("started_at").asText());
    } catch (DateTimeParseException e) {
      throw new InvalidJobException(
          "--previousSummary="
              + summaryPath
              + " has no started_at time: is it a summary.json of this job?",
          e);
    }
  }

  /** The records of one file, as the job's {@code records_read} counts them. */
  static long count(MatchResult.Metadata file, ReadRecords.Format format) {
    long[] counted = {0};
    try {
      switch (format) {
        case PARQUET:
          return parquetRows(file);
        case CSV:
          csvRows(file, counted);
          return counted[0];
        default:
          jsonLines(file, counted);
          return counted[0];
      }
    } catch (IOException | RuntimeException e) {
      LOG.warn(
          "{} cannot be read to the end ({}): counting {} records before that and one failure",
          file.resourceId(),
          e.toString(),
          counted[0]);
      return counted[0] + 1;
    }
  }

  private static InputStream open(MatchResult.Metadata file) throws IOException {
    ReadableByteChannel channel = FileSystems.open(file.resourceId());
    return Channels.newInputStream(
        Compression.detect(file.resourceId().getFilename()).readDecompressed(channel));
  }

  /** Lines with something other than whitespace in them, as JSON Lines records are. */
  private static void jsonLines(MatchResult.Metadata file, long[] counted) throws IOException {
    try (InputStream in = open(file)) {
      byte[] buffer = new byte[1 << 16];
      boolean content = false;
      int n;
      while ((n = in.read(buffer)) != -1) {
        for (int i = 0; i < n; i++) {
          byte b = buffer[i];
          if (b == '\n') {
            counted[0] += content ? 1 : 0;
            content = false;
          } else if (b != ' ' && b != '\t' && b != '\r' && b != '\f' && b != 0x0B) {
            content = true;
          }
        }
      }
      counted[0] += content ? 1 : 0;
    }
  }

  /** Data rows, parsed as the job parses them: a quoted newline stays inside its row. */
  private static void csvRows(MatchResult.Metadata file, long[] counted) throws IOException {
    CharsetDecoder decoder =
        StandardCharsets.UTF_8
            .newDecoder()
            .onMalformedInput(CodingErrorAction.REPLACE)
            .onUnmappableCharacter(CodingErrorAction.REPLACE);
    try (Reader reader = new InputStreamReader(open(file), decoder);
        CSVParser parser = CSVParser.parse(reader, ReadRecords.CSV_FORMAT)) {
      Iterator<CSVRecord> rows = parser.iterator();
      while (rows.hasNext()) {
        rows.next();
        counted[0]++;
      }
    }
  }

  /** The row count in the file's footer: no row is read. */
  private static long parquetRows(MatchResult.Metadata file) throws IOException {
    try (ParquetFileReader reader = ParquetFileReader.open(new FooterInput(file))) {
      return reader.getRecordCount();
    }
  }

  /** A Parquet file through Beam's file systems, for its footer. */
  private static final class FooterInput implements InputFile {
    private final MatchResult.Metadata file;

    FooterInput(MatchResult.Metadata file) {
      this.file = file;
    }

    @Override
    public long getLength() {
      return file.sizeBytes();
    }

    @Override
    public SeekableInputStream newStream() throws IOException {
      return ParquetInput.stream((SeekableByteChannel) FileSystems.open(file.resourceId()));
    }
  }

  /**
   * Checks only, for schedulers that launch the job elsewhere (a Dataflow Flex Template): takes the
   * job's options, prints one line, and exits 0 (enough new records), 99 (too few, {@link
   * ExitStatus#TOO_FEW_NEW_RECORDS}) or 2 (cannot tell).
   */
  public static void main(String[] args) {
    int status;
    try {
      BatchInferenceOptions options =
          PipelineOptionsFactory.fromArgs(args)
              .withoutStrictParsing()
              .as(BatchInferenceOptions.class);
      if (options.getMinNewRecords() <= 0) {
        throw new InvalidJobException("set --minNewRecords to the least number to run for");
      }
      FileSystems.setDefaultPipelineOptions(options);
      if (JobChecks.notEmpty(options.getPreviousSummary())
          && FileSystems.match(options.getPreviousSummary()).status()
              == MatchResult.Status.NOT_FOUND) {
        System.out.println(
            "running: no previous run (no " + options.getPreviousSummary() + "), so no threshold");
        System.exit(ExitStatus.OK.code());
      }
      Check check = check(options);
      System.out.println(check.line());
      status = (check.enough() ? ExitStatus.OK : ExitStatus.TOO_FEW_NEW_RECORDS).code();
    } catch (InvalidJobException | IllegalArgumentException | IOException e) {
      System.err.println("error: " + e.getMessage());
      status = ExitStatus.INVALID.code();
    }
    System.exit(status);
  }
}
