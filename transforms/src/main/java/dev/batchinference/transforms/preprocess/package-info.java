/**
 * Turning parsed records into model inputs. {@link Preprocess} parses each raw record, takes its id
 * and carried fields, and applies a {@link Preprocessor}: {@link TextTokenizer} for text models,
 * {@link FeatureVector} for numeric vectors and images, {@link RawTensors} for inputs given as
 * nested arrays. A record that cannot become an example throws {@link InvalidRecordException} and
 * becomes a failure. A new kind of input, or a change to tokenization, id or carried-field
 * handling, goes here.
 */
package dev.batchinference.transforms.preprocess;
