/**
 * Where a job's results go. {@link dev.batchinference.pipelines.sinks.Sink} names each kind of
 * destination (JSON Lines, JSON Lines in input order, Parquet, BigQuery, PostgreSQL); {@link
 * dev.batchinference.pipelines.sinks.WritePredictions} and {@link
 * dev.batchinference.pipelines.sinks.WriteFailures} write to one and report what it accepted, which
 * the nothing-lost check counts; {@link dev.batchinference.pipelines.sinks.RemoveStaleOutputs}
 * clears a previous run's files. A new sink is a new {@code Sink} record and a branch here.
 */
package dev.batchinference.pipelines.sinks;
