package dev.batchinference.pipelines.sinks;

import static org.hamcrest.MatcherAssert.assertThat;
import static org.hamcrest.Matchers.containsInAnyOrder;
import static org.hamcrest.Matchers.equalTo;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Collectors;
import java.util.stream.Stream;
import org.apache.beam.sdk.coders.IterableCoder;
import org.apache.beam.sdk.coders.KvCoder;
import org.apache.beam.sdk.coders.StringUtf8Coder;
import org.apache.beam.sdk.coders.VarIntCoder;
import org.apache.beam.sdk.coders.VarLongCoder;
import org.apache.beam.sdk.testing.PAssert;
import org.apache.beam.sdk.testing.TestPipeline;
import org.apache.beam.sdk.transforms.Create;
import org.apache.beam.sdk.transforms.ParDo;
import org.apache.beam.sdk.transforms.Reshuffle;
import org.apache.beam.sdk.values.KV;
import org.apache.beam.sdk.values.PCollection;
import org.junit.Rule;
import org.junit.Test;
import org.junit.rules.TemporaryFolder;
import org.junit.runner.RunWith;
import org.junit.runners.JUnit4;

/** Lines written a file per bundle and renamed into place, also when a step runs twice. */
@RunWith(JUnit4.class)
public class WriteBundleFilesTest {

  @Rule public final TemporaryFolder tmp = new TemporaryFolder();
  @Rule public final transient TestPipeline pipeline = TestPipeline.create();

  private static List<String> files(Path dir) throws Exception {
    try (Stream<Path> files = Files.list(dir)) {
      return files.map(f -> f.getFileName().toString()).sorted().collect(Collectors.toList());
    }
  }

  private static List<String> lines(Path dir) throws Exception {
    List<String> lines = new ArrayList<>();
    for (String name : files(dir)) {
      lines.addAll(Files.readAllLines(dir.resolve(name), StandardCharsets.UTF_8));
    }
    return lines;
  }

  @Test
  public void everyLineLandsInOneOfTheNumberedFilesAndNothingElseIsLeft() throws Exception {
    Path out = tmp.newFolder("out").toPath();
    List<String> input = new ArrayList<>();
    for (int i = 0; i < 2_000; i++) {
      input.add("{\"id\":\"r" + i + "\",\"text\":\"é " + i + "\"}");
    }
    PCollection<String> written =
        pipeline
            .apply(Create.of(input))
            // Many bundles, so many files.
            .apply(Reshuffle.viaRandomKey())
            .apply(new WriteBundleFiles<String>(out + "/", "predictions", line -> line));
    String dir = out.toString();
    PAssert.that(written)
        .satisfies(
            names -> {
              List<String> all = new ArrayList<>();
              names.forEach(all::add);
              int n = all.size();
              List<String> expected = new ArrayList<>();
              for (int i = 0; i < n; i++) {
                expected.add(
                    Path.of(dir)
                        .resolve(String.format("predictions-%05d-of-%05d.jsonl", i, n))
                        .toString());
              }
              assertThat(all, containsInAnyOrder(expected.toArray()));
              return null;
            });
    pipeline.run().waitUntilFinish();
    assertThat(lines(out), containsInAnyOrder(input.toArray()));
    // Under FILE_BYTES in all: the bundles' files were joined into one.
    assertThat(files(out), equalTo(List.of("predictions-00000-of-00001.jsonl")));
    // No temporary directory left.
    assertThat(files(out).stream().allMatch(f -> f.startsWith("predictions-")), equalTo(true));
  }

  @Test
  public void anEmptyInputGivesOneEmptyFile() throws Exception {
    Path out = tmp.newFolder("out").toPath();
    pipeline
        .apply(Create.empty(StringUtf8Coder.of()))
        .apply(new WriteBundleFiles<String>(out + "/", "failures", line -> line));
    pipeline.run().waitUntilFinish();
    assertThat(files(out), equalTo(List.of("failures-00000-of-00001.jsonl")));
    assertThat(Files.size(out.resolve("failures-00000-of-00001.jsonl")), equalTo(0L));
  }

  @Test
  public void publishingTwiceOrAfterAPartialAttemptGivesTheSameFiles() throws Exception {
    Path out = tmp.newFolder("out").toPath();
    String tempName = ".bundles-test";
    Path temp = tempDir(out, tempName);
    Files.writeString(temp.resolve("a.jsonl"), "a\n");
    Files.writeString(temp.resolve("b.jsonl"), "b\n");
    // Left by a bundle that failed: never reported, removed with the directory.
    Files.writeString(temp.resolve("orphan.jsonl"), "lost attempt\n");
    List<KV<String, Long>> reported =
        List.of(
            KV.of(WriteBundleFiles.NONE, 0L),
            KV.of(temp.resolve("b.jsonl").toString(), 2L),
            KV.of(temp.resolve("a.jsonl").toString(), 2L));
    // The first attempt renamed the first file, then died.
    Files.move(temp.resolve("a.jsonl"), out.resolve("predictions-00000-of-00002.jsonl"));
    publish(out, tempName, reported, 1);
    List<String> expected =
        List.of("predictions-00000-of-00002.jsonl", "predictions-00001-of-00002.jsonl");
    assertThat(files(out), equalTo(expected));
    assertThat(lines(out), equalTo(List.of("a", "b")));
    publish(out, tempName, reported, 1);
    assertThat(files(out), equalTo(expected));
    assertThat(lines(out), equalTo(List.of("a", "b")));
  }

  @Test
  public void smallFilesAreJoinedUpToTheSizeAndRepeatingGivesTheSameFiles() throws Exception {
    Path out = tmp.newFolder("out").toPath();
    String tempName = ".bundles-test";
    Path temp = tempDir(out, tempName);
    List<KV<String, Long>> reported = new ArrayList<>();
    // 4 + 4 bytes reach 8: one file; 12 alone; the last 4 make the last file.
    for (String[] file :
        new String[][] {
          {"a", "a1\na2\n"}, {"b", "b1\nb\n"}, {"c", "c1\nc2\nc3\nc4\n"}, {"d", "d1\n"}
        }) {
      Path path = temp.resolve(file[0] + ".jsonl");
      Files.writeString(path, file[1]);
      reported.add(KV.of(path.toString(), (long) file[1].length()));
    }
    java.util.Collections.reverse(reported);
    publish(out, tempName, reported, 8);
    List<String> expected =
        List.of(
            "predictions-00000-of-00003.jsonl:a1\na2\nb1\nb\n",
            "predictions-00001-of-00003.jsonl:c1\nc2\nc3\nc4\n",
            "predictions-00002-of-00003.jsonl:d1\n");
    assertThat(contents(out), equalTo(expected));
    // Again, as after an attempt that died once everything was published.
    publish(out, tempName, reported, 8);
    assertThat(contents(out), equalTo(expected));
  }

  /** The writer's temporary directory {@code name} in {@code out}, created. */
  private static Path tempDir(Path out, String name) throws Exception {
    return Files.createDirectories(Path.of(TempFiles.directory(out + "/", name).toString()));
  }

  private static List<String> contents(Path dir) throws Exception {
    List<String> result = new ArrayList<>();
    for (String name : files(dir)) {
      result.add(name + ":" + Files.readString(dir.resolve(name), StandardCharsets.UTF_8));
    }
    return result;
  }

  private static void publish(
      Path out, String tempName, List<KV<String, Long>> reported, long fileBytes) {
    TestPipeline publish = TestPipeline.create().enableAbandonedNodeEnforcement(false);
    publish
        .apply(
            Create.of(KV.<Integer, Iterable<KV<String, Long>>>of(0, reported))
                .withCoder(
                    KvCoder.of(
                        VarIntCoder.of(),
                        IterableCoder.of(KvCoder.of(StringUtf8Coder.of(), VarLongCoder.of())))))
        .apply(
            ParDo.of(
                new WriteBundleFiles.PublishFn(out + "/", tempName, "predictions", fileBytes)));
    publish.run().waitUntilFinish();
  }
}
