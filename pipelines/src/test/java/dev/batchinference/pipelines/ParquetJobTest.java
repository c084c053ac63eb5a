package dev.batchinference.pipelines;

import static org.hamcrest.MatcherAssert.assertThat;
import static org.hamcrest.Matchers.containsString;
import static org.hamcrest.Matchers.equalTo;
import static org.hamcrest.Matchers.greaterThan;
import static org.hamcrest.Matchers.is;

import dev.batchinference.pipelines.options.BatchInferenceOptions;
import dev.batchinference.pipelines.options.OutputOptions.OutputFormat;
import dev.batchinference.transforms.io.ReadRecords;
import dev.batchinference.transforms.testing.FashionMnist;
import dev.batchinference.transforms.testing.ParquetFiles;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import org.apache.avro.generic.GenericRecord;
import org.apache.beam.sdk.testing.TestPipeline;
import org.junit.BeforeClass;
import org.junit.ClassRule;
import org.junit.Rule;
import org.junit.Test;
import org.junit.rules.TemporaryFolder;
import org.junit.runner.RunWith;
import org.junit.runners.JUnit4;

/**
 * Parquet in and out: Fashion-MNIST images in a Parquet file written by parquet-avro directly,
 * classified, with predictions and failures written as Parquet and read back the same way.
 */
@RunWith(JUnit4.class)
public class ParquetJobTest {

  @ClassRule public static final TemporaryFolder TMP = new TemporaryFolder();
  @Rule public final transient TestPipeline pipeline = TestPipeline.create();

  private static final int IMAGES = 300;
  private static FashionMnist.Dataset test;
  private static Path model;
  private static Path labels;
  private static Path images;

  @BeforeClass
  public static void writeInputs() {
    Path dir = TMP.getRoot().toPath();
    model = FashionMnist.trainedClassifier(dir, 2000);
    labels = FashionMnist.writeLabels(dir.resolve("labels.txt"));
    test = FashionMnist.load(false, IMAGES);
    images = dir.resolve("in/images.parquet");
    FashionMnist.writeParquet(images, test, "img");
  }

  private BatchInferenceOptions options(String input, Path out) {
    BatchInferenceOptions options = pipeline.getOptions().as(BatchInferenceOptions.class);
    options.setTask(BatchInferenceOptions.Task.CLASSIFY);
    options.setModel(model.toString());
    options.setClassLabels(labels.toString());
    options.setInput(input);
    options.setInputFormat(ReadRecords.Format.PARQUET);
    options.setOutputFormat(OutputFormat.PARQUET);
    options.setOutput(out.toString());
    return options;
  }

  private static List<GenericRecord> readAll(Path dir, String glob) throws Exception {
    List<GenericRecord> rows = new ArrayList<>();
    try (DirectoryStream<Path> files = Files.newDirectoryStream(dir, glob)) {
      for (Path f : files) {
        rows.addAll(ParquetFiles.read(f));
      }
    }
    return rows;
  }

  @Test
  public void classifiesParquetIntoParquet() throws Exception {
    Path out = TMP.newFolder("out").toPath();
    BatchInference.build(pipeline, options(images.toString(), out));
    pipeline.run().waitUntilFinish();

    List<GenericRecord> predictions = readAll(out, "predictions-*.parquet");
    assertThat(predictions.size(), equalTo(IMAGES));
    int correct = 0;
    for (GenericRecord p : predictions) {
      int i = Integer.parseInt(p.get("id").toString().substring(3));
      assertThat(p.get("index"), equalTo((long) i));
      assertThat(p.get("source").toString(), containsString("images.parquet"));
      correct +=
          p.get("label").toString().equals(FashionMnist.LABELS.get(test.labels()[i])) ? 1 : 0;
      List<?> topK = (List<?>) p.get("top_k");
      assertThat(topK.size(), equalTo(3));
      assertThat(
          ((GenericRecord) topK.get(0)).get("label").toString(),
          equalTo(p.get("label").toString()));
    }
    assertThat(correct / (double) IMAGES, greaterThan(0.7));
    assertThat(JobOutputs.read(out).summary.get("nothing_lost").asBoolean(), is(true));
  }

  @Test
  public void aTruncatedParquetFileIsAReadFailureNotALoss() throws Exception {
    Path dir = TMP.newFolder("truncated").toPath();
    Files.copy(images, dir.resolve("good.parquet"));
    byte[] whole = Files.readAllBytes(images);
    Files.write(dir.resolve("cut.parquet"), Arrays.copyOf(whole, whole.length / 2));
    Path out = TMP.newFolder("truncated-out").toPath();
    BatchInference.build(pipeline, options(dir.resolve("*.parquet").toString(), out));
    pipeline.run().waitUntilFinish();

    assertThat(readAll(out, "predictions-*.parquet").size(), equalTo(IMAGES));
    List<GenericRecord> failures = readAll(out, "failures-*.parquet");
    assertThat(failures.size(), equalTo(1));
    GenericRecord cut = failures.get(0);
    assertThat(cut.get("source").toString(), containsString("cut.parquet"));
    assertThat(cut.get("stage").toString(), equalTo("read"));
    assertThat(cut.get("error").toString(), containsString("not a Parquet file"));
    JobOutputs outputs = JobOutputs.read(out);
    assertThat(outputs.summary.get("records_read").asLong(), equalTo(IMAGES + 1L));
    assertThat(outputs.summary.get("nothing_lost").asBoolean(), is(true));
  }
}
