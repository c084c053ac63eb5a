/**
 * The run summary and what is read from it: {@link
 * dev.batchinference.pipelines.summary.WriteRunSummary} merges the run's statistics, checks that
 * nothing was lost and writes {@code summary.json}; {@link
 * dev.batchinference.pipelines.summary.RunComparison} compares it with the previous run (drift);
 * {@link dev.batchinference.pipelines.summary.RunReport} renders {@code report.html}; {@link
 * dev.batchinference.pipelines.summary.RunStatus} turns a summary into an {@link
 * dev.batchinference.pipelines.summary.ExitStatus}. A new figure in the summary goes here.
 */
package dev.batchinference.pipelines.summary;
