package dev.batchinference.transforms.postprocess;

import static org.apache.beam.vendor.guava.v32_1_2_jre.com.google.common.base.Preconditions.checkArgument;

import dev.batchinference.transforms.Prediction;
import dev.batchinference.transforms.model.ModelSignature;
import dev.batchinference.transforms.preprocess.TextTokenizer;
import dev.batchinference.transforms.tensor.Tensor;
import dev.batchinference.transforms.tensor.TensorExample;
import dev.batchinference.transforms.tensor.TensorSpec;

/**
 * A sentence embedding from a token-level output ({@code last_hidden_state}, {@code [tokens, dims]}
 * per record): the mean over the tokens that the record's attention mask keeps, optionally
 * L2-normalised. An output that is already pooled ({@code [dims]} per record) is taken as it is.
 */
public final class MeanPooledEmbedding implements Postprocessor<TensorExample, TensorExample> {

  public static final String DEFAULT_OUTPUT = "last_hidden_state";

  private final String output;
  private final boolean normalize;

  private MeanPooledEmbedding(String output, boolean normalize) {
    this.output = output;
    this.normalize = normalize;
  }

  /** Pools {@value #DEFAULT_OUTPUT} and L2-normalises. */
  public static MeanPooledEmbedding of() {
    return new MeanPooledEmbedding(DEFAULT_OUTPUT, true);
  }

  public MeanPooledEmbedding withOutput(String output) {
    checkArgument(output != null && !output.isEmpty(), "output must not be empty");
    return new MeanPooledEmbedding(output, normalize);
  }

  /** L2-normalise the embedding (default true), as sentence-transformers does for these models. */
  public MeanPooledEmbedding withNormalize(boolean normalize) {
    return new MeanPooledEmbedding(output, normalize);
  }

  public String output() {
    return output;
  }

  @Override
  public void fill(TensorExample example, TensorExample outputs, Prediction.Builder prediction) {
    Tensor hidden = outputs.get(output);
    float[] values = hidden.floats();
    float[] embedding;
    if (hidden.rank() == 1) {
      embedding = values.clone();
    } else {
      int tokens = (int) hidden.dim(0);
      int dims = (int) hidden.dim(1);
      long[] mask = example.get(TextTokenizer.ATTENTION_MASK).longs();
      embedding = new float[dims];
      int kept = 0;
      // The output has the batch's padded length; the record's own mask covers its real tokens.
      for (int t = 0; t < Math.min(tokens, mask.length); t++) {
        if (mask[t] == 0) {
          continue;
        }
        kept++;
        int base = t * dims;
        for (int d = 0; d < dims; d++) {
          embedding[d] += values[base + d];
        }
      }
      if (kept == 0) {
        throw new IllegalStateException("attention mask keeps no token");
      }
      for (int d = 0; d < dims; d++) {
        embedding[d] /= kept;
      }
    }
    if (normalize) {
      double norm = 0;
      for (float v : embedding) {
        norm += v * v;
      }
      norm = Math.sqrt(norm);
      if (norm > 0) {
        for (int d = 0; d < embedding.length; d++) {
          embedding[d] = (float) (embedding[d] / norm);
        }
      }
    }
    for (float v : embedding) {
      if (!Float.isFinite(v)) {
        throw new IllegalStateException("embedding has a non-finite value " + v);
      }
    }
    prediction.embedding(embedding);
  }

  @Override
  public void check(ModelSignature signature) {
    TensorSpec spec = signature.outputs().get(output);
    if (spec == null) {
      throw new IllegalArgumentException(
          "Model "
              + signature.identity().name()
              + " has no output '"
              + output
              + "'; its outputs are "
              + signature.outputs().keySet()
              + ". Choose one with --embeddingOutput.");
    }
    if (spec.dtype() != Tensor.DType.FLOAT || (spec.rank() != 3 && spec.rank() != 2)) {
      throw new IllegalArgumentException(
          "Model output '"
              + output
              + "' is "
              + spec
              + "; an embedding needs float [batch, tokens, dims] or [batch, dims]");
    }
  }
}
