package dev.batchinference.transforms.preprocess;

import static org.apache.beam.vendor.guava.v32_1_2_jre.com.google.common.base.Preconditions.checkArgument;

import ai.djl.huggingface.tokenizers.Encoding;
import ai.djl.huggingface.tokenizers.HuggingFaceTokenizer;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.batchinference.transforms.model.ModelFiles;
import dev.batchinference.transforms.model.ModelSignature;
import dev.batchinference.transforms.model.SharedResources;
import dev.batchinference.transforms.tensor.Tensor;
import dev.batchinference.transforms.tensor.TensorExample;
import dev.batchinference.transforms.tensor.TensorExampleCoder;
import dev.batchinference.transforms.tensor.TensorSpec;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.apache.beam.sdk.coders.Coder;
import org.checkerframework.checker.nullness.qual.Nullable;

/**
 * Tokenizes a text field with a Hugging Face {@code tokenizer.json} into {@code input_ids}, {@code
 * attention_mask} and {@code token_type_ids} (int64, one row per record, unpadded: batches are
 * padded to their longest record when they are run).
 *
 * <p>Sequences longer than {@link #withMaxLength maxLength} tokens are truncated, or fail when
 * {@link #withTruncation truncation} is off. Empty or blank texts and non-string fields fail. The
 * tokenizer is shared by every thread of a JVM.
 */
public final class TextTokenizer implements Preprocessor<TensorExample> {

  public static final String INPUT_IDS = "input_ids";
  public static final String ATTENTION_MASK = "attention_mask";
  public static final String TOKEN_TYPE_IDS = "token_type_ids";
  public static final int DEFAULT_MAX_LENGTH = 256;

  private final String tokenizerUri;
  private final String textField;
  private final int maxLength;
  private final boolean truncation;
  private final @Nullable String expectedSha256;

  private transient SharedResources.@Nullable Lease<Resource> lease;

  private TextTokenizer(
      String tokenizerUri,
      String textField,
      int maxLength,
      boolean truncation,
      @Nullable String expectedSha256) {
    this.tokenizerUri = tokenizerUri;
    this.textField = textField;
    this.maxLength = maxLength;
    this.truncation = truncation;
    this.expectedSha256 = expectedSha256;
  }

  /** Tokenizes field {@code text} with the {@code tokenizer.json} at {@code tokenizerUri}. */
  public static TextTokenizer of(String tokenizerUri) {
    checkArgument(tokenizerUri != null && !tokenizerUri.isEmpty(), "tokenizerUri must be set");
    return new TextTokenizer(tokenizerUri, "text", DEFAULT_MAX_LENGTH, true, null);
  }

  /** The record field that holds the text. Default {@code text}. */
  public TextTokenizer withTextField(String field) {
    checkArgument(field != null && !field.isEmpty(), "textField must not be empty");
    return new TextTokenizer(tokenizerUri, field, maxLength, truncation, expectedSha256);
  }

  /** Most tokens per sequence, special tokens included. Default {@value #DEFAULT_MAX_LENGTH}. */
  public TextTokenizer withMaxLength(int maxLength) {
    checkArgument(maxLength >= 2, "maxLength must be >= 2, got %s", maxLength);
    return new TextTokenizer(tokenizerUri, textField, maxLength, truncation, expectedSha256);
  }

  /** Truncate longer texts (true, the default) or fail them. */
  public TextTokenizer withTruncation(boolean truncation) {
    return new TextTokenizer(tokenizerUri, textField, maxLength, truncation, expectedSha256);
  }

  /**
   * Refuses a tokenizer file whose bytes do not hash to {@code sha256}: every worker then tokenizes
   * with the file the launcher checked, even if it is replaced while the job runs.
   */
  public TextTokenizer withExpectedSha256(String sha256) {
    checkArgument(sha256 != null && sha256.matches("[0-9a-f]{64}"), "not a SHA-256: %s", sha256);
    return new TextTokenizer(tokenizerUri, textField, maxLength, truncation, sha256);
  }

  public int maxLength() {
    return maxLength;
  }

  private String cacheKey() {
    return "tokenizer:" + tokenizerUri + "|" + maxLength + "|" + expectedSha256;
  }

  @Override
  public void setup() throws Exception {
    lease = SharedResources.acquire(cacheKey(), this::open);
  }

  /** Opens the tokenizer; also used before the job runs to check that it loads. */
  public void checkLoads() throws Exception {
    try (SharedResources.Lease<Resource> ignored =
        SharedResources.acquire(cacheKey(), this::open)) {
      // opening is the check
    }
  }

  private Resource open() throws Exception {
    try {
      TokenizerNativeLibrary.load();
      // The tokenizer.json of packaged models often fixes padding to a length; batches pad
      // themselves, so padding is turned off and truncation set explicitly.
      HuggingFaceTokenizer tokenizer =
          HuggingFaceTokenizer.builder()
              .optTokenizerPath(ModelFiles.localCopy(tokenizerUri, expectedSha256))
              .optPadding(false)
              .optTruncation(true)
              .optMaxLength(maxLength)
              .build();
      return new Resource(tokenizer);
    } catch (Exception e) {
      throw new IllegalArgumentException(
          "Cannot load the tokenizer at "
              + tokenizerUri
              + ": "
              + e.getMessage()
              + ". Check --tokenizer (a Hugging Face tokenizer.json).",
          e);
    }
  }

  @Override
  public TensorExample apply(ObjectNode record) throws InvalidRecordException {
    JsonNode node = record.get(textField);
    if (node == null || node.isNull()) {
      throw new InvalidRecordException("record has no '" + textField + "' field");
    }
    if (!node.isTextual()) {
      throw new InvalidRecordException(
          "field '"
              + textField
              + "' must be a string, got "
              + node.getNodeType().name().toLowerCase());
    }
    String text = node.textValue();
    if (text.isBlank()) {
      throw new InvalidRecordException("field '" + textField + "' is empty");
    }
    Encoding encoding = lease.get().tokenizer.encode(text);
    if (!truncation && encoding.exceedMaxLength()) {
      throw new InvalidRecordException(
          "text is longer than the limit of "
              + maxLength
              + " tokens (maxSequenceLength) and truncation is off");
    }
    Map<String, Tensor> tensors = new LinkedHashMap<>();
    tensors.put(INPUT_IDS, Tensor.vector(encoding.getIds()));
    tensors.put(ATTENTION_MASK, Tensor.vector(encoding.getAttentionMask()));
    tensors.put(TOKEN_TYPE_IDS, Tensor.vector(encoding.getTypeIds()));
    return TensorExample.of(tensors);
  }

  @Override
  public void teardown() {
    if (lease != null) {
      lease.close();
      lease = null;
    }
  }

  @Override
  public void check(ModelSignature signature) {
    for (Map.Entry<String, TensorSpec> input : signature.inputs().entrySet()) {
      String name = input.getKey();
      if (!List.of(INPUT_IDS, ATTENTION_MASK, TOKEN_TYPE_IDS).contains(name)) {
        throw new IllegalArgumentException(
            "Model "
                + signature.identity().name()
                + " takes input '"
                + name
                + "', which text tokenization does not produce (it gives input_ids, attention_mask,"
                + " token_type_ids). Is this a text model? Otherwise choose --task=classify or raw.");
      }
      TensorSpec spec = input.getValue();
      if (spec.dtype() != Tensor.DType.INT64 || spec.rank() != 2) {
        throw new IllegalArgumentException(
            "Model input '"
                + name
                + "' is "
                + spec
                + "; text tokenization gives int64 [batch, tokens]");
      }
    }
    if (!signature.inputs().containsKey(INPUT_IDS)) {
      throw new IllegalArgumentException(
          "Model "
              + signature.identity().name()
              + " has no 'input_ids' input; its inputs are "
              + signature.inputs().keySet());
    }
  }

  @Override
  public Coder<TensorExample> exampleCoder() {
    return TensorExampleCoder.of();
  }

  /** The shared tokenizer. */
  private static final class Resource implements AutoCloseable {
    final HuggingFaceTokenizer tokenizer;

    Resource(HuggingFaceTokenizer tokenizer) {
      this.tokenizer = tokenizer;
    }

    @Override
    public void close() {
      tokenizer.close();
    }
  }
}
