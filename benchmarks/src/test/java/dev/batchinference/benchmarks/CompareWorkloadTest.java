package dev.batchinference.benchmarks;

import static org.hamcrest.MatcherAssert.assertThat;
import static org.hamcrest.Matchers.containsString;
import static org.hamcrest.Matchers.equalTo;
import static org.hamcrest.Matchers.not;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import org.junit.ClassRule;
import org.junit.Test;
import org.junit.rules.TemporaryFolder;

/**
 * The compare workload's baselines, small: 2,000 Fashion-MNIST images through the plain loop (a)
 * and the hand-written Flink DataStream job (b), 200 fortunes through the plain loop in file order
 * (f) and length-sorted (g), and an empty Beam pipeline on the DirectRunner (l), each in its own
 * JVM. Every variant writes one line per input record (2,000 is not a multiple of 64, so the Flink
 * operator's last partial batches must be flushed), the two classifier baselines agree on every
 * label, and the report has a row per variant.
 */
public class CompareWorkloadTest {

  @ClassRule public static final TemporaryFolder TMP = new TemporaryFolder();

  private static final int IMAGES = 2_000;
  private static final int TEXTS = 200;

  @Test
  public void everyBaselineWritesOneLinePerRecordAndTheClassifiersAgree() throws Exception {
    Path work = TMP.newFolder("work").toPath();
    Path report = work.resolve("compare.md");
    Benchmark.main(
        new String[] {
          "--workloads=compare",
          "--compareFashion=" + IMAGES,
          "--compareText=" + TEXTS,
          "--compareModes=a,b,f,g,l",
          "--fashionTrain=1000",
          "--threads=1",
          "--corpus=" + Path.of("../src/samples/fortunes.jsonl").toAbsolutePath(),
          "--workDir=" + work,
          "--report=" + report
        });

    Path compare = work.resolve("compare");
    Map<String, Integer> expected = Map.of("a", IMAGES, "b", IMAGES, "f", TEXTS, "g", TEXTS);
    for (Map.Entry<String, Integer> e : expected.entrySet()) {
      assertThat(
          "lines written by " + e.getKey(),
          CompareWorkload.countLines(compare.resolve(e.getKey()))[0],
          equalTo((long) e.getValue()));
    }
    // The Flink job ran two subtasks: its sink wrote (at least) one part file each.
    assertThat(
        "part files of the Flink job",
        CompareWorkload.countLines(compare.resolve("b"))[1] >= 2,
        equalTo(true));
    Map<String, String> plain = CompareWorkload.labels(compare.resolve("a"));
    assertThat(plain.size(), equalTo(IMAGES));
    assertThat(
        "labels of the Flink job, id by id",
        CompareWorkload.labels(compare.resolve("b")),
        equalTo(plain));

    String md = Files.readString(report, StandardCharsets.UTF_8);
    for (String row :
        new String[] {
          "|a. plain loop",
          "|b. hand-written Flink DataStream, parallelism 2|",
          "|f. plain loop, file order",
          "|g. plain loop, all texts tokenized and sorted by length",
          "|l. an empty Beam pipeline (three elements, one step), DirectRunner|"
        }) {
      assertThat(md, containsString(row));
    }
    assertThat(md, containsString("a and b give the same label to all 2,000 ids"));
    assertThat("the empty pipeline's phases", md, containsString("inside the JVM: options "));
    assertThat(md, not(containsString("MISMATCH")));
    assertThat(md, not(containsString("FAILED")));
    assertThat("the chart", Files.size(work.resolve("compare.png")) > 0, equalTo(true));
  }

  /** The no---runner rows name the runner the command line chose, from its own words. */
  @Test
  public void namesTheRunnerTheCommandLinePicked() throws Exception {
    Path flink = TMP.newFile("e.log").toPath();
    Files.writeString(
        flink,
        "some log line\n"
            + "runner: Flink's embedded mini cluster (--runner=FlinkRunner --flinkMaster=[local]"
            + " --parallelism=2), since input 244.6 MB is above 197.5 MB (1/32 of the max heap,"
            + " 6,320.8 MB), more than the DirectRunner holds in memory; --runner=DirectRunner"
            + " overrides. No progress is shown on Flink; the result line follows at the end.\n");
    assertThat(
        CompareWorkload.runnerLine(flink),
        equalTo(
            "picked Flink [local] (since input 244.6 MB is above 197.5 MB (1/32 of the max heap,"
                + " 6,320.8 MB), more than the DirectRunner holds in memory)"));
    Path direct = TMP.newFile("k.log").toPath();
    Files.writeString(
        direct,
        "runner: DirectRunner, since input 0.7 MB is within 197.5 MB (1/32 of the max heap,"
            + " 6,320.8 MB); larger inputs run on Flink's embedded mini cluster, --runner"
            + " chooses.\n");
    assertThat(
        CompareWorkload.runnerLine(direct),
        equalTo(
            "picked DirectRunner (since input 0.7 MB is within 197.5 MB (1/32 of the max heap,"
                + " 6,320.8 MB))"));
  }
}
