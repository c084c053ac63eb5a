/**
 * Shared test fixtures of the transforms tests, built on real data and models. {@link TestModels}
 * gives the Fashion-MNIST classifier (trained on first use) and all-MiniLM-L6-v2; {@link
 * FashionMnist}, {@link Fortunes} and {@link BreastCancer} load the Debian data sets and write them
 * as input files; {@link Fuzz} runs bounded random tests with reproducible seeds; {@link
 * DisplayItems} matches display data. A helper that more than one test class needs goes here; the
 * pipelines tests reuse it through the test jar.
 */
package dev.batchinference.transforms.testing;
