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
 *
 * <p>An output of one column ({@code [batch, 1]}) is a binary classifier's probability P of class
 * 1, the usual export of a sigmoid model: a sigmoid is applied first under {@link
 * Activation#SIGMOID}, or under {@link Activation#AUTO} when the value is outside [0, 1]; the label
 * is class 1 when P ≥ 0.5, else class 0; the score is max(P, 1 − P); top-k lists both classes. Such
 * a model takes exactly two labels.
 */
public final class ClassScores implements Postprocessor<TensorExample, TensorExample> {

  /** How raw scores become probabilities. */
  public enum Activation {
    /**
     * Softmax unless the scores already are probabilities (in [0,1], summing to 1); for one output
     * column, a sigmoid unless the value is already in [0, 1].
     */
    AUTO,
    SOFTMAX,
    /** A sigmoid on each score: for one output column, or independent per-class scores. */
    SIGMOID,
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
    boolean binary = n == 1;
    if (binary) {
      // One column is P(class 1) of a binary classifier: a softmax over it would always give
      // class 0 a score of 1.0. Expand it to the two classes' probabilities.
      double positive = p[0];
      if (activation == Activation.SIGMOID
          || (activation == Activation.AUTO && (positive < 0 || positive > 1))) {
        positive = 1 / (1 + Math.exp(-positive));
      }
      p = new double[] {1 - positive, positive};
      n = 2;
    } else if (activation == Activation.SIGMOID) {
      for (int i = 0; i < n; i++) {
        p[i] = 1 / (1 + Math.exp(-p[i]));
      }
    } else if (activation == Activation.SOFTMAX
        || (activation == Activation.AUTO && !isDistribution(p))) {
      softmax(p);
    }
    double[] probabilities = p;
    Integer[] order = new Integer[n];
    for (int i = 0; i < n; i++) {
      order[i] = i;
    }
    java.util.Arrays.sort(order, (a, b) -> Double.compare(probabilities[b], probabilities[a]));
    if (binary && probabilities[1] >= 0.5) {
      // P = 0.5 is class 1; the stable sort would have kept class 0 first.
      order[0] = 1;
      order[1] = 0;
    }
    int best = order[0];
    prediction.label(name(best), best, (float) probabilities[best]);
    int k = Math.min(topK, n);
    if (k > 0) {
      String[] topLabels = new String[k];
      float[] topScores = new float[k];
      for (int i = 0; i < k; i++) {
        topLabels[i] = name(order[i]);
        topScores[i] = (float) probabilities[order[i]];
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
    if (labels != null && classes == 1 && labels.size() != 2) {
      throw new IllegalArgumentException(
          "Model output '"
              + name
              + "' has one column, the probability of class 1 of a binary classifier, so the"
              + " labels list needs exactly 2 names (class 0, then class 1), but it has "
              + labels.size()
              + ". Check --classLabels.");
    }
    if (labels != null && classes > 1 && classes != labels.size()) {
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
