/**
 * What a run says about itself once it finished: the run summary ({@link
 * dev.batchinference.pipelines.summary.RunSummary}, written as {@code summary.json} by {@link
 * dev.batchinference.pipelines.summary.WriteRunSummary}), its comparison with the previous run and
 * the drift metrics it measures ({@link dev.batchinference.pipelines.summary.RunComparison}, {@link
 * dev.batchinference.pipelines.summary.DriftMetric}), the failure gate, the exit status a summary
 * gives its run ({@link dev.batchinference.pipelines.summary.RunStatus}, {@link
 * dev.batchinference.pipelines.summary.ExitStatus}) and the HTML run report ({@link
 * dev.batchinference.pipelines.summary.RunReport} with its HTML helpers, SVG charts and {@code
 * report.css}). A change to what a run reports goes here.
 */
package dev.batchinference.pipelines.summary;
