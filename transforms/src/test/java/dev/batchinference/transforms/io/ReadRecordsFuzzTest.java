package dev.batchinference.transforms.io;

import static org.hamcrest.MatcherAssert.assertThat;
import static org.hamcrest.Matchers.containsString;
import static org.hamcrest.Matchers.emptyOrNullString;
import static org.hamcrest.Matchers.equalTo;
import static org.hamcrest.Matchers.lessThanOrEqualTo;
import static org.hamcrest.Matchers.not;
import static org.hamcrest.Matchers.startsWith;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.batchinference.transforms.Failure;
import dev.batchinference.transforms.Stage;
import dev.batchinference.transforms.testing.Fuzz;
import dev.batchinference.transforms.testing.Outputs;
import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.lang.reflect.Constructor;
import java.nio.ByteBuffer;
import java.nio.channels.Channels;
import java.nio.charset.CharsetDecoder;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashSet;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.Set;
import java.util.TreeMap;
import java.util.zip.GZIPOutputStream;
import org.apache.beam.sdk.io.Compression;
import org.apache.beam.sdk.io.FileIO;
import org.apache.beam.sdk.io.FileSystems;
import org.apache.beam.sdk.io.fs.MatchResult;
import org.apache.beam.sdk.options.PipelineOptionsFactory;
import org.junit.BeforeClass;
import org.junit.Rule;
import org.junit.Test;
import org.junit.rules.TemporaryFolder;
import org.junit.runner.RunWith;
import org.junit.runners.JUnit4;

/**
 * Bounded random tests of {@link ReadRecords}' reading of JSON Lines and CSV files: files built by
 * mutating valid ones (byte flips, truncation, invalid UTF-8, BOMs, CR/LF mixes, very long lines,
 * quotes and newlines, ragged rows, empty and gzipped files, broken gzip streams) are read by the
 * real per-file reader, and what comes out is checked against an independent reading of the bytes:
 * every line or row ends as exactly one record or one {@link Stage#READ} failure (blank lines
 * aside), at its own index, and a file that breaks off ends with one failure for the rest of it.
 *
 * <p>The cases call {@link ReadRecords.ReadFileFn}, the transform's per-file {@code DoFn},
 * directly: a pipeline per case would cost seconds. The {@link FileIO.ReadableFile} it takes is
 * made through that class's package-private constructor, with the compression that {@code
 * FileIO.readMatches()} detects from the file name. {@link ReadRecordsTest} runs the transform
 * itself.
 */
@RunWith(JUnit4.class)
public class ReadRecordsFuzzTest {

  @Rule public final TemporaryFolder tmp = new TemporaryFolder();

  private static final byte[] BOM = {(byte) 0xEF, (byte) 0xBB, (byte) 0xBF};
  private static final ObjectMapper JSON = new ObjectMapper();
  private static final String REST_OF_FILE = "could not be read";
  private static final String OVER_LIMIT = "dev.batchinference.transforms.RecordOverLimitException";

  /** Byte sequences that are not UTF-8. */
  private static final byte[][] INVALID_UTF8 = {
    {(byte) 0xFF},
    {(byte) 0xC3}, // a lead byte without its continuation
    {(byte) 0x80}, // a lone continuation byte
    {(byte) 0xC0, (byte) 0xAF}, // overlong '/'
    {(byte) 0xED, (byte) 0xA0, (byte) 0x80}, // an encoded surrogate
    {(byte) 0xF4, (byte) 0x90, (byte) 0x80, (byte) 0x80}, // above U+10FFFF
    {(byte) 0xE2, (byte) 0x82}, // a truncated 3-byte sequence
    {(byte) 0xF8, (byte) 0x88, (byte) 0x80, (byte) 0x80, (byte) 0x80}
  };

  @BeforeClass
  public static void fileSystems() {
    FileSystems.setDefaultPipelineOptions(PipelineOptionsFactory.create());
  }

  @Test
  public void jsonLinesEachLineIsOneRecordOrOneFailure() {
    Fuzz.check(
        "read-jsonl",
        random -> {
          byte[] content = mutate(random, validJsonLines(random), false);
          checkJsonLines(random, content);
        });
  }

  @Test
  public void csvEachRowIsOneRecordOrOneFailure() {
    Fuzz.check(
        "read-csv",
        random -> {
          byte[] content = mutate(random, validCsv(random), true);
          checkCsv(random, content);
        });
  }

  /**
   * Bytes that are not UTF-8 in a CSV file's header are read as the internal marker {@link
   * ReadRecords#NOT_UTF8} in the column names; no record may carry the marker in its field names:
   * the file's rows fail, each on its own.
   */
  @Test
  public void csvHeaderThatIsNotUtf8IsNotTakenAsItIs() {
    Fuzz.check(
        "read-csv-bad-header",
        random -> {
          byte[] valid = validCsv(random);
          int headerEnd = 0;
          while (headerEnd < valid.length && valid[headerEnd] != '\n' && valid[headerEnd] != '\r') {
            headerEnd++;
          }
          int from = valid.length >= 3 && Arrays.equals(valid, 0, 3, BOM, 0, 3) ? 3 : 0;
          int p = from + random.nextInt(Math.max(1, headerEnd - from + 1));
          byte[] content =
              insert(valid, Math.min(p, valid.length), Fuzz.oneOf(random, INVALID_UTF8));
          Path file = tmp.getRoot().toPath().resolve("header-" + random.nextInt(1 << 30) + ".csv");
          Files.write(file, content);
          List<RawRecord> records = new ArrayList<>();
          List<Failure> failures = new ArrayList<>();
          read(file, ReadRecords.Format.CSV, Long.MAX_VALUE, records, failures);
          for (RawRecord r : records) {
            assertThat(
                "no record names the marker: " + Fuzz.show(content),
                r.text(),
                not(containsString(ReadRecords.NOT_UTF8)));
          }
        });
  }

  /** The record size limit of a case: mostly the default, else small enough to be hit. */
  private static long maxRecordBytes(Random random) {
    if (Fuzz.chance(random, 0.7)) {
      return ReadRecords.DEFAULT_MAX_RECORD_BYTES;
    }
    return Fuzz.oneOf(random, 1, 2, 3) * (long) Fuzz.oneOf(random, 1, 10, 100, 1000, 20_000);
  }

  private static void checkOversized(Failure f, long size, long limit, String at) {
    assertThat(at, f.errorClass(), equalTo(OVER_LIMIT));
    assertThat(
        at,
        f.message(),
        startsWith("the record is " + size + " bytes, over the limit of " + limit + " bytes"));
  }

  // ---------------------------------------------------------------------------------------------
  // JSON Lines

  private static byte[] validJsonLines(Random random) throws Exception {
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    switch (random.nextInt(20)) {
      case 0:
        return new byte[0];
      case 1:
        return bytes(Fuzz.oneOf(random, "\n", "\r\n", " \n\t", "\n\n\n"));
      case 2:
        return BOM.clone();
      default:
        break;
    }
    if (Fuzz.chance(random, 0.2)) {
      out.write(BOM);
    }
    String ending = Fuzz.oneOf(random, "\n", "\r\n", "mixed");
    int lines = Fuzz.size(random, 40);
    for (int i = 0; i < lines; i++) {
      if (Fuzz.chance(random, 0.15)) {
        out.write(bytes(Fuzz.oneOf(random, "", " ", "\t  ", "\u2028", "\u3000 ")));
      } else {
        ObjectNode record = JSON.createObjectNode().put("id", "r" + i);
        record.put("text", Fuzz.text(random, 60));
        var features = record.putArray("features");
        for (int f = Fuzz.size(random, 12); f > 0; f--) {
          features.add(random.nextFloat());
        }
        out.write(JSON.writeValueAsBytes(record));
      }
      if (i < lines - 1 || Fuzz.chance(random, 0.7)) {
        out.write(
            bytes(ending.equals("mixed") ? Fuzz.oneOf(random, "\n", "\r\n", "\r\r\n") : ending));
      }
    }
    return out.toByteArray();
  }

  private enum Kind {
    BLANK,
    RECORD,
    NOT_UTF8,
    OVERSIZED
  }

  /** What one line of a JSON Lines file must become. */
  private static final class Expected {
    final Kind kind;
    final String text;
    final long size;

    Expected(Kind kind, String text, long size) {
      this.kind = kind;
      this.text = text;
      this.size = size;
    }
  }

  /**
   * The lines of {@code content} and what each must become, in order; with {@code complete} false
   * (a stream that broke off) only the lines that a newline ends.
   */
  private static List<Expected> expectedLines(byte[] content, boolean complete, long limit) {
    List<Expected> lines = new ArrayList<>();
    int start = 0;
    for (int i = 0; i <= content.length; i++) {
      boolean end = i == content.length;
      if (!end && content[i] != '\n') {
        continue;
      }
      if (end && (i == start || !complete)) {
        break;
      }
      int from = start;
      int to = i;
      int size = to - from;
      if (size > limit) {
        int kept = (int) Math.min(Math.min(size, limit), 1024);
        lines.add(
            new Expected(
                Kind.OVERSIZED, new String(content, from, kept, StandardCharsets.UTF_8), size));
        start = i + 1;
        continue;
      }
      if (lines.isEmpty() && to - from >= 3 && Arrays.equals(content, from, from + 3, BOM, 0, 3)) {
        from += 3;
      }
      if (to > from && content[to - 1] == '\r') {
        to--;
      }
      String strict = strictUtf8(content, from, to);
      if (strict == null) {
        lines.add(
            new Expected(
                Kind.NOT_UTF8, new String(content, from, to - from, StandardCharsets.UTF_8), size));
      } else if (strict.isBlank()) {
        lines.add(new Expected(Kind.BLANK, strict, size));
      } else {
        lines.add(new Expected(Kind.RECORD, strict, size));
      }
      start = i + 1;
    }
    return lines;
  }

  private void checkJsonLines(Random random, byte[] content) throws Exception {
    Path file = tmp.getRoot().toPath().resolve("in-" + random.nextInt(1 << 30) + ".jsonl");
    boolean gzip = Fuzz.chance(random, 0.15);
    if (gzip) {
      file = file.resolveSibling(file.getFileName() + ".gz");
    }
    byte[] stored = gzip ? maybeGzip(random, content, file) : content;
    Files.write(file, stored);
    Decompressed plain = decompress(stored, file);

    List<RawRecord> records = new ArrayList<>();
    List<Failure> failures = new ArrayList<>();
    long limit = maxRecordBytes(random);
    read(file, ReadRecords.Format.JSONL, limit, records, failures);
    String where =
        "file "
            + Fuzz.show(stored)
            + (gzip ? " (gzip of " + Fuzz.show(content) + ")" : "")
            + " with maxRecordBytes "
            + limit
            + (plain.broken
                ? ", stream broken after " + plain.bytes.length + " bytes: " + plain.error
                : "");
    Map<Long, Object> byIndex = indexed(file.toString(), records, failures, where);

    List<Expected> lines = expectedLines(plain.bytes, !plain.broken, limit);
    long restFrom = restOfFileFailure(failures, byIndex, where);
    if (plain.broken) {
      assertThat("a broken stream ends in a failure for the rest: " + where, restFrom >= 0);
      assertThat(
          "the rest starts at a line read whole: " + where,
          restFrom,
          lessThanOrEqualTo((long) lines.size()));
    } else {
      assertThat("no failure for the rest of a whole file: " + where, restFrom, equalTo(-1L));
    }
    long upTo = restFrom >= 0 ? restFrom : lines.size();
    note(
        gzip ? "gzip" : null,
        plain.broken ? "broken stream" : null,
        restFrom >= 0 ? "rest failed" : null);
    for (int i = 0; i < upTo; i++) {
      Expected line = lines.get(i);
      Fuzz.note(line.kind.name().toLowerCase(java.util.Locale.ROOT));
      Object out = byIndex.get((long) i);
      String at = "line " + i + " (" + line.kind + " " + Fuzz.show(line.text) + ") of " + where;
      switch (line.kind) {
        case BLANK:
          assertThat("blank lines are skipped: " + at, out, equalTo(null));
          break;
        case RECORD:
          assertThat("a record: " + at, out, equalTo(RawRecord.of(file.toString(), i, line.text)));
          break;
        case NOT_UTF8:
          assertThat("a failure: " + at, out instanceof Failure);
          Failure f = (Failure) out;
          assertThat(at, f.errorClass(), equalTo("java.nio.charset.MalformedInputException"));
          assertThat(at, f.message(), equalTo("line is not valid UTF-8"));
          assertThat(at, f.input(), equalTo(line.text));
          break;
        case OVERSIZED:
          assertThat("a failure: " + at, out instanceof Failure);
          checkOversized((Failure) out, line.size, limit, at);
          assertThat(at, ((Failure) out).input(), equalTo(line.text));
          break;
      }
    }
    long expectedOutputs =
        lines.stream().limit(upTo).filter(l -> l.kind != Kind.BLANK).count()
            + (restFrom >= 0 ? 1 : 0);
    assertThat(
        "nothing else comes out of " + where, (long) byIndex.size(), equalTo(expectedOutputs));
  }

  // ---------------------------------------------------------------------------------------------
  // CSV

  private static final String[] COLUMN_NAMES = {
    "id", "text", "px0", "px1", "label", "a b", "x,y", "q\"t", "é", " pad ", "\uFEFFbom"
  };

  private static byte[] validCsv(Random random) throws Exception {
    switch (random.nextInt(25)) {
      case 0:
        return new byte[0];
      case 1:
        return bytes(Fuzz.oneOf(random, "\n", "\r\n", "\r", "id\n", "id,text"));
      case 2:
        return BOM.clone();
      default:
        break;
    }
    StringBuilder sb = new StringBuilder();
    if (Fuzz.chance(random, 0.2)) {
      sb.append('\uFEFF');
    }
    String ending = Fuzz.oneOf(random, "\n", "\r\n", "\r", "mixed");
    List<String> names = new ArrayList<>(Arrays.asList(COLUMN_NAMES));
    java.util.Collections.shuffle(names, random);
    int columns = 1 + random.nextInt(6);
    List<String> header = names.subList(0, columns);
    appendRow(random, sb, header);
    int rows = Fuzz.size(random, 30);
    for (int i = 0; i < rows; i++) {
      sb.append(ending.equals("mixed") ? Fuzz.oneOf(random, "\n", "\r\n", "\r") : ending);
      if (Fuzz.chance(random, 0.1)) {
        sb.append(ending.equals("\r\n") ? "\r\n" : "\n"); // a blank line
      }
      int n = Fuzz.chance(random, 0.1) ? random.nextInt(columns + 3) : columns;
      List<String> values = new ArrayList<>();
      for (int c = 0; c < n; c++) {
        values.add(
            Fuzz.chance(random, 0.3)
                ? Float.toString(random.nextFloat())
                : Fuzz.text(random, Fuzz.oneOf(random, 5, 30)));
      }
      appendRow(random, sb, values);
    }
    if (Fuzz.chance(random, 0.7)) {
      sb.append(ending.equals("mixed") ? "\n" : ending);
    }
    return bytes(sb.toString());
  }

  private static void appendRow(Random random, StringBuilder sb, List<String> values) {
    for (int c = 0; c < values.size(); c++) {
      if (c > 0) {
        sb.append(',');
      }
      String v = values.get(c);
      boolean quote =
          v.indexOf(',') >= 0
              || v.indexOf('"') >= 0
              || v.indexOf('\n') >= 0
              || v.indexOf('\r') >= 0
              || Fuzz.chance(random, 0.2);
      if (Fuzz.chance(random, 0.1)) { // a value with a line break of its own
        v = v + Fuzz.oneOf(random, "\n", "\r\n", "\r") + "more";
        quote = true;
      }
      sb.append(quote ? '"' + v.replace("\"", "\"\"") + '"' : v);
    }
  }

  /**
   * The rows of a CSV text as RFC 4180 with commons-csv's leniencies (empty lines are skipped, a
   * lone CR ends a line, whitespace between a closing quote and the delimiter is dropped).
   */
  private static final class CsvRows {
    final List<List<String>> rows = new ArrayList<>();

    /** Whether parsing stopped at a malformed row (after {@link #rows}). */
    boolean malformed;

    CsvRows(String text, boolean complete) {
      int n = text.length();
      int i = 0;
      rows:
      while (i < n) {
        char c = text.charAt(i);
        if (c == '\n' || c == '\r') { // an empty line
          i += c == '\r' && i + 1 < n && text.charAt(i + 1) == '\n' ? 2 : 1;
          continue;
        }
        List<String> row = new ArrayList<>();
        while (true) { // one field per turn
          StringBuilder field = new StringBuilder();
          if (i < n && text.charAt(i) == '"') {
            i++;
            while (true) {
              if (i >= n) {
                malformed = complete; // EOF inside quotes; a cut-off stream is not malformed
                break rows;
              }
              char q = text.charAt(i++);
              if (q != '"') {
                field.append(q);
              } else if (i < n && text.charAt(i) == '"') {
                field.append('"');
                i++;
              } else {
                break;
              }
            }
            while (i < n
                && text.charAt(i) != ','
                && text.charAt(i) != '\n'
                && text.charAt(i) != '\r') {
              if (!Character.isWhitespace(text.charAt(i))) {
                malformed = true;
                break rows;
              }
              i++;
            }
          } else {
            while (i < n
                && text.charAt(i) != ','
                && text.charAt(i) != '\n'
                && text.charAt(i) != '\r') {
              field.append(text.charAt(i++));
            }
          }
          row.add(field.toString());
          if (i >= n) {
            if (complete) {
              rows.add(row);
            }
            break rows;
          }
          char d = text.charAt(i++);
          if (d == ',') {
            continue;
          }
          if (d == '\r' && i < n && text.charAt(i) == '\n') {
            i++;
          }
          rows.add(row);
          break;
        }
      }
    }
  }

  private void checkCsv(Random random, byte[] content) throws Exception {
    Path file = tmp.getRoot().toPath().resolve("in-" + random.nextInt(1 << 30) + ".csv");
    boolean gzip = Fuzz.chance(random, 0.1);
    if (gzip) {
      file = file.resolveSibling(file.getFileName() + ".gz");
    }
    byte[] stored = gzip ? maybeGzip(random, content, file) : content;
    Files.write(file, stored);
    Decompressed plain = decompress(stored, file);

    List<RawRecord> records = new ArrayList<>();
    List<Failure> failures = new ArrayList<>();
    long limit = maxRecordBytes(random);
    read(file, ReadRecords.Format.CSV, limit, records, failures);
    String where =
        "file "
            + Fuzz.show(stored)
            + (gzip ? " (gzip of " + Fuzz.show(content) + ")" : "")
            + " with maxRecordBytes "
            + limit
            + (plain.broken
                ? ", stream broken after " + plain.bytes.length + " bytes: " + plain.error
                : "");
    Map<Long, Object> byIndex = indexed(file.toString(), records, failures, where);

    byte[] bytes = plain.bytes;
    int from = bytes.length >= 3 && Arrays.equals(bytes, 0, 3, BOM, 0, 3) ? 3 : 0;
    // bytes that are not UTF-8 become ReadRecords.NOT_UTF8, and the row that holds them fails
    String text =
        StandardCharsets.UTF_8
            .newDecoder()
            .onMalformedInput(CodingErrorAction.REPLACE)
            .onUnmappableCharacter(CodingErrorAction.REPLACE)
            .replaceWith(ReadRecords.NOT_UTF8)
            .decode(ByteBuffer.wrap(bytes, from, bytes.length - from))
            .toString();
    boolean notUtf8 = strictUtf8(bytes, from, bytes.length) == null;
    boolean broken = plain.broken;
    CsvRows parsed = new CsvRows(text, !broken);

    List<String> header = parsed.rows.isEmpty() ? List.of() : parsed.rows.get(0);
    // A header that is not UTF-8, or names a column twice, fails each row on its own; columns
    // without a name are ignored.
    boolean headerNotUtf8 = header.stream().anyMatch(name -> name.contains(ReadRecords.NOT_UTF8));
    String repeated = null;
    Set<String> names = new HashSet<>();
    for (String name : header) {
      if (!name.trim().isEmpty() && !names.add(name) && repeated == null) {
        repeated = name;
      }
    }
    boolean badHeader = headerNotUtf8 || repeated != null;
    boolean unnamed = header.stream().anyMatch(name -> name.trim().isEmpty());
    List<List<String>> rows =
        parsed.rows.isEmpty() ? List.of() : parsed.rows.subList(1, parsed.rows.size());

    long restFrom = restOfFileFailure(failures, byIndex, where);
    if (broken) {
      assertThat("a broken stream ends in a failure for the rest: " + where, restFrom >= 0);
      assertThat(
          "the rest starts at a row read whole: " + where,
          restFrom,
          lessThanOrEqualTo((long) rows.size()));
    } else if (parsed.malformed) {
      assertThat(
          "a malformed row fails the rest of " + where, restFrom, equalTo((long) rows.size()));
    } else {
      assertThat("no failure for the rest of a whole file: " + where, restFrom, equalTo(-1L));
    }
    long upTo = restFrom >= 0 ? restFrom : rows.size();
    note(
        gzip ? "gzip" : null,
        plain.broken ? "broken stream" : null,
        notUtf8 ? "not utf-8" : null,
        parsed.malformed ? "malformed" : null,
        headerNotUtf8 ? "header not utf-8" : null,
        repeated != null ? "repeated column" : null,
        unnamed ? "unnamed column" : null,
        restFrom >= 0 ? "rest failed" : null);
    for (int i = 0; i < upTo; i++) {
      List<String> row = rows.get(i);
      Object out = byIndex.get((long) i);
      String at = "row " + i + " " + row + " under header " + header + " of " + where;
      long size = row.stream().mapToLong(String::length).sum();
      if (row.stream().anyMatch(v -> v.contains(ReadRecords.NOT_UTF8))) {
        assertThat("a row that is not UTF-8 fails: " + at, out instanceof Failure);
        Failure f = (Failure) out;
        assertThat(at, f.errorClass(), equalTo("java.nio.charset.MalformedInputException"));
        assertThat(at, f.message(), equalTo("row is not valid UTF-8"));
        assertThat(at, f.input(), not(containsString(ReadRecords.NOT_UTF8)));
        Fuzz.note("row not utf-8");
      } else if (size > limit) {
        assertThat("an oversized row fails: " + at, out instanceof Failure);
        checkOversized((Failure) out, size, limit, at);
        assertThat(at, ((Failure) out).input().length(), lessThanOrEqualTo(1024));
        Fuzz.note("oversized");
      } else if (badHeader) {
        assertThat("a row under a bad header fails: " + at, out instanceof Failure);
        Failure f = (Failure) out;
        assertThat(at, f.errorClass(), equalTo(ReadRecords.BAD_HEADER));
        if (headerNotUtf8) {
          assertThat(at, f.message(), equalTo("the header row is not valid UTF-8"));
        } else {
          assertThat(at, f.message(), containsString("column '" + repeated + "' twice"));
        }
        assertThat(at, f.input(), not(equalTo(null)));
        Fuzz.note("bad header row");
      } else if (row.size() != header.size()) {
        assertThat("a ragged row fails: " + at, out instanceof Failure);
        Failure f = (Failure) out;
        assertThat(
            at, f.errorClass(), equalTo("dev.batchinference.transforms.io.RaggedRowException"));
        assertThat(
            at,
            f.message(),
            equalTo("row has " + row.size() + " values, the header has " + header.size()));
        assertThat(at, f.input(), not(equalTo(null)));
        Fuzz.note("ragged");
      } else {
        Fuzz.note("record");
        assertThat("a record: " + at, out instanceof RawRecord);
        JsonNode json = JSON.readTree(((RawRecord) out).text());
        Map<String, String> expected = new LinkedHashMap<>();
        for (int c = 0; c < header.size(); c++) {
          if (!header.get(c).trim().isEmpty()) {
            expected.put(header.get(c), row.get(c));
          }
        }
        Map<String, String> actual = new LinkedHashMap<>();
        for (Iterator<Map.Entry<String, JsonNode>> it = json.fields(); it.hasNext(); ) {
          Map.Entry<String, JsonNode> e = it.next();
          assertThat(at, e.getValue().isTextual());
          actual.put(e.getKey(), e.getValue().textValue());
        }
        assertThat(at, actual, equalTo(expected));
        assertThat(
            "fields in header order: " + at,
            new ArrayList<>(actual.keySet()),
            equalTo(new ArrayList<>(expected.keySet())));
      }
    }
    assertThat(
        "nothing else comes out of " + where,
        (long) byIndex.size(),
        equalTo(upTo + (restFrom >= 0 ? 1 : 0)));
  }

  private static void note(String... labels) {
    for (String label : labels) {
      if (label != null) {
        Fuzz.note(label);
      }
    }
  }

  // ---------------------------------------------------------------------------------------------
  // Mutations

  private static byte[] mutate(Random random, byte[] valid, boolean csv) {
    byte[] b = valid;
    int mutations = Fuzz.chance(random, 0.3) ? 0 : 1 + random.nextInt(4);
    for (int m = 0; m < mutations; m++) {
      b = mutateOnce(random, b, csv);
    }
    return b;
  }

  private static byte[] mutateOnce(Random random, byte[] b, boolean csv) {
    int p = random.nextInt(b.length + 1);
    switch (random.nextInt(csv ? 13 : 11)) {
      case 0: // flip a byte
        if (b.length == 0) {
          return b;
        }
        b = b.clone();
        b[Math.min(p, b.length - 1)] = (byte) random.nextInt(256);
        return b;
      case 1: // truncate
        return Arrays.copyOf(b, p);
      case 2:
        return insert(b, p, Fuzz.oneOf(random, INVALID_UTF8));
      case 3:
        return insert(b, Fuzz.chance(random, 0.5) ? 0 : p, BOM);
      case 4:
        return insert(b, p, bytes(Fuzz.oneOf(random, "\r", "\n", "\r\n", "\n\r", "\r\r\n")));
      case 5: // a very long line
        {
          int length = Fuzz.chance(random, 0.05) ? 1_500_000 : 10_000 + random.nextInt(200_000);
          byte[] unit = bytes("x" + Fuzz.text(random, 40));
          byte[] run = new byte[length];
          for (int i = 0; i < length; i++) {
            run[i] = unit[i % unit.length];
          }
          return insert(b, p, run);
        }
      case 6: // delete a range
        {
          int q = Math.min(b.length, p + random.nextInt(64));
          byte[] out = new byte[b.length - (q - p)];
          System.arraycopy(b, 0, out, 0, p);
          System.arraycopy(b, q, out, p, b.length - q);
          return out;
        }
      case 7: // repeat a range
        {
          int q = Math.min(b.length, p + random.nextInt(200));
          return insert(b, q, Arrays.copyOfRange(b, p, q));
        }
      case 8: // control bytes
        return insert(b, p, new byte[] {0, (byte) random.nextInt(32), 0x7f});
      case 9: // a whitespace-only line
        return insert(b, p, bytes(Fuzz.oneOf(random, "\n \t\n", "\r\n\r\n", "\n\u3000\n")));
      case 10: // an empty file
        return Fuzz.chance(random, 0.3) ? new byte[0] : b;
      case 11:
        return insert(b, p, bytes(Fuzz.oneOf(random, "\"", "\"\"", "\",\"", "\" ", "\"\n")));
      default:
        return insert(b, p, bytes(Fuzz.oneOf(random, ",", ",,", ", ", "\t")));
    }
  }

  private static byte[] insert(byte[] b, int p, byte[] part) {
    byte[] out = new byte[b.length + part.length];
    System.arraycopy(b, 0, out, 0, p);
    System.arraycopy(part, 0, out, p, part.length);
    System.arraycopy(b, p, out, p + part.length, b.length - p);
    return out;
  }

  /** Gzips {@code content} for a {@code .gz} file, sometimes breaking the stream. */
  private static byte[] maybeGzip(Random random, byte[] content, Path file) throws IOException {
    if (!file.toString().endsWith(".gz")) {
      return content;
    }
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    try (OutputStream gz = new GZIPOutputStream(out)) {
      gz.write(content);
    }
    byte[] gz = out.toByteArray();
    switch (random.nextInt(4)) {
      case 0:
        return Arrays.copyOf(gz, random.nextInt(gz.length + 1)); // cut off
      case 1:
        gz[random.nextInt(gz.length)] ^= (byte) (1 + random.nextInt(255)); // corrupt
        return gz;
      default:
        return gz;
    }
  }

  // ---------------------------------------------------------------------------------------------
  // Reading

  private static final class Decompressed {
    final byte[] bytes;
    final boolean broken;
    final String error;

    Decompressed(byte[] bytes, boolean broken, String error) {
      this.bytes = bytes;
      this.broken = broken;
      this.error = error;
    }
  }

  /** The bytes that the reader sees (as far as they can be read) and whether the stream broke. */
  private static Decompressed decompress(byte[] stored, Path file) {
    Compression compression = Compression.detect(file.toString());
    if (compression == Compression.UNCOMPRESSED) {
      return new Decompressed(stored, false, null);
    }
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    try (InputStream in =
        Channels.newInputStream(
            compression.readDecompressed(Channels.newChannel(new ByteArrayInputStream(stored))))) {
      byte[] buffer = new byte[1]; // byte by byte, to keep every byte before the break
      while (in.read(buffer) != -1) {
        out.write(buffer[0]);
      }
      return new Decompressed(out.toByteArray(), false, null);
    } catch (IOException | RuntimeException e) {
      return new Decompressed(out.toByteArray(), true, e.toString());
    }
  }

  private static FileIO.ReadableFile readable(Path file) throws Exception {
    MatchResult.Metadata metadata = FileSystems.matchSingleFileSpec(file.toString());
    Constructor<FileIO.ReadableFile> constructor =
        FileIO.ReadableFile.class.getDeclaredConstructor(
            MatchResult.Metadata.class, Compression.class);
    constructor.setAccessible(true);
    return constructor.newInstance(metadata, Compression.detect(file.toString()));
  }

  /** Reads {@code file} with the transform's per-file reader, collecting what it outputs. */
  private static void read(
      Path file,
      ReadRecords.Format format,
      long maxRecordBytes,
      List<RawRecord> records,
      List<Failure> failures)
      throws Exception {
    Outputs out = new Outputs();
    new ReadRecords.ReadFileFn(format, maxRecordBytes).process(readable(file), out);
    List<RawRecord> read = out.ofType(RawRecord.class);
    List<Failure> failed = out.ofType(Failure.class);
    List<UnreadableFile> unreadable = out.ofType(UnreadableFile.class);
    List<Long> counts = out.ofType(Long.class);
    assertThat("one count, of the records read", counts, equalTo(List.of((long) read.size())));
    assertThat(
        "only records, failures, unreadable files and the count",
        read.size() + failed.size() + unreadable.size() + counts.size(),
        equalTo(out.all().size()));
    // A file cut short is listed once, with the records (and record failures) read before the
    // cut: every output but the failure that stands for the unread rest.
    long rests = failed.stream().filter(f -> f.message().contains(REST_OF_FILE)).count();
    assertThat("an unreadable file per rest that failed", (long) unreadable.size(), equalTo(rests));
    for (UnreadableFile u : unreadable) {
      assertThat(u.file(), equalTo(file.toString()));
      assertThat(u.recordsRead(), equalTo((long) read.size() + failed.size() - 1));
      assertThat(u.error(), not(emptyOrNullString()));
    }
    records.addAll(read);
    failures.addAll(failed);
  }

  /**
   * Checks what every output has in common (the file, a unique index, a READ failure with a
   * message) and returns the outputs by index.
   */
  private static Map<Long, Object> indexed(
      String source, List<RawRecord> records, List<Failure> failures, String where) {
    Map<Long, Object> byIndex = new TreeMap<>();
    for (RawRecord r : records) {
      assertThat("record source in " + where, r.source(), equalTo(source));
      assertThat("record index in " + where, r.index() >= 0);
      assertThat("record text in " + where, r.text(), not(emptyOrNullString()));
      Object before = byIndex.put(r.index(), r);
      assertThat("one output for index " + r.index() + " of " + where, before, equalTo(null));
    }
    for (Failure f : failures) {
      assertThat("failure source in " + where, f.source(), equalTo(source));
      assertThat("failure index in " + where, f.index() >= 0);
      assertThat("failure stage in " + where, f.stage(), equalTo(Stage.READ));
      assertThat("failure id in " + where, f.id(), equalTo(null));
      assertThat("failure message in " + where, f.message(), not(emptyOrNullString()));
      Object before = byIndex.put(f.index(), f);
      assertThat("one output for index " + f.index() + " of " + where, before, equalTo(null));
    }
    return byIndex;
  }

  /**
   * The index of the failure for the rest of a file that could not be read, or -1; there is at most
   * one, and nothing comes after it.
   */
  private static long restOfFileFailure(
      List<Failure> failures, Map<Long, Object> byIndex, String where) {
    long index = -1;
    for (Failure f : failures) {
      String said = f.message() + " " + f.input();
      if (said.contains(REST_OF_FILE)) {
        assertThat("one failure for the rest of " + where, index, equalTo(-1L));
        index = f.index();
        assertThat(said, containsString("from record " + index + " on"));
      }
    }
    if (index >= 0) {
      assertThat(
          "nothing after the failure for the rest of " + where,
          ((TreeMap<Long, Object>) byIndex).lastKey(),
          equalTo(index));
    }
    return index;
  }

  private static CharsetDecoder strictDecoder() {
    return StandardCharsets.UTF_8
        .newDecoder()
        .onMalformedInput(CodingErrorAction.REPORT)
        .onUnmappableCharacter(CodingErrorAction.REPORT);
  }

  /** The text of {@code bytes[from, to)} if it is UTF-8, else null. */
  private static String strictUtf8(byte[] bytes, int from, int to) {
    try {
      return strictDecoder().decode(ByteBuffer.wrap(bytes, from, to - from)).toString();
    } catch (java.nio.charset.CharacterCodingException e) {
      return null;
    }
  }

  private static byte[] bytes(String s) {
    return s.getBytes(StandardCharsets.UTF_8);
  }
}
