/**
 * Sources and sinks: getting records in and results out. {@link ReadRecords} reads JSON Lines, CSV
 * and Parquet files into {@link RawRecord}s with stable positions (and {@link UnreadableFile}s for
 * files cut short), {@link ReadBigQuery} reads a table or query; {@link JsonLines}, {@link
 * PredictionRows} and {@link FailureRows} render results, which {@link WriteParquet} and {@link
 * WritePostgres} write. A new input format, a new sink, or a change to an output's columns goes
 * here; which source or sink a job uses is decided in the pipelines module.
 */
package dev.batchinference.transforms.io;
