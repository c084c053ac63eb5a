package dev.batchinference.benchmarks;

import static org.hamcrest.MatcherAssert.assertThat;
import static org.hamcrest.Matchers.equalTo;

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
import java.util.TreeMap;
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

  @ClassRule public static final TemporaryFolder TMP = new TemporaryFolder();

  private static final int IMAGES = 3_000;
  private static final ObjectMapper JSON = new ObjectMapper();

  @Test
  public void predictsTheBatchesAndSubtaskSharesOfARealFlinkRun() throws Exception {
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

    Map<String, Long> predicted = new TreeMap<>();
    sim.batchSizes().forEach((size, n) -> predicted.put(String.valueOf(size), n));
    Map<String, Long> observed = new TreeMap<>();
    summary
        .get("batch_size")
        .get("histogram")
        .fields()
        .forEachRemaining(e -> observed.put(e.getKey(), e.getValue().asLong()));
    assertThat("batch sizes, simulated vs the run's summary", predicted, equalTo(observed));
    assertThat(summary.get("batches").asLong(), equalTo(sim.batches()));

    JsonNode workers = summary.get("inference_workers");
    long[] perWorker = sim.recordsPerWorker();
    assertThat("inference workers: " + workers, workers.get("count").asInt(), equalTo(4));
    assertThat(
        "fewest records on a subtask: " + workers,
        workers.get("records_min").asLong(),
        equalTo(Arrays.stream(perWorker).min().getAsLong()));
    assertThat(
        "most records on a subtask: " + workers,
        workers.get("records_max").asLong(),
        equalTo(Arrays.stream(perWorker).max().getAsLong()));
  }
}
