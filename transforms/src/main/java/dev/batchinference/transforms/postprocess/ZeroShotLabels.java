package dev.batchinference.transforms.postprocess;

import static org.apache.beam.vendor.guava.v32_1_2_jre.com.google.common.base.Preconditions.checkArgument;

import com.fasterxml.jackson.databind.ObjectMapper;
import dev.batchinference.transforms.Prediction;
import dev.batchinference.transforms.RecordMeta;
import dev.batchinference.transforms.model.LoadedModel;
import dev.batchinference.transforms.model.ModelIdentity;
import dev.batchinference.transforms.model.ModelSignature;
import dev.batchinference.transforms.preprocess.Preprocessor;
import dev.batchinference.transforms.tensor.TensorExample;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;

/**
 * Labels texts without a classifier: the text's embedding (as {@link MeanPooledEmbedding} makes it)
 * is compared by cosine with the embedding of each label's description, and the prediction gets the
 * embedding, the best label with its cosine as score, and the {@code topK} best.
 *
 * <p>The label embeddings are computed once, when the job is built ({@link #embedLabels}), with the
 * job's own tokenizer and model, and travel with the job: workers do not embed them again.
 */
public final class ZeroShotLabels implements Postprocessor<TensorExample, TensorExample> {

  private final MeanPooledEmbedding embedding;
  private final String[] labels;
  private final float[][] labelVectors;
  private final int topK;

  private ZeroShotLabels(
      MeanPooledEmbedding embedding, String[] labels, float[][] labelVectors, int topK) {
    this.embedding = embedding;
    this.labels = labels;
    this.labelVectors = labelVectors;
    this.topK = topK;
  }

  /**
   * Embeds each label's description with {@code model} (tokenized by {@code tokenizer}, which reads
   * the text field {@code textField}) in one batch, and returns a postprocessor that labels each
   * text with the closest labels.
   *
   * @param descriptions label → description, in the order labels are listed
   */
  public static ZeroShotLabels embedLabels(
      Map<String, String> descriptions,
      String textField,
      Preprocessor<TensorExample> tokenizer,
      LoadedModel<TensorExample, TensorExample> model,
      MeanPooledEmbedding embedding,
      int topK)
      throws Exception {
    checkArgument(descriptions.size() >= 2, "zero-shot labelling needs at least 2 labels");
    checkArgument(topK >= 1, "topK must be >= 1");
    List<TensorExample> examples = new ArrayList<>();
    ObjectMapper json = new ObjectMapper();
    tokenizer.setup();
    try {
      for (String description : descriptions.values()) {
        examples.add(tokenizer.apply(json.createObjectNode().put(textField, description)));
      }
    } finally {
      tokenizer.teardown();
    }
    List<TensorExample> outputs = new ArrayList<>();
    // One description per run, so that no label's embedding depends on the others (int8 models
    // quantize activations per batch).
    for (TensorExample example : examples) {
      outputs.addAll(model.run(List.of(example)));
    }
    MeanPooledEmbedding normalized = embedding.withNormalize(true);
    float[][] vectors = new float[examples.size()][];
    RecordMeta meta = RecordMeta.of("label", "labels", 0, null);
    ModelIdentity identity = model.identity();
    for (int i = 0; i < vectors.length; i++) {
      Prediction.Builder b = Prediction.builder(meta, identity);
      normalized.fill(examples.get(i), outputs.get(i), b);
      vectors[i] = b.build().embedding();
    }
    return new ZeroShotLabels(
        embedding,
        descriptions.keySet().toArray(new String[0]),
        vectors,
        Math.min(topK, vectors.length));
  }

  public List<String> labels() {
    return Arrays.asList(labels);
  }

  @Override
  public void fill(TensorExample example, TensorExample output, Prediction.Builder prediction) {
    embedding.fill(example, output, prediction);
    float[] text = prediction.build().embedding();
    double norm = 0;
    for (float v : text) {
      norm += v * v;
    }
    norm = Math.sqrt(norm);
    float[] cosines = new float[labels.length];
    for (int l = 0; l < labels.length; l++) {
      double dot = 0;
      for (int i = 0; i < text.length; i++) {
        dot += text[i] * labelVectors[l][i];
      }
      cosines[l] = norm == 0 ? 0f : (float) (dot / norm);
    }
    Integer[] order = new Integer[labels.length];
    for (int i = 0; i < order.length; i++) {
      order[i] = i;
    }
    Arrays.sort(order, (a, b) -> Float.compare(cosines[b], cosines[a]));
    String[] topLabels = new String[topK];
    float[] topScores = new float[topK];
    for (int k = 0; k < topK; k++) {
      topLabels[k] = labels[order[k]];
      topScores[k] = cosines[order[k]];
    }
    prediction.label(labels[order[0]], order[0], cosines[order[0]]).topK(topLabels, topScores);
  }

  @Override
  public void check(ModelSignature signature) {
    embedding.check(signature);
  }
}
