/**
 * ONNX Runtime models. {@link OnnxModelHandler} is the public entry point (model URI, name,
 * expected hash, outputs, {@link SessionConfig}); behind it {@code OnnxModel} holds the open
 * session (load, check, run, close), {@code BatchStacker} turns a batch of examples into input
 * tensors, zero-padding dynamic dimensions, and splits the outputs back per example, and {@code
 * InputBuffers} keeps each thread's reusable direct buffers. A change to session options or
 * execution providers goes to {@code SessionConfig}, to padding or tensor copying to {@code
 * BatchStacker}, and to how the model is opened and checked to {@code OnnxModel}.
 */
package dev.batchinference.transforms.onnx;
