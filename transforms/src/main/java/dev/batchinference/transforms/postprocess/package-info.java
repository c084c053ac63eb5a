/**
 * Turning one record's model output into prediction fields, inside the inference step. {@link
 * Postprocessor} is the contract; {@link ClassScores} gives a label, score and top-k, {@link
 * MeanPooledEmbedding} a sentence embedding, {@link ZeroShotLabels} labels texts by cosine with
 * label descriptions, and {@link RawOutputs} keeps the tensors as they are. A new kind of
 * prediction, or a change to how scores or embeddings are derived, goes here.
 */
package dev.batchinference.transforms.postprocess;
