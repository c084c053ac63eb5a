package dev.batchinference.pipelines.cli;

import static org.hamcrest.MatcherAssert.assertThat;
import static org.hamcrest.Matchers.containsString;
import static org.hamcrest.Matchers.equalTo;
import static org.hamcrest.Matchers.is;
import static org.junit.Assert.assertThrows;

import dev.batchinference.pipelines.BatchInference;
import dev.batchinference.pipelines.options.InvalidJobException;
import dev.batchinference.transforms.testing.FashionMnist;
import dev.batchinference.transforms.testing.Fortunes;
import java.io.OutputStream;
import java.io.OutputStreamWriter;
import java.io.Writer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.FileTime;
import java.time.Instant;
import java.util.List;
import java.util.zip.GZIPOutputStream;
import org.apache.commons.csv.CSVFormat;
import org.apache.commons.csv.CSVPrinter;
import org.junit.Rule;
import org.junit.Test;
import org.junit.rules.TemporaryFolder;
import org.junit.runner.RunWith;
import org.junit.runners.JUnit4;

/**
 * The threshold trigger's count: records of input files modified after the previous run started,
 * counted on real data as the job reads it.
 */
@RunWith(JUnit4.class)
public class NewRecordsTest {

  @Rule public final TemporaryFolder tmp = new TemporaryFolder();

  private static final Instant STARTED = Instant.parse("2025-01-02T03:00:00Z");
  private static final FileTime BEFORE = FileTime.from(STARTED.minusSeconds(3600));
  private static final FileTime AFTER = FileTime.from(STARTED.plusSeconds(60));

  private Path previousSummary() throws Exception {
    Path summary = tmp.getRoot().toPath().resolve("previous-summary.json");
    Files.writeString(
        summary, "{\"started_at\":\"" + STARTED + "\",\"input\":\"x\",\"records_read\":7}");
    return summary;
  }

  private NewRecords.Check check(String... args) throws Exception {
    String[] all = new String[args.length + 1];
    System.arraycopy(args, 0, all, 0, args.length);
    all[args.length] = "--previousSummary=" + previousSummary();
    return NewRecords.check(BatchInference.parse(all));
  }

  /** Fortunes as JSON Lines, with a blank line and a line of spaces, which are not records. */
  private static void writeFortunes(Path file, List<Fortunes.Fortune> fortunes) throws Exception {
    Fortunes.writeJsonLines(file, fortunes);
    Files.writeString(file, Files.readString(file) + "\n   \n", StandardCharsets.UTF_8);
  }

  @Test
  public void countsRecordsOfJsonLinesFilesModifiedAfterThePreviousStart() throws Exception {
    List<Fortunes.Fortune> fortunes = Fortunes.load(5);
    Path dir = tmp.newFolder("jsonl").toPath();
    Path old = dir.resolve("a-old.jsonl");
    Path fresh = dir.resolve("b-new.jsonl");
    writeFortunes(old, fortunes.subList(0, 40));
    writeFortunes(fresh, fortunes.subList(40, 65));
    Path gz = dir.resolve("c-new.jsonl.gz");
    try (OutputStream out = new GZIPOutputStream(Files.newOutputStream(gz))) {
      out.write(Files.readAllBytes(fresh));
    }
    Files.setLastModifiedTime(old, BEFORE);
    Files.setLastModifiedTime(fresh, AFTER);
    Files.setLastModifiedTime(gz, AFTER);

    NewRecords.Check check = check("--input=" + dir.resolve("*.jsonl*"), "--minNewRecords=50");
    assertThat("records of the two new files, blank lines aside", check.newRecords, equalTo(50L));
    assertThat(check.newFiles, equalTo(2));
    assertThat(check.since, equalTo(STARTED));
    assertThat(check.enough(), is(true));
    assertThat(
        check("--input=" + dir.resolve("*.jsonl*"), "--minNewRecords=51").line(),
        equalTo(
            "skipped: 50 new records (in 2 files) since 2025-01-02T03:00:00Z, fewer than"
                + " --minNewRecords=51"));
  }

  @Test
  public void aQuotedNewlineDoesNotStartACsvRow() throws Exception {
    List<Fortunes.Fortune> fortunes = Fortunes.load(3);
    long multiline = fortunes.stream().filter(f -> f.text().contains("\n")).count();
    assertThat("fortunes with line breaks in them", multiline > 10, is(true));
    Path csv = tmp.newFile("fortunes.csv").toPath();
    try (Writer w = new OutputStreamWriter(Files.newOutputStream(csv), StandardCharsets.UTF_8);
        CSVPrinter printer =
            new CSVPrinter(w, CSVFormat.RFC4180.builder().setHeader("id", "text").build())) {
      for (Fortunes.Fortune f : fortunes) {
        printer.printRecord(f.id(), f.text());
      }
    }
    Files.setLastModifiedTime(csv, AFTER);
    NewRecords.Check check = check("--input=" + csv, "--inputFormat=CSV", "--minNewRecords=1");
    assertThat(check.newRecords, equalTo((long) fortunes.size()));
  }

  @Test
  public void parquetRowsComeFromTheFooters() throws Exception {
    Path dir = tmp.newFolder("parquet").toPath();
    FashionMnist.writeParquet(dir.resolve("a.parquet"), FashionMnist.load(false, 300), "a");
    FashionMnist.writeParquet(dir.resolve("b.parquet"), FashionMnist.load(false, 120), "b");
    Files.setLastModifiedTime(dir.resolve("a.parquet"), AFTER);
    Files.setLastModifiedTime(dir.resolve("b.parquet"), BEFORE);
    NewRecords.Check check =
        check("--input=" + dir.resolve("*.parquet"), "--inputFormat=PARQUET", "--minNewRecords=1");
    assertThat(check.newRecords, equalTo(300L));
    assertThat(check.newFiles, equalTo(1));
  }

  @Test
  public void aDamagedFileCountsTheRecordsBeforeTheDamageAndOneFailure() throws Exception {
    Path good = tmp.newFile("good.parquet").toPath();
    Files.delete(good);
    FashionMnist.writeParquet(good, FashionMnist.load(false, 10), "g");
    Path cut = tmp.getRoot().toPath().resolve("cut.parquet");
    byte[] bytes = Files.readAllBytes(good);
    Files.write(cut, java.util.Arrays.copyOf(bytes, bytes.length / 2));
    Files.setLastModifiedTime(cut, AFTER);
    NewRecords.Check check = check("--input=" + cut, "--inputFormat=PARQUET", "--minNewRecords=1");
    assertThat("the job reads it as one read failure", check.newRecords, equalTo(1L));
  }

  @Test
  public void refusesWhatItCannotCount() throws Exception {
    Path in = tmp.newFile("in.jsonl").toPath();
    InvalidJobException noSummary =
        assertThrows(
            InvalidJobException.class,
            () -> NewRecords.check(BatchInference.parse("--input=" + in, "--minNewRecords=5")));
    assertThat(noSummary.getMessage(), containsString("set --previousSummary"));
    InvalidJobException bigQuery =
        assertThrows(
            InvalidJobException.class,
            () -> check("--inputTable=p:d.t", "--idField=id", "--minNewRecords=5"));
    assertThat(bigQuery.getMessage(), containsString("BigQuery input"));
    Path notASummary = tmp.newFile("other.json").toPath();
    Files.writeString(notASummary, "{\"records_read\":3}");
    InvalidJobException noStart =
        assertThrows(
            InvalidJobException.class,
            () ->
                NewRecords.check(
                    BatchInference.parse(
                        "--input=" + in, "--minNewRecords=5", "--previousSummary=" + notASummary)));
    assertThat(noStart.getMessage(), containsString("has no started_at"));
  }
}
