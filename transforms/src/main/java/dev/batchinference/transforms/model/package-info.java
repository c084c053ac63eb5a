/**
 * What every model runtime shares, independent of ONNX: the {@link ModelHandler} contract (load a
 * model, weigh an example), the {@link LoadedModel} it produces, the per-JVM reference-counted
 * {@link SharedResources} cache that shares it between threads, {@link ModelFiles} (reading,
 * hashing and caching model files from local, {@code gs://} and {@code classpath:} URIs), a model's
 * {@link ModelIdentity} and {@link ModelSignature}, and {@link MemoryBackoff}. A second model
 * runtime (a remote endpoint, say) implements these interfaces in a package of its own; a change to
 * how any model is loaded, shared or identified goes here.
 */
package dev.batchinference.transforms.model;
