/**
 * The programs a user runs: {@link dev.batchinference.pipelines.cli.CommandLine} (the job with
 * progress, one result line and an exit status), {@link
 * dev.batchinference.pipelines.cli.NewRecords} (the new-records trigger of scheduled runs) and
 * {@link dev.batchinference.pipelines.cli.TuneBatchSize} (the batch-size tuner, which needs only
 * the model part of a plan). What the console says goes here; what the job does does not.
 */
package dev.batchinference.pipelines.cli;
