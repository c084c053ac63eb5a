/**
 * The inference step and the records that flow between every step of a job. {@link RunInference}
 * batches keyed examples and runs them through a model, isolating the records that make a batch
 * fail; {@link Prediction}, {@link Failure} (with its {@link Stage}), {@link RecordMeta} and {@link
 * BatchStats} are what the steps pass on, each with its own coder. A change to how batches are
 * formed or run, or to what a prediction or failure record holds, goes here; reading,
 * preprocessing, models and sinks have packages of their own.
 */
package dev.batchinference.transforms;
