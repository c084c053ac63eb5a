package dev.batchinference.transforms.stats;

import java.io.Serializable;

/** Count, mean, standard deviation, minimum and maximum of a stream of values; mergeable. */
public final class Moments implements Serializable {

  private long count;
  private double sum;
  private double sumOfSquares;
  private double min = Double.POSITIVE_INFINITY;
  private double max = Double.NEGATIVE_INFINITY;

  public void add(double value) {
    count++;
    sum += value;
    sumOfSquares += value * value;
    min = Math.min(min, value);
    max = Math.max(max, value);
  }

  public void merge(Moments other) {
    count += other.count;
    sum += other.sum;
    sumOfSquares += other.sumOfSquares;
    min = Math.min(min, other.min);
    max = Math.max(max, other.max);
  }

  public long count() {
    return count;
  }

  public double mean() {
    return count == 0 ? Double.NaN : sum / count;
  }

  /** Population standard deviation. */
  public double std() {
    if (count == 0) {
      return Double.NaN;
    }
    double mean = mean();
    return Math.sqrt(Math.max(0, sumOfSquares / count - mean * mean));
  }

  public double min() {
    return count == 0 ? Double.NaN : min;
  }

  public double max() {
    return count == 0 ? Double.NaN : max;
  }

  @Override
  public boolean equals(Object o) {
    if (!(o instanceof Moments)) {
      return false;
    }
    Moments m = (Moments) o;
    return count == m.count
        && Double.compare(sum, m.sum) == 0
        && Double.compare(sumOfSquares, m.sumOfSquares) == 0
        && Double.compare(min, m.min) == 0
        && Double.compare(max, m.max) == 0;
  }

  @Override
  public int hashCode() {
    return java.util.Objects.hash(count, sum, min, max);
  }
}
