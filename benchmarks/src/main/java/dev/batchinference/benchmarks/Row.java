package dev.batchinference.benchmarks;

/** One line of the results table. */
final class Row {
  final String workload;
  final String mode;
  final long records;
  final double seconds;
  final double cpuSeconds;
  final double peakHeapMiB;
  double peakRssMiB;
  boolean rssReset;
  final double load;

  /** Records/s from summary.json (pipeline rows); NaN otherwise. */
  double summaryRate = Double.NaN;

  /** Records/s of the raw session.run loop this row is compared with; NaN: none. */
  double rawRate = Double.NaN;

  final String notes;

  Row(String workload, String mode, long records, Measurement m, String notes) {
    this.workload = workload;
    this.mode = mode;
    this.records = records;
    this.seconds = m.seconds();
    this.cpuSeconds = m.cpuSeconds();
    this.peakHeapMiB = m.peakHeapMiB();
    this.peakRssMiB = m.peakRssMiB();
    this.rssReset = m.rssWasReset();
    this.load = m.loadAtEnd();
    this.notes = notes;
  }

  /** A row read back from a saved report (only what the chart draws). */
  Row(String workload, String mode, long records, double seconds, String notes) {
    this.workload = workload;
    this.mode = mode;
    this.records = records;
    this.seconds = seconds;
    this.cpuSeconds = Double.NaN;
    this.peakHeapMiB = Double.NaN;
    this.peakRssMiB = Double.NaN;
    this.rssReset = false;
    this.load = Double.NaN;
    this.notes = notes;
  }

  double rate() {
    return records / Math.max(1e-9, seconds);
  }

  /** Whether the row was measured in a child process (heap and CPU figures are not its own). */
  boolean child;

  /** Marks the row as a child process's, whose peak RSS was {@code mib}. */
  Row inChildProcess(double mib) {
    this.peakRssMiB = mib;
    this.rssReset = true;
    this.child = true;
    return this;
  }

  Row withSummaryRate(double rate) {
    this.summaryRate = rate;
    return this;
  }
}
