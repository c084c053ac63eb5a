package dev.batchinference.pipelines.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.batchinference.pipelines.ModelPlan;
import dev.batchinference.pipelines.options.BatchInferenceOptions;
import dev.batchinference.transforms.model.LoadedModel;
import dev.batchinference.transforms.model.MemoryBackoff;
import dev.batchinference.transforms.tensor.TensorExample;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.nio.channels.Channels;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Locale;
import org.apache.beam.sdk.io.FileSystems;
import org.apache.beam.sdk.io.fs.MatchResult;
import org.apache.beam.sdk.options.Default;
import org.apache.beam.sdk.options.Description;
import org.apache.beam.sdk.options.PipelineOptionsFactory;

/**
 * Finds the batch size for a model on this machine's device (CPU, or the CUDA device with {@code
 * --executionProvider=CUDA}): it turns the first records of the input into examples with the job's
 * own preprocessing and runs the model on batches of 1, 2, 4, … copies of the longest one (the
 * worst case for memory, with no padding to blur the curve) until a batch no longer fits in memory
 * (or {@code --maxTuneBatchSize}), and prints records/s per batch size, the largest batch that
 * fits, and the knee: the smallest batch within 10% of the best throughput, which is the {@code
 * --batchSize} it recommends (bigger batches add memory and padding for little gain).
 *
 * <pre>
 * java -cp runners/target/batch-inference-bundled.jar dev.batchinference.pipelines.TuneBatchSize \
 *     --task=EMBED --input=src/samples/fortunes.jsonl --executionProvider=CUDA
 * </pre>
 */
public final class TuneBatchSize {

  /** The job's options plus the tuner's own. */
  public interface Options extends BatchInferenceOptions {
    @Description("Records at the start of the input (JSON Lines) that batches are made from.")
    @Default.Integer(256)
    int getTuneRecords();

    void setTuneRecords(int value);

    @Description("The largest batch size tried.")
    @Default.Integer(1024)
    int getMaxTuneBatchSize();

    void setMaxTuneBatchSize(int value);

    @Description("Seconds each batch size runs for (after one warm-up run).")
    @Default.Double(2.0)
    double getTuneSeconds();

    void setTuneSeconds(double value);
  }

  /** One measured batch size; {@code recordsPerSecond} is NaN where the batch did not fit. */
  record Point(int batchSize, double recordsPerSecond, double millisPerBatch) {}

  private static final ObjectMapper JSON = new ObjectMapper();

  private TuneBatchSize() {}

  public static void main(String[] args) throws Exception {
    PipelineOptionsFactory.register(Options.class);
    Options options = PipelineOptionsFactory.fromArgs(args).withValidation().as(Options.class);
    List<Point> curve = tune(options);
    System.out.println(report(curve));
  }

  /** Measures the throughput curve. */
  static List<Point> tune(Options options) throws Exception {
    ModelPlan plan = ModelPlan.from(options);
    List<TensorExample> examples = examples(options, plan);
    // Every batch is the longest example repeated: the worst case for memory, and no padding, so
    // that the curve shows what the batch size alone changes.
    TensorExample longest =
        examples.stream().max(Comparator.comparingLong(plan.handler()::weight)).orElseThrow();
    List<Point> curve = new ArrayList<>();
    try (LoadedModel<TensorExample, TensorExample> model = plan.handler().load()) {
      for (int size = 1; size <= options.getMaxTuneBatchSize(); size *= 2) {
        List<TensorExample> batch = new ArrayList<>(size);
        for (int i = 0; i < size; i++) {
          batch.add(longest);
        }
        Point point;
        try {
          point = measure(model, batch, options.getTuneSeconds());
        } catch (Exception | OutOfMemoryError e) {
          if (!MemoryBackoff.isOutOfMemory(e)) {
            throw e;
          }
          curve.add(new Point(size, Double.NaN, Double.NaN));
          break;
        }
        curve.add(point);
        System.out.printf(
            Locale.ROOT,
            "batch %5d: %,12.1f records/s (%.2f ms per batch)%n",
            size,
            point.recordsPerSecond(),
            point.millisPerBatch());
      }
    }
    return curve;
  }

  private static Point measure(
      LoadedModel<TensorExample, TensorExample> model, List<TensorExample> batch, double seconds)
      throws Exception {
    model.run(batch);
    long start = System.nanoTime();
    long deadline = start + (long) (seconds * 1e9);
    int runs = 0;
    do {
      model.run(batch);
      runs++;
    } while (System.nanoTime() < deadline || runs < 3);
    double elapsed = (System.nanoTime() - start) / 1e9;
    return new Point(batch.size(), runs * batch.size() / elapsed, 1000 * elapsed / runs);
  }

  /** The smallest batch size within 10% of the best throughput; 0 when nothing fit. */
  static int knee(List<Point> curve) {
    double best =
        curve.stream()
            .mapToDouble(Point::recordsPerSecond)
            .filter(r -> !Double.isNaN(r))
            .max()
            .orElse(Double.NaN);
    for (Point p : curve) {
      if (!Double.isNaN(p.recordsPerSecond()) && p.recordsPerSecond() >= 0.9 * best) {
        return p.batchSize();
      }
    }
    return 0;
  }

  /** The largest batch size that ran; 0 when none did. */
  static int largestThatFits(List<Point> curve) {
    return curve.stream()
        .filter(p -> !Double.isNaN(p.recordsPerSecond()))
        .mapToInt(Point::batchSize)
        .max()
        .orElse(0);
  }

  static String report(List<Point> curve) {
    int largest = largestThatFits(curve);
    boolean outOfMemory = curve.stream().anyMatch(p -> Double.isNaN(p.recordsPerSecond()));
    return String.format(
        Locale.ROOT,
        "largest batch that fits: %d%s; knee (within 10%% of the best throughput): %d;"
            + " recommended: --batchSize=%d",
        largest,
        outOfMemory ? " (the next one ran out of memory)" : " (the largest tried)",
        knee(curve),
        knee(curve));
  }

  /** The first --tuneRecords records of the input, through the job's preprocessing. */
  private static List<TensorExample> examples(Options options, ModelPlan plan) throws Exception {
    List<TensorExample> examples = new ArrayList<>();
    plan.preprocessor().setup();
    try {
      for (MatchResult.Metadata file : FileSystems.match(options.getInput()).metadata()) {
        try (BufferedReader in =
            new BufferedReader(
                new InputStreamReader(
                    Channels.newInputStream(FileSystems.open(file.resourceId())),
                    StandardCharsets.UTF_8))) {
          for (String line;
              examples.size() < options.getTuneRecords() && (line = in.readLine()) != null; ) {
            if (line.isBlank()) {
              continue;
            }
            try {
              JsonNode node = JSON.readTree(line);
              if (node instanceof ObjectNode) {
                examples.add(plan.preprocessor().apply((ObjectNode) node));
              }
            } catch (Exception e) {
              // A record the job would send to failures; the tuner only needs good ones.
            }
          }
        } catch (IOException e) {
          throw new IllegalArgumentException("Cannot read " + file.resourceId() + ": " + e, e);
        }
        if (examples.size() >= options.getTuneRecords()) {
          break;
        }
      }
    } finally {
      plan.preprocessor().teardown();
    }
    if (examples.isEmpty()) {
      throw new IllegalArgumentException(
          "No record of "
              + options.getInput()
              + " could be preprocessed (the tuner reads JSON"
              + " Lines); check --input and the task's field options.");
    }
    return examples;
  }
}
