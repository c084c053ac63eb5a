/**
 * The model-neutral tensor values that examples and outputs are made of. {@link Tensor} is one
 * example's dense array (element type, shape without the batch dimension, row-major values), {@link
 * TensorExample} a set of named tensors, {@link TensorExampleCoder} its compact coder, and {@link
 * TensorSpec} a model's declared type and shape. A new element type or a change to how tensors are
 * encoded between steps goes here.
 */
package dev.batchinference.transforms.tensor;
