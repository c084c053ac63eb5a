package dev.batchinference.transforms.preprocess;

import static org.hamcrest.MatcherAssert.assertThat;
import static org.hamcrest.Matchers.containsString;
import static org.hamcrest.Matchers.equalTo;
import static org.junit.Assert.assertThrows;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.batchinference.transforms.model.ModelFiles;
import dev.batchinference.transforms.model.ModelSignature;
import dev.batchinference.transforms.onnx.OnnxModelHandler;
import dev.batchinference.transforms.tensor.Tensor;
import dev.batchinference.transforms.tensor.TensorExample;
import dev.batchinference.transforms.testing.TestModels;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.Map;
import org.junit.Test;
import org.junit.runner.RunWith;
import org.junit.runners.JUnit4;

/** Tests of {@link TextTokenizer} with the MiniLM tokenizer. */
@RunWith(JUnit4.class)
public class TextTokenizerTest {

  private static final ObjectMapper JSON = new ObjectMapper();

  /** The example of a text with these token ids: full attention, one segment. */
  static TensorExample tokens(long[] ids) {
    long[] mask = new long[ids.length];
    Arrays.fill(mask, 1);
    Map<String, Tensor> tensors = new LinkedHashMap<>();
    tensors.put(TextTokenizer.INPUT_IDS, Tensor.vector(ids));
    tensors.put(TextTokenizer.ATTENTION_MASK, Tensor.vector(mask));
    tensors.put(TextTokenizer.TOKEN_TYPE_IDS, Tensor.vector(new long[ids.length]));
    return TensorExample.of(tensors);
  }

  private static TensorExample tokenize(TextTokenizer tokenizer, String field, String text)
      throws Exception {
    ObjectNode record = JSON.createObjectNode().put(field, text);
    tokenizer.setup();
    try {
      return tokenizer.apply(record);
    } finally {
      tokenizer.teardown();
    }
  }

  @Test
  public void tokenizesWithoutPadding() throws Exception {
    TextTokenizer tokenizer = TextTokenizer.of(TestModels.MINILM_TOKENIZER);
    assertThat(
        tokenize(tokenizer, "text", "Hello world"),
        equalTo(tokens(new long[] {101, 7592, 2088, 102})));
    assertThat(
        "withTextField reads another field",
        tokenize(tokenizer.withTextField("body"), "body", "Hello world"),
        equalTo(tokens(new long[] {101, 7592, 2088, 102})));
  }

  @Test
  public void withMaxLengthTruncatesOrFails() throws Exception {
    String text = "one two three four five six seven eight nine ten";
    TextTokenizer tokenizer = TextTokenizer.of(TestModels.MINILM_TOKENIZER).withMaxLength(6);
    TensorExample truncated = tokenize(tokenizer, "text", text);
    long[] ids = truncated.get(TextTokenizer.INPUT_IDS).longs();
    assertThat("tokens", ids.length, equalTo(6));
    assertThat("ends with [SEP]", ids[5], equalTo(102L));
    assertThat(
        "untruncated",
        tokenize(TextTokenizer.of(TestModels.MINILM_TOKENIZER), "text", text)
            .get(TextTokenizer.INPUT_IDS)
            .size(),
        equalTo(12));

    InvalidRecordException e =
        assertThrows(
            InvalidRecordException.class,
            () -> tokenize(tokenizer.withTruncation(false), "text", text));
    assertThat(
        e.getMessage(),
        equalTo(
            "text is longer than the limit of 6 tokens (maxSequenceLength) and truncation is off"));
  }

  @Test
  public void checkAcceptsTheTextModelAndRejectsTheClassifier() throws Exception {
    TextTokenizer tokenizer = TextTokenizer.of(TestModels.MINILM_TOKENIZER);
    tokenizer.check(OnnxModelHandler.of(TestModels.MINILM).inspect());
    ModelSignature classifier = OnnxModelHandler.of(TestModels.classifier().toString()).inspect();
    IllegalArgumentException e =
        assertThrows(IllegalArgumentException.class, () -> tokenizer.check(classifier));
    assertThat(
        e.getMessage(),
        containsString("takes input 'input', which text tokenization does not produce"));
  }

  @Test
  public void aTokenizerThatCannotLoadFailsNamingTheUri() {
    Exception e =
        assertThrows(
            Exception.class, () -> TextTokenizer.of("classpath:no-tokenizer.json").checkLoads());
    assertThat(
        e.getMessage(), containsString("Cannot load the tokenizer at classpath:no-tokenizer.json"));
  }

  @Test
  public void aTokenizerThatChangedSinceItWasPinnedIsRefused() {
    String other = ModelFiles.sha256(new byte[] {1});
    Exception e =
        assertThrows(
            Exception.class,
            () -> TextTokenizer.of(TestModels.MINILM_TOKENIZER).withExpectedSha256(other).setup());
    assertThat(e.getMessage(), containsString(other + " was expected"));
  }
}
