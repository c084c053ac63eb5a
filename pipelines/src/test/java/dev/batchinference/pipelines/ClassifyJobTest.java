package dev.batchinference.pipelines;

import static org.hamcrest.MatcherAssert.assertThat;
import static org.hamcrest.Matchers.closeTo;
import static org.hamcrest.Matchers.containsString;
import static org.hamcrest.Matchers.equalTo;
import static org.hamcrest.Matchers.greaterThan;
import static org.hamcrest.Matchers.greaterThanOrEqualTo;
import static org.hamcrest.Matchers.is;
import static org.hamcrest.Matchers.lessThanOrEqualTo;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.batchinference.pipelines.options.BatchInferenceOptions;
import dev.batchinference.transforms.io.ReadRecords;
import dev.batchinference.transforms.testing.BreastCancer;
import dev.batchinference.transforms.testing.FashionMnist;
import java.io.BufferedWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.List;
import java.util.Map;
import org.apache.beam.sdk.testing.TestPipeline;
import org.junit.BeforeClass;
import org.junit.ClassRule;
import org.junit.Rule;
import org.junit.Test;
import org.junit.rules.TemporaryFolder;
import org.junit.runner.RunWith;
import org.junit.runners.JUnit4;

/**
 * The classification and raw jobs end to end on the DirectRunner, with a logistic regression
 * trained on Fashion-MNIST by Tribuo and exported to ONNX.
 */
@RunWith(JUnit4.class)
public class ClassifyJobTest {

  @ClassRule public static final TemporaryFolder TMP = new TemporaryFolder();
  @Rule public final transient TestPipeline pipeline = TestPipeline.create();

  private static final ObjectMapper JSON = new ObjectMapper();
  private static final int IMAGES = 400;
  private static Path model;
  private static Path labels;
  private static FashionMnist.Dataset test;
  private static Path jsonl;
  private static Path csv;

  @BeforeClass
  public static void trainAndWriteInputs() throws Exception {
    Path dir = TMP.getRoot().toPath();
    model = FashionMnist.trainedClassifier(dir, 3000);
    labels = FashionMnist.writeLabels(dir.resolve("labels.txt"));
    test = FashionMnist.load(false, IMAGES);
    jsonl = dir.resolve("images.jsonl");
    FashionMnist.writeJsonLines(jsonl, test, "t");
    csv = dir.resolve("images.csv");
    FashionMnist.writeCsv(csv, test, "t");
  }

  private BatchInferenceOptions classifyOptions(Path input, Path out) {
    BatchInferenceOptions options = pipeline.getOptions().as(BatchInferenceOptions.class);
    options.setTask(BatchInferenceOptions.Task.CLASSIFY);
    options.setModel(model.toString());
    options.setClassLabels(labels.toString());
    options.setInput(input.toString());
    options.setOutput(out.toString());
    options.setBatchSize(64);
    return options;
  }

  @Test
  public void classifiesJsonLinesWithLabelsAndTopK() throws Exception {
    Path out = TMP.newFolder("jsonl").toPath();
    BatchInference.build(pipeline, classifyOptions(jsonl, out));
    pipeline.run().waitUntilFinish();

    JobOutputs outputs = JobOutputs.read(out);
    Map<String, JsonNode> predictions = outputs.predictionsById();
    assertThat(predictions.size(), equalTo(IMAGES));
    assertThat(outputs.failures.size(), equalTo(0));
    int correct = 0;
    for (int i = 0; i < IMAGES; i++) {
      JsonNode p = predictions.get("t" + i);
      String truth = FashionMnist.LABELS.get(test.labels()[i]);
      correct += p.get("label").asText().equals(truth) ? 1 : 0;
      assertThat(
          p.get("label").asText(), equalTo(FashionMnist.LABELS.get(p.get("label_index").asInt())));
      JsonNode topK = p.get("top_k");
      assertThat(topK.size(), equalTo(3));
      assertThat(topK.get(0).get("label").asText(), equalTo(p.get("label").asText()));
      assertThat(topK.get(0).get("score").asDouble(), closeTo(p.get("score").asDouble(), 1e-6));
      assertThat(
          "scores are in decreasing order",
          topK.get(0).get("score").asDouble() >= topK.get(1).get("score").asDouble(),
          is(true));
    }
    assertThat(
        "accuracy on " + IMAGES + " test images", correct / (double) IMAGES, greaterThan(0.7));

    JsonNode classCounts = outputs.summary.get("prediction_distribution").get("class_counts");
    long total = 0;
    for (JsonNode count : classCounts) {
      total += count.asLong();
    }
    assertThat(total, equalTo((long) IMAGES));
    assertThat(outputs.summary.get("nothing_lost").asBoolean(), is(true));

    // The DirectRunner's threads that ran batches; each ran at least one, none ran them all
    // unless only one did.
    JsonNode workers = outputs.summary.get("inference_workers");
    assertThat(
        "inference_workers in " + outputs.summary, workers.get("count").asInt(), greaterThan(0));
    assertThat(workers.get("records_min").asLong(), greaterThan(0L));
    assertThat(workers.get("batches_min").asLong(), greaterThan(0L));
    assertThat(
        workers.get("records_max").asLong() * workers.get("count").asInt(),
        greaterThanOrEqualTo((long) IMAGES));
    assertThat(workers.get("records_max").asLong(), lessThanOrEqualTo((long) IMAGES));
    assertThat(
        workers.get("batches_max").asLong() * workers.get("count").asInt(),
        greaterThanOrEqualTo(outputs.summary.get("batches").asLong()));
  }

  @Test
  public void aBinaryClassifierWithOneSigmoidOutputPredictsBothClasses() throws Exception {
    Path dir = TMP.newFolder("binary").toPath();
    Path binary = BreastCancer.trainedClassifier(dir);
    Path binaryLabels = dir.resolve("labels.txt");
    Files.writeString(binaryLabels, String.join("\n", BreastCancer.LABELS) + "\n");
    BreastCancer.Dataset data = BreastCancer.load();
    int from = BreastCancer.TRAINING_RECORDS;
    Path input = dir.resolve("tumours.jsonl");
    BreastCancer.writeJsonLines(input, data, from, data.size());
    Path out = TMP.newFolder("binary-out").toPath();
    BatchInferenceOptions options = classifyOptions(input, out);
    options.setModel(binary.toString());
    options.setClassLabels(binaryLabels.toString());
    BatchInference.build(pipeline, options);
    pipeline.run().waitUntilFinish();

    JobOutputs outputs = JobOutputs.read(out);
    Map<String, JsonNode> predictions = outputs.predictionsById();
    assertThat(predictions.size(), equalTo(data.size() - from));
    int correct = 0;
    for (int i = from; i < data.size(); i++) {
      JsonNode p = predictions.get("bc-" + i);
      assertThat(
          p.get("label").asText(), equalTo(BreastCancer.LABELS.get(p.get("label_index").asInt())));
      assertThat("score is max(P, 1-P)", p.get("score").asDouble(), greaterThan(0.4999));
      assertThat("top_k lists both classes", p.get("top_k").size(), equalTo(2));
      correct += p.get("label_index").asInt() == data.targets()[i] ? 1 : 0;
    }
    assertThat(
        "accuracy on " + predictions.size() + " held-out tumours",
        correct / (double) predictions.size(),
        greaterThan(0.9));
    JsonNode classCounts = outputs.summary.get("prediction_distribution").get("class_counts");
    assertThat(classCounts.toString(), classCounts.get("malignant").asLong() > 0, is(true));
    assertThat(classCounts.toString(), classCounts.get("benign").asLong() > 0, is(true));
    assertThat(outputs.summary.get("nothing_lost").asBoolean(), is(true));
  }

  @Test
  public void csvColumnsGiveTheSameLabelsAsJsonLines() throws Exception {
    Path outCsv = TMP.newFolder("csv").toPath();
    BatchInferenceOptions options = classifyOptions(csv, outCsv);
    options.setInputFormat(ReadRecords.Format.CSV);
    options.setFeatureColumns(List.of("px*"));
    BatchInference.build(pipeline, options);
    pipeline.run().waitUntilFinish();
    Map<String, JsonNode> fromCsv = JobOutputs.read(outCsv).predictionsById();
    assertThat(fromCsv.size(), equalTo(IMAGES));
    for (int i = 0; i < IMAGES; i++) {
      JsonNode p = fromCsv.get("t" + i);
      assertThat("CSV row " + i + " is data row " + i, p.get("index").asLong(), equalTo((long) i));
    }

    // The same images through JSON Lines, scored directly, must get the same labels.
    Path outJson = TMP.newFolder("csv-vs-jsonl").toPath();
    TestPipeline second = TestPipeline.create().enableAbandonedNodeEnforcement(false);
    BatchInferenceOptions jsonOptions = second.getOptions().as(BatchInferenceOptions.class);
    jsonOptions.setTask(BatchInferenceOptions.Task.CLASSIFY);
    jsonOptions.setModel(model.toString());
    jsonOptions.setClassLabels(labels.toString());
    jsonOptions.setInput(jsonl.toString());
    jsonOptions.setOutput(outJson.toString());
    BatchInference.build(second, jsonOptions);
    second.run().waitUntilFinish();
    Map<String, JsonNode> fromJson = JobOutputs.read(outJson).predictionsById();
    for (int i = 0; i < IMAGES; i++) {
      assertThat(
          "label of image " + i,
          fromCsv.get("t" + i).get("label").asText(),
          equalTo(fromJson.get("t" + i).get("label").asText()));
    }
  }

  @Test
  public void badFeatureVectorsFailAloneWithTheirReason() throws Exception {
    Path input = TMP.getRoot().toPath().resolve("mixed.jsonl");
    Files.copy(jsonl, input, java.nio.file.StandardCopyOption.REPLACE_EXISTING);
    try (BufferedWriter w =
        Files.newBufferedWriter(input, StandardCharsets.UTF_8, StandardOpenOption.APPEND)) {
      w.write("{\"id\":\"short\",\"features\":[1,2,3]}\n");
      w.write("{\"id\":\"nan\",\"features\":[" + "0,".repeat(783) + "\"NaN\"]}\n");
      w.write("{\"id\":\"word\",\"features\":[" + "0,".repeat(783) + "\"abc\"]}\n");
      w.write("{\"id\":\"nested\",\"features\":[" + "0,".repeat(783) + "{\"a\":1}]}\n");
      w.write("{\"id\":\"scalar\",\"features\":5}\n");
      w.write("{\"id\":\"none\"}\n");
    }
    Path out = TMP.newFolder("mixed").toPath();
    BatchInference.build(pipeline, classifyOptions(input, out));
    pipeline.run().waitUntilFinish();

    JobOutputs outputs = JobOutputs.read(out);
    assertThat(outputs.predictions.size(), equalTo(IMAGES));
    Map<String, JsonNode> failures = outputs.failuresByKey();
    assertThat(failures.size(), equalTo(6));
    assertThat(
        failures.get("short").get("error").asText(),
        containsString("has 3 values; the model takes 784"));
    assertThat(failures.get("nan").get("error").asText(), containsString("features[783] is NaN"));
    assertThat(
        failures.get("word").get("error").asText(),
        containsString("features[783] is not a number"));
    assertThat(
        failures.get("nested").get("error").asText(),
        containsString("must be a number, got object"));
    assertThat(
        failures.get("scalar").get("error").asText(),
        containsString("must be an array of numbers"));
    assertThat(
        failures.get("none").get("error").asText(),
        containsString("record has no 'features' field"));
    for (JsonNode f : outputs.failures) {
      assertThat(f.get("stage").asText(), equalTo("preprocess"));
    }
    assertThat(outputs.summary.get("records_read").asLong(), equalTo((long) IMAGES + 6));
    assertThat(outputs.summary.get("nothing_lost").asBoolean(), is(true));
  }

  @Test
  public void rawModeWritesOutputTensors() throws Exception {
    Path input = TMP.getRoot().toPath().resolve("raw.jsonl");
    try (BufferedWriter w = Files.newBufferedWriter(input, StandardCharsets.UTF_8)) {
      for (int i = 0; i < 20; i++) {
        ObjectNode record = JSON.createObjectNode().put("id", "r" + i);
        ArrayNode values = record.putArray("input");
        for (float v : test.images()[i]) {
          values.add(v);
        }
        w.write(record.toString());
        w.newLine();
      }
    }
    Path out = TMP.newFolder("raw").toPath();
    BatchInferenceOptions options = pipeline.getOptions().as(BatchInferenceOptions.class);
    options.setTask(BatchInferenceOptions.Task.RAW);
    options.setModel(model.toString());
    options.setInput(input.toString());
    options.setOutput(out.toString());
    BatchInference.build(pipeline, options);
    pipeline.run().waitUntilFinish();

    Map<String, JsonNode> predictions = JobOutputs.read(out).predictionsById();
    assertThat(predictions.size(), equalTo(20));
    JsonNode scores = predictions.get("r0").get("outputs").get("output");
    assertThat(scores.size(), equalTo(10));
    double sum = 0;
    for (JsonNode s : scores) {
      sum += s.asDouble();
    }
    assertThat("the exported model gives probabilities", sum, closeTo(1.0, 1e-4));
  }
}
