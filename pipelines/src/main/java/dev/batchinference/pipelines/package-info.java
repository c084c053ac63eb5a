/**
 * The batch inference job and its plan. {@link dev.batchinference.pipelines.JobPlan#from} reads the
 * options once, checks them ({@link dev.batchinference.pipelines.JobChecks}) and decides the job:
 * its {@link dev.batchinference.pipelines.Source}, its {@link
 * dev.batchinference.pipelines.ModelPlan} (the model and the task's pre- and postprocessing, one
 * {@link dev.batchinference.pipelines.TaskSpec} per task), its {@link
 * dev.batchinference.pipelines.Batching} and its sinks. {@link
 * dev.batchinference.pipelines.BatchInference#build} turns a plan into steps. A new source or task
 * goes here; incremental runs ({@link dev.batchinference.pipelines.SkipPredicted}) and the output
 * lock live here too.
 */
package dev.batchinference.pipelines;
