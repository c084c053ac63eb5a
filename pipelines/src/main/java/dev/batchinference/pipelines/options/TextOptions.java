package dev.batchinference.pipelines.options;

import dev.batchinference.pipelines.options.TemplateParameter.Kind;
import org.apache.beam.sdk.options.Default;
import org.apache.beam.sdk.options.Description;
import org.apache.beam.sdk.options.PipelineOptions;

/** EMBED: the text, its tokenizer and how embeddings are made. */
@Description(
    "Texts, for the EMBED task: which field holds the text, how it is tokenized, and what"
        + " is done with the embeddings.")
public interface TextOptions extends PipelineOptions {

  @Description("Hugging Face tokenizer.json for EMBED: a local path, gs://... or classpath:NAME.")
  @Default.String("classpath:all-minilm-l6-v2-q-tokenizer.json")
  @TemplateParameter(Kind.GCS_OR_CLASSPATH_FILE)
  String getTokenizer();

  void setTokenizer(String value);

  @Description("EMBED: the field that holds the text.")
  @Default.String("text")
  @TemplateParameter(Kind.TEXT)
  String getTextField();

  void setTextField(String value);

  @Description(
      "EMBED: most tokens per text, special tokens included (the model accepts up to 512).")
  @Default.Integer(256)
  @TemplateParameter(Kind.WHOLE_NUMBER)
  int getMaxSequenceLength();

  void setMaxSequenceLength(int value);

  @Description("EMBED: truncate texts longer than maxSequenceLength (true) or fail them (false).")
  @Default.Boolean(true)
  @TemplateParameter(Kind.BOOLEAN)
  boolean getTruncate();

  void setTruncate(boolean value);

  @Description(
      "EMBED: the model output to pool (token-level [batch, tokens, dims] or pooled [batch, dims]).")
  @Default.String("last_hidden_state")
  @TemplateParameter(Kind.TEXT)
  String getEmbeddingOutput();

  void setEmbeddingOutput(String value);

  @Description(
      "EMBED: also label each text without a classifier. A file of labels, one per line as"
          + " 'label: a short description'; each text gets the labels whose descriptions are"
          + " closest (cosine) to it: label, score and the topK best.")
  @TemplateParameter(Kind.TEXT)
  String getZeroShotLabels();

  void setZeroShotLabels(String value);

  @Description("EMBED: L2-normalise embeddings.")
  @Default.Boolean(true)
  @TemplateParameter(Kind.BOOLEAN)
  boolean getNormalize();

  void setNormalize(boolean value);
}
