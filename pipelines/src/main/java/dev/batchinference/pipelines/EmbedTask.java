package dev.batchinference.pipelines;

import dev.batchinference.pipelines.options.InvalidJobException;
import dev.batchinference.pipelines.options.ModelOptions.Task;
import dev.batchinference.pipelines.options.TextOptions;
import dev.batchinference.transforms.io.PredictionRows;
import dev.batchinference.transforms.model.LoadedModel;
import dev.batchinference.transforms.model.ModelFiles;
import dev.batchinference.transforms.model.ModelSignature;
import dev.batchinference.transforms.model.SharedResources;
import dev.batchinference.transforms.onnx.OnnxModelHandler;
import dev.batchinference.transforms.postprocess.MeanPooledEmbedding;
import dev.batchinference.transforms.postprocess.Postprocessor;
import dev.batchinference.transforms.postprocess.ZeroShotLabels;
import dev.batchinference.transforms.preprocess.Preprocessor;
import dev.batchinference.transforms.preprocess.TextTokenizer;
import dev.batchinference.transforms.tensor.TensorExample;
import java.io.IOException;
import java.util.EnumSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/**
 * {@code --task=EMBED}: texts through a Hugging Face tokenizer, mean-pooled (and normalised)
 * embeddings out; with {@code --zeroShotLabels}, also the labels whose embedded descriptions are
 * nearest. Texts are batched by token count.
 */
final class EmbedTask extends TaskSpec {

  /**
   * Token-count buckets for texts, about 1.5 apart. With the token budget below they took the
   * inference step on 2,000 fortunes (MiniLM int8, batch 32, DirectRunner) from 84 records/s
   * (padded to each batch's longest) and 227 (buckets 32/64/128) to 282; see the README's
   * performance section.
   */
  static final List<Long> DEFAULT_LENGTH_BUCKETS =
      List.of(16L, 24L, 32L, 48L, 64L, 96L, 128L, 192L);

  /** Tokens per record of a full batch that the default token budget allows. */
  static final long DEFAULT_TOKENS_PER_RECORD = 32;

  private final String tokenizer;
  private final String textField;
  private final int maxSequenceLength;
  private final boolean truncate;
  private final boolean normalize;
  private final String embeddingOutput;
  private final String zeroShotLabels;
  private final int topK;

  /**
   * @param options the text options
   * @param topK how many zero-shot labels a prediction lists
   */
  EmbedTask(TextOptions options, int topK) {
    this.tokenizer = options.getTokenizer();
    this.textField = options.getTextField();
    this.maxSequenceLength = options.getMaxSequenceLength();
    this.truncate = options.getTruncate();
    this.normalize = options.getNormalize();
    this.embeddingOutput = options.getEmbeddingOutput();
    this.zeroShotLabels = options.getZeroShotLabels();
    this.topK = topK;
  }

  @Override
  Task task() {
    return Task.EMBED;
  }

  @Override
  List<String> modelOutputs(List<String> configured) {
    return configured.isEmpty() ? List.of(embeddingOutput) : configured;
  }

  @Override
  Preprocessor<TensorExample> preprocessor(ModelSignature signature, Map<String, String> pinned)
      throws Exception {
    TextTokenizer text =
        TextTokenizer.of(tokenizer)
            .withTextField(textField)
            .withMaxLength(maxSequenceLength)
            .withTruncation(truncate);
    try {
      // Pinned like the model: workers refuse a tokenizer replaced after this check.
      String sha256 = ModelFiles.currentSha256(tokenizer);
      pinned.put("tokenizer", sha256);
      text = text.withExpectedSha256(sha256);
      text.checkLoads();
    } catch (IOException e) {
      throw new InvalidJobException(
          "Cannot load the tokenizer at "
              + tokenizer
              + ": "
              + e.getMessage()
              + ". Check --tokenizer (a Hugging Face tokenizer.json).",
          e);
    } catch (Exception e) {
      throw new InvalidJobException(e.getMessage(), e);
    }
    return text;
  }

  @Override
  Postprocessor<TensorExample, TensorExample> postprocessor(
      ModelSignature signature,
      OnnxModelHandler handler,
      Preprocessor<TensorExample> preprocessor,
      Map<String, String> pinned)
      throws Exception {
    MeanPooledEmbedding embedding =
        MeanPooledEmbedding.of().withOutput(embeddingOutput).withNormalize(normalize);
    if (!JobChecks.notEmpty(zeroShotLabels)) {
      return embedding;
    }
    // Checked before ModelPlan checks it: the labels are embedded with it right away.
    embedding.check(signature);
    return zeroShot(handler, preprocessor, embedding, pinned);
  }

  /** Embeds the zero-shot label descriptions with the job's own tokenizer and model, once. */
  private ZeroShotLabels zeroShot(
      OnnxModelHandler handler,
      Preprocessor<TensorExample> tokenizer,
      MeanPooledEmbedding embedding,
      Map<String, String> pinned)
      throws Exception {
    Map<String, String> descriptions = new LinkedHashMap<>();
    for (String line :
        JobChecks.readLines(zeroShotLabels, "--zeroShotLabels", pinned, "zero_shot_labels")) {
      int colon = line.indexOf(':');
      String label = (colon < 0 ? line : line.substring(0, colon)).strip();
      String description = colon < 0 ? label : line.substring(colon + 1).strip();
      if (label.isEmpty() || description.isEmpty()) {
        throw new InvalidJobException(
            "--zeroShotLabels: the line '" + line + "' has no label or no description.");
      }
      if (descriptions.put(label, description) != null) {
        throw new InvalidJobException("--zeroShotLabels lists the label '" + label + "' twice.");
      }
    }
    if (descriptions.size() < 2) {
      throw new InvalidJobException("--zeroShotLabels needs at least two labels.");
    }
    try (SharedResources.Lease<LoadedModel<TensorExample, TensorExample>> model =
        SharedResources.acquire(handler.cacheKey(), handler::load)) {
      return ZeroShotLabels.embedLabels(
          descriptions, textField, tokenizer, model.get(), embedding, topK);
    }
  }

  @Override
  EnumSet<PredictionRows.Content> content() {
    return JobChecks.notEmpty(zeroShotLabels)
        ? EnumSet.of(PredictionRows.Content.EMBEDDING, PredictionRows.Content.CLASS)
        : EnumSet.of(PredictionRows.Content.EMBEDDING);
  }

  @Override
  Map<String, String> settings(Map<String, String> pinned) {
    Map<String, String> s = new TreeMap<>();
    s.put("tokenizer_sha256", pinned.get("tokenizer"));
    s.put("textField", textField);
    s.put("maxSequenceLength", Integer.toString(maxSequenceLength));
    s.put("truncate", Boolean.toString(truncate));
    s.put("normalize", Boolean.toString(normalize));
    s.put("embeddingOutput", embeddingOutput);
    if (JobChecks.notEmpty(zeroShotLabels)) {
      s.put("zeroShotLabels_sha256", pinned.get("zero_shot_labels"));
      s.put("topK", Integer.toString(topK));
    }
    return s;
  }

  /**
   * A token budget of {@value #DEFAULT_TOKENS_PER_RECORD} tokens per record of a full batch, never
   * below the longest text a record may have (which would fail it).
   */
  @Override
  long defaultMaxBatchWeight(int batchSize) {
    return Math.max(DEFAULT_TOKENS_PER_RECORD * batchSize, maxSequenceLength);
  }

  @Override
  List<Long> defaultWeightBuckets() {
    return DEFAULT_LENGTH_BUCKETS;
  }
}
