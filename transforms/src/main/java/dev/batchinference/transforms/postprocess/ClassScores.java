package dev.batchinference.transforms.postprocess;

import static org.apache.beam.vendor.guava.v32_1_2_jre.com.google.common.base.Preconditions.checkArgument;

import dev.batchinference.transforms.Prediction;
import dev.batchinference.transforms.model.ModelSignature;
import dev.batchinference.transforms.tensor.Tensor;
import dev.batchinference.transforms.tensor.TensorExample;
import dev.batchinference.transforms.tensor.TensorSpec;
import java.util.List;
import org.checkerframework.checker.nullness.qual.Nullable;

/**
 * A label, its score and the top-k classes from a class-score output ({@code [classes]} per
 * record). Scores are turned into probabilities with a softmax when {@link Activation#SOFTMAX} is
 * asked for, or under {@link Activation#AUTO} (the default) when they are not already a probability
 * distribution. Class names come from a labels list; without one, classes are named by their index.
 */
public final class ClassScores implements Postprocessor<TensorExample, TensorExample> {

  /** How raw scores become probabilities. */
  public enum Activation {
    /** Softmax unless the scores already are probabilities (in [0,1], summing to 1). */
    AUTO,
    SOFTMAX,
    NONE
  }

  private final @Nullable String output;
  private final @Nullable List<String> labels;
  private final int topK;
  private final Activation activation;

  private ClassScores(
      @Nullable String output, @Nullable List<String> labels, int topK, Activation activation) {
    this.output = output;
    this.labels = labels;
    this.topK = topK;
    this.activation = activation;
  }

  /** Scores from the model's first output, top 3, automatic activation. */
  public static ClassScores of() {
    return new ClassScores(null, null, 3, Activation.AUTO);
  }

  public ClassScores withOutput(String output) {
    checkArgument(output != null && !output.isEmpty(), "output must not be empty");
    return new ClassScores(output, labels, topK, activation);
  }

  /** Class names, in the order of the output's columns. */
  public ClassScores withLabels(List<String> labels) {
    checkArgument(!labels.isEmpty(), "labels must not be empty");
    return new ClassScores(output, List.copyOf(labels), topK, activation);
  }

  /** How many of the best classes each prediction lists (0 for none). Default 3. */
  public ClassScores withTopK(int topK) {
    checkArgument(topK >= 0, "topK must be >= 0, got %s", topK);
    return new ClassScores(output, labels, topK, activation);
  }

  public ClassScores withActivation(Activation activation) {
    return new ClassScores(output, labels, topK, activation);
  }

  @Override
  public void fill(TensorExample example, TensorExample outputs, Prediction.Builder prediction) {
    Tensor scores =
        output == null ? outputs.asMap().values().iterator().next() : outputs.get(output);
    int n = scores.size();
    if (scores.rank() > 1 && scores.size() != scores.dim(scores.rank() - 1)) {
      throw new IllegalStateException("class scores must be one row per record, got " + scores);
    }
    double[] p = new double[n];
    for (int i = 0; i < n; i++) {
      p[i] = scores.getAsDouble(i);
      if (!Double.isFinite(p[i])) {
        throw new IllegalStateException("class score " + i + " is " + p[i]);
      }
    }
    if (activation == Activation.SOFTMAX || (activation == Activation.AUTO && !isDistribution(p))) {
      softmax(p);
    }
    Integer[] order = new Integer[n];
    for (int i = 0; i < n; i++) {
      order[i] = i;
    }
    java.util.Arrays.sort(order, (a, b) -> Double.compare(p[b], p[a]));
    int best = order[0];
    prediction.label(name(best), best, (float) p[best]);
    int k = Math.min(topK, n);
    if (k > 0) {
      String[] topLabels = new String[k];
      float[] topScores = new float[k];
      for (int i = 0; i < k; i++) {
        topLabels[i] = name(order[i]);
        topScores[i] = (float) p[order[i]];
      }
      prediction.topK(topLabels, topScores);
    }
  }

  private String name(int index) {
    return labels != null && index < labels.size() ? labels.get(index) : Integer.toString(index);
  }

  static boolean isDistribution(double[] p) {
    double sum = 0;
    for (double v : p) {
      if (v < 0 || v > 1) {
        return false;
      }
      sum += v;
    }
    return Math.abs(sum - 1) < 1e-3;
  }

  static void softmax(double[] p) {
    double max = Double.NEGATIVE_INFINITY;
    for (double v : p) {
      max = Math.max(max, v);
    }
    double sum = 0;
    for (int i = 0; i < p.length; i++) {
      p[i] = Math.exp(p[i] - max);
      sum += p[i];
    }
    for (int i = 0; i < p.length; i++) {
      p[i] /= sum;
    }
  }

  @Override
  public void check(ModelSignature signature) {
    String name = output == null ? signature.outputs().keySet().iterator().next() : output;
    TensorSpec spec = signature.outputs().get(name);
    if (spec == null) {
      throw new IllegalArgumentException(
          "Model "
              + signature.identity().name()
              + " has no output '"
              + name
              + "'; its outputs are "
              + signature.outputs().keySet());
    }
    if (spec.rank() != 2) {
      throw new IllegalArgumentException(
          "Model output '" + name + "' is " + spec + "; class scores need [batch, classes]");
    }
    long classes = spec.shape()[1];
    if (labels != null && classes > 0 && classes != labels.size()) {
      throw new IllegalArgumentException(
          "The labels list has "
              + labels.size()
              + " names but model output '"
              + name
              + "' has "
              + classes
              + " classes. Check --classLabels.");
    }
  }
}
