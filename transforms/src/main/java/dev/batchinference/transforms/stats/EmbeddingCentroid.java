package dev.batchinference.transforms.stats;

import java.io.Serializable;
import java.util.Arrays;

/**
 * The running sum of a run's embeddings, so that its mean (the centroid) can be compared with
 * another run's: unit-length embeddings all have norm 1, but their centroid moves when the inputs
 * do. Mergeable; embeddings of a different dimension than the first one seen are counted apart and
 * left out of the sum.
 */
public final class EmbeddingCentroid implements Serializable {

  private double[] sum;
  private long count;
  private long mismatched;

  public void add(float[] embedding) {
    if (sum == null) {
      sum = new double[embedding.length];
    }
    if (embedding.length != sum.length) {
      mismatched++;
      return;
    }
    for (int i = 0; i < embedding.length; i++) {
      sum[i] += embedding[i];
    }
    count++;
  }

  public void merge(EmbeddingCentroid other) {
    mismatched += other.mismatched;
    if (other.sum == null) {
      return;
    }
    if (sum == null) {
      sum = other.sum.clone();
      count = other.count;
    } else if (sum.length == other.sum.length) {
      for (int i = 0; i < sum.length; i++) {
        sum[i] += other.sum[i];
      }
      count += other.count;
    } else {
      mismatched += other.count;
    }
  }

  /** Embeddings summed. */
  public long count() {
    return count;
  }

  /** Embeddings left out because their dimension differed from the first one's. */
  public long mismatched() {
    return mismatched;
  }

  /** The mean embedding; empty when none was added. */
  public double[] mean() {
    if (sum == null || count == 0) {
      return new double[0];
    }
    double[] mean = new double[sum.length];
    for (int i = 0; i < sum.length; i++) {
      mean[i] = sum[i] / count;
    }
    return mean;
  }

  /**
   * 1 - cosine similarity of two vectors (0 when they point the same way, up to 2); NaN when their
   * dimensions differ or one is zero.
   */
  public static double cosineDistance(double[] a, double[] b) {
    if (a.length != b.length || a.length == 0) {
      return Double.NaN;
    }
    double dot = 0;
    double na = 0;
    double nb = 0;
    for (int i = 0; i < a.length; i++) {
      dot += a[i] * b[i];
      na += a[i] * a[i];
      nb += b[i] * b[i];
    }
    if (na == 0 || nb == 0) {
      return Double.NaN;
    }
    return 1 - dot / Math.sqrt(na * nb);
  }

  @Override
  public boolean equals(Object o) {
    if (!(o instanceof EmbeddingCentroid)) {
      return false;
    }
    EmbeddingCentroid c = (EmbeddingCentroid) o;
    return count == c.count && mismatched == c.mismatched && Arrays.equals(sum, c.sum);
  }

  @Override
  public int hashCode() {
    return Long.hashCode(count);
  }
}
