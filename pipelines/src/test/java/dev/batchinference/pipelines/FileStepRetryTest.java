package dev.batchinference.pipelines;

import static org.hamcrest.MatcherAssert.assertThat;
import static org.hamcrest.Matchers.equalTo;

import dev.batchinference.pipelines.sinks.RemoveStaleOutputs;
import dev.batchinference.pipelines.sinks.WriteOrderedJsonLines;
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
import org.apache.beam.sdk.testing.TestPipeline;
import org.apache.beam.sdk.transforms.Create;
import org.apache.beam.sdk.transforms.ParDo;
import org.apache.beam.sdk.values.KV;
import org.junit.Rule;
import org.junit.Test;
import org.junit.rules.TemporaryFolder;
import org.junit.runner.RunWith;
import org.junit.runners.JUnit4;

/**
 * The steps that rename and delete files in the output directory run again on the same input (as a
 * runner does after a failed attempt) and end with the files of one clean run: the ordered-output
 * publish step with its renames already done or its shards already concatenated and deleted, and
 * the stale-output removal with its files already gone.
 */
@RunWith(JUnit4.class)
public class FileStepRetryTest {

  @Rule public final TemporaryFolder tmp = new TemporaryFolder();

  private static final String TEMP = ".ordered-test";

  /** Writes one temporary shard per rank given (lines "rank-i"), as WriteShardFn does. */
  private static List<KV<Integer, String>> writeShards(Path out, int... ranks) throws Exception {
    List<KV<Integer, String>> shards = new ArrayList<>();
    for (int rank : ranks) {
      Path shard = Path.of(WriteOrderedJsonLines.temp(out.toString(), TEMP, rank).toString());
      Files.createDirectories(shard.getParent());
      Files.writeString(shard, rank + "-0\n" + rank + "-1\n");
      shards.add(KV.of(rank, shard.toString()));
    }
    return shards;
  }

  private static void publish(
      Path out, List<KV<Integer, String>> shards, int inputFiles, boolean singleFile) {
    TestPipeline pipeline = TestPipeline.create().enableAbandonedNodeEnforcement(false);
    pipeline
        .apply(
            "Shards",
            Create.of(KV.<Integer, Iterable<KV<Integer, String>>>of(0, shards))
                .withCoder(
                    KvCoder.of(
                        VarIntCoder.of(),
                        IterableCoder.of(KvCoder.of(VarIntCoder.of(), StringUtf8Coder.of())))))
        .apply(
            "Publish",
            ParDo.of(
                new WriteOrderedJsonLines.PublishFn(out.toString(), TEMP, inputFiles, singleFile)));
    pipeline.run().waitUntilFinish();
  }

  private static void removeStale(Path out, List<String> written) {
    TestPipeline pipeline = TestPipeline.create().enableAbandonedNodeEnforcement(false);
    pipeline
        .apply("Written", Create.of(written).withCoder(StringUtf8Coder.of()))
        .apply("RemoveStaleOutputs", new RemoveStaleOutputs(out.toString()));
    pipeline.run().waitUntilFinish();
  }

  /** The output directory's files (not the temporary directory) and their contents. */
  private static List<String> contents(Path out) throws Exception {
    try (Stream<Path> files = Files.list(out)) {
      List<String> result = new ArrayList<>();
      for (Path f : files.filter(Files::isRegularFile).sorted().collect(Collectors.toList())) {
        result.add(f.getFileName() + ":" + Files.readString(f, StandardCharsets.UTF_8));
      }
      return result;
    }
  }

  private static final List<String> SHARDED =
      List.of(
          "predictions-00000-of-00003.jsonl:0-0\n0-1\n",
          "predictions-00001-of-00003.jsonl:",
          "predictions-00002-of-00003.jsonl:2-0\n2-1\n");

  @Test
  public void publishingShardsTwiceGivesTheFilesOfOneRun() throws Exception {
    Path out = tmp.newFolder("out").toPath();
    List<KV<Integer, String>> shards = writeShards(out, 0, 2);
    publish(out, shards, 3, false);
    assertThat(contents(out), equalTo(SHARDED));

    // Every rename done already: the second attempt finds the shards in place.
    publish(out, shards, 3, false);
    assertThat(contents(out), equalTo(SHARDED));
  }

  @Test
  public void publishingShardsAfterAPartialAttemptRenamesTheRest() throws Exception {
    Path out = tmp.newFolder("out").toPath();
    List<KV<Integer, String>> shards = writeShards(out, 0, 2);
    // The first attempt renamed rank 0 and died.
    Files.move(Path.of(shards.get(0).getValue()), out.resolve("predictions-00000-of-00003.jsonl"));
    publish(out, shards, 3, false);
    assertThat(contents(out), equalTo(SHARDED));
  }

  @Test
  public void aShardThatIsNowhereFailsThePublishStep() throws Exception {
    Path out = tmp.newFolder("out").toPath();
    List<KV<Integer, String>> shards = writeShards(out, 0, 2);
    Files.delete(Path.of(shards.get(1).getValue()));
    try {
      publish(out, shards, 3, false);
      throw new AssertionError("a lost shard was published as if renamed");
    } catch (RuntimeException e) {
      assertThat(
          String.valueOf(e.getMessage()).contains("predictions-00002-of-00003.jsonl"),
          equalTo(true));
    }
  }

  private static final List<String> SINGLE = List.of("predictions.jsonl:0-0\n0-1\n2-0\n2-1\n");

  @Test
  public void publishingOneFileTwiceKeepsItWhole() throws Exception {
    Path out = tmp.newFolder("out").toPath();
    List<KV<Integer, String>> shards = writeShards(out, 0, 2);
    publish(out, shards, 3, true);
    assertThat(contents(out), equalTo(SINGLE));

    // The shards are gone: the second attempt keeps the file the first one wrote.
    publish(out, shards, 3, true);
    assertThat(contents(out), equalTo(SINGLE));
  }

  @Test
  public void publishingOneFileAfterAPartialDeleteKeepsItWhole() throws Exception {
    Path out = tmp.newFolder("out").toPath();
    List<KV<Integer, String>> shards = writeShards(out, 0, 2);
    // The first attempt wrote the whole file and died after deleting the first shard.
    Files.writeString(out.resolve("predictions.jsonl"), "0-0\n0-1\n2-0\n2-1\n");
    Files.delete(Path.of(shards.get(0).getValue()));
    publish(out, shards, 3, true);
    assertThat(contents(out), equalTo(SINGLE));
    assertThat(Files.exists(Path.of(shards.get(1).getValue())), equalTo(false));
  }

  @Test
  public void removingStaleOutputsTwiceLeavesTheWrittenFiles() throws Exception {
    Path out = tmp.newFolder("out").toPath();
    for (String name :
        List.of(
            "predictions.jsonl",
            "failures.jsonl",
            "predictions-00000-of-00002.jsonl",
            "predictions-00001-of-00002.jsonl",
            "failures-00000-of-00001.parquet",
            "predictions-notes.txt")) {
      Files.writeString(out.resolve(name), name);
    }
    List<String> written =
        List.of(
            out.resolve("predictions.jsonl").toString(), out.resolve("failures.jsonl").toString());
    List<String> expected =
        List.of(
            "failures.jsonl:failures.jsonl",
            "predictions-notes.txt:predictions-notes.txt",
            "predictions.jsonl:predictions.jsonl");
    removeStale(out, written);
    assertThat(contents(out), equalTo(expected));
    // Everything stale is already gone: nothing to do, no error.
    removeStale(out, written);
    assertThat(contents(out), equalTo(expected));
  }
}
