package dev.batchinference.transforms.testing;

import dev.batchinference.transforms.RecordMeta;
import dev.batchinference.transforms.tensor.Tensor;
import dev.batchinference.transforms.tensor.TensorExample;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.UUID;
import org.apache.beam.sdk.values.KV;

/**
 * The models that the transforms tests run: the Fashion-MNIST classifier (trained once, cached
 * under {@code target/test-models}) and the quantised all-MiniLM-L6-v2 that Maven puts on the test
 * classpath.
 */
public final class TestModels {

  /**
   * The all-MiniLM-L6-v2 int8 model: input_ids, attention_mask, token_type_ids to
   * last_hidden_state.
   */
  public static final String MINILM = "classpath:all-minilm-l6-v2-q.onnx";

  /** The tokenizer of {@link #MINILM}. */
  public static final String MINILM_TOKENIZER = "classpath:all-minilm-l6-v2-q-tokenizer.json";

  /** Input and output names of the classifier. */
  public static final String CLASSIFIER_INPUT = "input";

  public static final String CLASSIFIER_OUTPUT = "output";

  /** Training images: enough for about 80% test accuracy, trained in seconds. */
  public static final int TRAINING_IMAGES = 2000;

  private static final Path DIR = Path.of("target", "test-models");

  private TestModels() {}

  /** The classifier's file, trained on first use. */
  public static Path classifier() {
    return FashionMnist.trainedClassifier(DIR, TRAINING_IMAGES).toAbsolutePath();
  }

  /**
   * A copy of the classifier under a fresh name in {@code dir}: a model URI that no other test has
   * loaded, so that per-JVM cache counts start from zero.
   */
  public static Path classifierCopy(Path dir) {
    try {
      Path copy = dir.resolve("classifier-" + UUID.randomUUID() + ".onnx");
      return Files.copy(classifier(), copy);
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  /** One image as the classifier's example. */
  public static TensorExample image(float[] pixels) {
    return TensorExample.of(CLASSIFIER_INPUT, Tensor.vector(pixels));
  }

  /** Images {@code 0..n-1} of {@code data} as keyed examples with ids {@code img-<i>}. */
  public static List<KV<RecordMeta, TensorExample>> keyedImages(FashionMnist.Dataset data, int n) {
    List<KV<RecordMeta, TensorExample>> records = new ArrayList<>(n);
    for (int i = 0; i < n; i++) {
      records.add(KV.of(RecordMeta.of("img-" + i, "images", i, null), image(data.images()[i])));
    }
    return records;
  }
}
