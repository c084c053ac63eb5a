package dev.batchinference.benchmarks;

import static org.hamcrest.MatcherAssert.assertThat;
import static org.hamcrest.Matchers.equalTo;
import static org.hamcrest.Matchers.greaterThanOrEqualTo;
import static org.hamcrest.Matchers.lessThanOrEqualTo;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.batchinference.pipelines.BatchInference;
import dev.batchinference.transforms.RecordMeta;
import dev.batchinference.transforms.testing.FashionMnist;
import dev.batchinference.transforms.testing.TestModels;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;
import org.junit.ClassRule;
import org.junit.Test;
import org.junit.rules.TemporaryFolder;

/**
 * The scaling simulation predicts a real run exactly: the same keys, the same record-to-key hash
 * and the same batch cutting give the run's batch-size histogram and its per-subtask record counts.
 * Flink {@code [local]} at parallelism 4 (keys placed on subtasks) and 3,000 Fashion-MNIST images,
 * batch 64: small, but every number in {@code docs/scaling.md} comes from the same code.
 */
public class ScalingSimulationTest {

  private static Iterable<Map.Entry<String, JsonNode>> iterable(JsonNode object) {
    return object::fields;
  }

  @ClassRule public static final TemporaryFolder TMP = new TemporaryFolder();

  private static final int IMAGES = 3_000;
  private static final ObjectMapper JSON = new ObjectMapper();

  @Test
  public void boundsTheBatchesAndSubtaskSharesOfARealFlinkRun() throws Exception {
    Path dir = TMP.newFolder("run").toPath();
    Path input = dir.resolve("images.jsonl");
    FashionMnist.writeJsonLines(input, FashionMnist.load(false, IMAGES), "t");
    Path labels = FashionMnist.writeLabels(dir.resolve("labels.txt"));
    Path out = dir.resolve("out");
    String[] runner = {
      "--runner=FlinkRunner", "--parallelism=4", "--task=CLASSIFY", "--batchSize=64"
    };
    List<String> args = new ArrayList<>(Arrays.asList(runner));
    args.addAll(
        List.of(
            "--flinkMaster=[local]",
            "--model=" + TestModels.classifier(),
            "--classLabels=" + labels,
            "--input=" + input,
            "--output=" + out));
    BatchInference.run(BatchInference.parse(args.toArray(new String[0]))).waitUntilFinish();

    JsonNode summary = JSON.readTree(out.resolve(BatchInference.SUMMARY).toFile());
    assertThat("nothing lost: " + summary, summary.get("nothing_lost").asBoolean(), equalTo(true));
    // The positions the run gave its records, as its predictions report them.
    List<RecordMeta> metas = new ArrayList<>();
    try (Stream<Path> files = Files.list(out)) {
      for (Path file :
          files.filter(f -> f.getFileName().toString().startsWith("predictions")).toList()) {
        for (String line : Files.readAllLines(file)) {
          JsonNode p = JSON.readTree(line);
          metas.add(
              RecordMeta.of(
                  p.get("id").asText(), p.get("source").asText(), p.get("index").asLong(), null));
        }
      }
    }
    assertThat(metas.size(), equalTo(IMAGES));

    ScalingSimulation.Keys keys = ScalingSimulation.keys(runner);
    assertThat("keys per bucket follow --parallelism", keys.shards(), equalTo(4));
    ScalingSimulation.Result sim =
        ScalingSimulation.simulate(keys, IMAGES, i -> metas.get((int) i), i -> 0);

    // Since full batches are packed within each bundle (issue 17), records reach GroupIntoBatches
    // by their key only when a bundle ends with them, so the run's batches are not the
    // simulation's (which keys every record). What holds for both: no batch is bigger than 64,
    // every key ends with at most one partial batch, so there are at most floor(N / 64) full
    // batches plus one partial per key; and full batches go round the keys, so each subtask gets
    // its share.
    int keysInRun = keys.shards();
    long simulatedPartial = 0;
    for (Map.Entry<Integer, Long> e : sim.batchSizes().entrySet()) {
      if (e.getKey() < 64) {
        simulatedPartial += e.getValue();
      }
    }
    assertThat(
        "the simulation's partial batches", simulatedPartial, lessThanOrEqualTo((long) keysInRun));
    long partial = 0;
    long batched = 0;
    for (Map.Entry<String, JsonNode> e : iterable(summary.get("batch_size").get("histogram"))) {
      long size = Long.parseLong(e.getKey());
      assertThat("batch size", size, lessThanOrEqualTo(64L));
      batched += size * e.getValue().asLong();
      if (size < 64) {
        partial += e.getValue().asLong();
      }
    }
    assertThat("every record in a batch", batched, equalTo((long) IMAGES));
    assertThat(
        "partial batches: at most one per key", partial, lessThanOrEqualTo((long) keysInRun));
    assertThat(
        "batches: at most the full ones plus a partial per key",
        summary.get("batches").asLong(),
        lessThanOrEqualTo((long) (IMAGES / 64 + keysInRun)));

    JsonNode workers = summary.get("inference_workers");
    assertThat("inference workers: " + workers, workers.get("count").asInt(), equalTo(4));
    double mean = IMAGES / 4.0;
    assertThat(
        "fewest records on a subtask: " + workers,
        workers.get("records_min").asDouble(),
        greaterThanOrEqualTo(0.6 * mean));
    assertThat(
        "most records on a subtask: " + workers,
        workers.get("records_max").asDouble(),
        lessThanOrEqualTo(1.4 * mean));
  }
}
