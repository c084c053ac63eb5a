/**
 * The figures a run reports about itself and the statistics to compare runs. {@link RunStats}
 * accumulates a run's counts, latencies and prediction distribution from mergeable parts ({@link
 * Moments}, {@link ScoreHistogram}, {@link EmbeddingCentroid}, {@link FailureExamples}); {@link
 * PopulationStability} measures how far a distribution moved between two runs. A new figure in the
 * run summary, or a new drift statistic, starts here; how the summary is written and compared lives
 * in the pipelines module.
 */
package dev.batchinference.transforms.stats;
