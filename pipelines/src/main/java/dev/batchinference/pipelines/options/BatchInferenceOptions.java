package dev.batchinference.pipelines.options;

import org.apache.beam.sdk.options.PipelineOptions;

/**
 * Options of the batch inference job. The defaults embed the sample corpus that ships with the
 * project with all-MiniLM-L6-v2 (int8) on the DirectRunner.
 *
 * <p>Composed of one interface per concern, so that {@code --help} lists the options in groups and
 * a component can take only its own slice ({@code options.as(BatchingOptions.class)}). The enums
 * {@link Task}, {@link OutputFormat} and {@link TableWriteMethod} live in the interface they belong
 * to and are inherited here.
 */
public interface BatchInferenceOptions
    extends InputOptions,
        OutputOptions,
        BigQueryIoOptions,
        PostgresOptions,
        ModelOptions,
        TextOptions,
        ClassifierOptions,
        BatchingOptions,
        OnnxRuntimeOptions,
        DriftOptions,
        RunOptions,
        PipelineOptions {}
