/**
 * The job's options, composed from one small interface per concern into {@link
 * dev.batchinference.pipelines.options.BatchInferenceOptions}, and the few types every package
 * shares about them: {@link dev.batchinference.pipelines.options.InvalidJobException} (options that
 * can never work) and {@link dev.batchinference.pipelines.options.RunnerKind} (which runner this
 * is), and {@link dev.batchinference.pipelines.options.TemplateParameter}, which declares how the
 * Flex Template exposes each option. A new option goes into the interface of its concern; only the
 * plan reads it.
 */
package dev.batchinference.pipelines.options;
