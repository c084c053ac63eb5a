package dev.batchinference.transforms.preprocess;

import static org.apache.beam.vendor.guava.v32_1_2_jre.com.google.common.base.Preconditions.checkArgument;

import com.fasterxml.jackson.core.JsonGenerator;
import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.batchinference.transforms.Failure;
import dev.batchinference.transforms.RecordMeta;
import dev.batchinference.transforms.Stage;
import dev.batchinference.transforms.TupleOutput;
import dev.batchinference.transforms.io.JsonValueText;
import dev.batchinference.transforms.io.RawRecord;
import dev.batchinference.transforms.io.RecordFn;
import dev.batchinference.transforms.model.ModelFiles;
import java.io.IOException;
import java.io.StringWriter;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.function.Consumer;
import org.apache.beam.sdk.coders.KvCoder;
import org.apache.beam.sdk.transforms.DoFn;
import org.apache.beam.sdk.transforms.PTransform;
import org.apache.beam.sdk.transforms.ParDo;
import org.apache.beam.sdk.transforms.display.DisplayData;
import org.apache.beam.sdk.values.KV;
import org.apache.beam.sdk.values.PCollection;
import org.apache.beam.sdk.values.PCollectionTuple;
import org.apache.beam.sdk.values.TupleTag;
import org.apache.beam.sdk.values.TupleTagList;
import org.checkerframework.checker.nullness.qual.Nullable;

/**
 * Parses raw records (JSON objects) and turns them into model examples keyed by their {@link
 * RecordMeta}: the id (from a field, or {@code source:index} when none is named), the position, and
 * the carried fields.
 *
 * <p>A line that is not a JSON object, or lacks its id, becomes a {@link Stage#PARSE} failure; a
 * record the {@link Preprocessor} rejects becomes a {@link Stage#PREPROCESS} failure. Both keep the
 * record's text so that it can be replayed.
 *
 * <pre>{@code
 * Preprocess.Result<TensorExample> examples =
 *     records.apply("Preprocess",
 *         Preprocess.with(TextTokenizer.of(tokenizerUri)).withIdField("id"));
 * }</pre>
 */
public final class Preprocess<ExampleT>
    extends PTransform<PCollection<RawRecord>, Preprocess.Result<ExampleT>> {

  private final Preprocessor<ExampleT> preprocessor;
  private final @Nullable String idField;
  private final List<String> carryFields;

  private Preprocess(
      Preprocessor<ExampleT> preprocessor, @Nullable String idField, List<String> carryFields) {
    this.preprocessor = preprocessor;
    this.idField = idField;
    this.carryFields = carryFields;
  }

  public static <ExampleT> Preprocess<ExampleT> with(Preprocessor<ExampleT> preprocessor) {
    return new Preprocess<>(Objects.requireNonNull(preprocessor), null, List.of());
  }

  /** The field holding each record's id (a string or an integer). Default: {@code source:index}. */
  public Preprocess<ExampleT> withIdField(String idField) {
    checkArgument(idField != null && !idField.isEmpty(), "idField must not be empty");
    return new Preprocess<>(preprocessor, idField, carryFields);
  }

  /** Fields copied as they are from the input to the prediction (null when a record lacks one). */
  public Preprocess<ExampleT> withCarryFields(List<String> fields) {
    for (String f : fields) {
      checkArgument(f != null && !f.isEmpty(), "carry field names must not be empty: %s", fields);
    }
    return new Preprocess<>(preprocessor, idField, List.copyOf(fields));
  }

  @Override
  public void populateDisplayData(DisplayData.Builder builder) {
    super.populateDisplayData(builder);
    builder
        .add(DisplayData.item("preprocessor", preprocessor.getClass()).withLabel("Preprocessor"))
        .addIfNotNull(DisplayData.item("idField", idField).withLabel("Id field"))
        .addIfNotDefault(
            DisplayData.item("carryFields", String.join(",", carryFields))
                .withLabel("Fields carried to predictions"),
            "");
  }

  @Override
  public Result<ExampleT> expand(PCollection<RawRecord> input) {
    TupleTag<KV<RecordMeta, ExampleT>> examples = new TupleTag<KV<RecordMeta, ExampleT>>() {};
    TupleTag<Failure> failures = new TupleTag<Failure>() {};
    PCollectionTuple out =
        input.apply(
            "ParseAndPreprocess",
            ParDo.of(new PreprocessFn<>(preprocessor, idField, carryFields, examples, failures))
                .withOutputTags(examples, TupleTagList.of(failures)));
    out.get(examples).setCoder(KvCoder.of(RecordMeta.Coder.of(), preprocessor.exampleCoder()));
    out.get(failures).setCoder(Failure.Coder.of());
    return new Result<>(out, examples, failures);
  }

  /**
   * This step as a {@link RecordFn}, to do in the step that reads the records ({@link
   * dev.batchinference.transforms.io.ReadRecords#thenEach}): the same examples and failures, with
   * no hop between reading and preprocessing.
   */
  public RecordFn<KV<RecordMeta, ExampleT>> asRecordFn() {
    return new Preprocessing<>(preprocessor, idField, carryFields);
  }

  /** The step's DoFn: {@link Preprocessing} on each record. */
  static final class PreprocessFn<ExampleT> extends DoFn<RawRecord, KV<RecordMeta, ExampleT>> {
    private final Preprocessing<ExampleT> preprocessing;
    private final TupleTag<KV<RecordMeta, ExampleT>> examples;
    private final TupleTag<Failure> failures;

    PreprocessFn(
        Preprocessor<ExampleT> preprocessor,
        @Nullable String idField,
        List<String> carryFields,
        TupleTag<KV<RecordMeta, ExampleT>> examples,
        TupleTag<Failure> failures) {
      this.preprocessing = new Preprocessing<>(preprocessor, idField, carryFields);
      this.examples = examples;
      this.failures = failures;
    }

    @Setup
    public void setup() throws Exception {
      preprocessing.setup();
    }

    @ProcessElement
    public void processElement(@Element RawRecord raw, MultiOutputReceiver out) {
      preprocessing.apply(raw, out.get(examples)::output, out.get(failures)::output);
    }

    @Teardown
    public void teardown() {
      preprocessing.teardown();
    }
  }

  /** Parses a record and makes its example, or its failure. */
  static final class Preprocessing<ExampleT> implements RecordFn<KV<RecordMeta, ExampleT>> {
    private static final ObjectMapper JSON =
        new ObjectMapper()
            .enable(JsonParser.Feature.STRICT_DUPLICATE_DETECTION)
            // Two objects on one line are a broken line, not the first record.
            .enable(DeserializationFeature.FAIL_ON_TRAILING_TOKENS);

    private final Preprocessor<ExampleT> preprocessor;
    private final @Nullable String idField;
    private final List<String> carryFields;

    /** The preprocessor's number array, read without a tree; null to parse every line whole. */
    private transient @Nullable NumberArray numberArray;

    Preprocessing(
        Preprocessor<ExampleT> preprocessor, @Nullable String idField, List<String> carryFields) {
      this.preprocessor = preprocessor;
      this.idField = idField;
      this.carryFields = carryFields;
    }

    @Override
    public org.apache.beam.sdk.coders.Coder<KV<RecordMeta, ExampleT>> outputCoder() {
      return KvCoder.of(RecordMeta.Coder.of(), preprocessor.exampleCoder());
    }

    @Override
    public void setup() throws Exception {
      preprocessor.setup();
      NumberArray array = preprocessor.numberArray();
      // The fast read leaves the array's field null in the record: not when the id or a carried
      // field is that field.
      numberArray =
          array != null && !array.field().equals(idField) && !carryFields.contains(array.field())
              ? array
              : null;
    }

    @Override
    public void apply(
        RawRecord raw, Consumer<KV<RecordMeta, ExampleT>> examples, Consumer<Failure> failures) {
      ObjectNode record;
      RecordMeta meta;
      float[] numbers = null;
      try {
        if (numberArray != null) {
          numbers = new float[numberArray.length()];
          record = numberArray.read(raw.text(), JSON, numbers);
          if (record == null) {
            numbers = null; // not a plain number array: the tree and its errors
            record = parseObject(raw.text());
          }
        } else {
          record = parseObject(raw.text());
        }
        meta =
            RecordMeta.of(
                id(record, raw),
                raw.source(),
                raw.index(),
                carried(record, raw.text()),
                ModelFiles.sha256(raw.text().getBytes(StandardCharsets.UTF_8)));
      } catch (Exception e) {
        failures.accept(
            Failure.of(
                null, raw.source(), raw.index(), Stage.PARSE, parseError(e, raw), raw.text()));
        return;
      }
      ExampleT example;
      try {
        example =
            numbers != null ? preprocessor.apply(record, numbers) : preprocessor.apply(record);
      } catch (Exception e) {
        failures.accept(
            Failure.of(meta.id(), raw.source(), raw.index(), Stage.PREPROCESS, e, raw.text()));
        return;
      }
      examples.accept(KV.of(meta, example));
    }

    /**
     * The error of a line that failed the fast read as the tree parse words it, so that a failure
     * says the same whichever way the line was read.
     */
    private static Exception parseError(Exception e, RawRecord raw) {
      if (!(e instanceof JsonProcessingException)) {
        return e;
      }
      try {
        parseObject(raw.text());
        return e;
      } catch (InvalidRecordException tree) {
        return tree;
      }
    }

    private static ObjectNode parseObject(String text) throws InvalidRecordException {
      JsonNode node;
      try {
        node = JSON.readTree(text);
      } catch (JsonProcessingException e) {
        throw new InvalidRecordException("not valid JSON: " + e.getOriginalMessage());
      }
      if (node == null || !node.isObject()) {
        throw new InvalidRecordException(
            "expected a JSON object, got "
                + (node == null ? "nothing" : node.getNodeType().name().toLowerCase()));
      }
      return (ObjectNode) node;
    }

    private String id(ObjectNode record, RawRecord raw) throws InvalidRecordException {
      if (idField == null) {
        return raw.source() + ":" + raw.index();
      }
      JsonNode id = record.get(idField);
      if (id == null || id.isNull()) {
        throw new InvalidRecordException("record has no id field '" + idField + "'");
      }
      if (id.isTextual() && !id.textValue().isEmpty()) {
        return id.textValue();
      }
      if (id.isIntegralNumber()) {
        return id.asText();
      }
      throw new InvalidRecordException(
          "id field '" + idField + "' must be a non-empty string or an integer, got " + id);
    }

    /**
     * The carried fields as a JSON object (null as the value of a field the record lacks). A
     * decimal is copied as the line writes it, not as the tree rounded it.
     */
    private @Nullable String carried(ObjectNode record, String text) throws IOException {
      if (carryFields.isEmpty()) {
        return null;
      }
      ObjectNode carried = JSON.createObjectNode();
      boolean decimals = false;
      for (String field : carryFields) {
        JsonNode value = record.get(field);
        carried.set(field, value == null ? carried.nullNode() : value);
        decimals |= value != null && JsonValueText.hasDecimal(value);
      }
      if (!decimals) {
        return JSON.writeValueAsString(carried);
      }
      Map<String, String> written = JsonValueText.of(text);
      StringWriter out = new StringWriter();
      try (JsonGenerator g = JSON.getFactory().createGenerator(out)) {
        g.writeStartObject();
        for (String field : carryFields) {
          g.writeFieldName(field);
          g.writeRawValue(written.getOrDefault(field, "null"));
        }
        g.writeEndObject();
      }
      return out.toString();
    }

    @Override
    public void teardown() {
      preprocessor.teardown();
    }
  }

  /** Examples keyed by their record, and the records that could not become examples. */
  public static final class Result<ExampleT> extends TupleOutput {
    private final TupleTag<KV<RecordMeta, ExampleT>> examples;
    private final TupleTag<Failure> failures;

    private Result(
        PCollectionTuple tuple,
        TupleTag<KV<RecordMeta, ExampleT>> examples,
        TupleTag<Failure> failures) {
      super(tuple);
      this.examples = examples;
      this.failures = failures;
    }

    public PCollection<KV<RecordMeta, ExampleT>> examples() {
      return tuple.get(examples);
    }

    public PCollection<Failure> failures() {
      return tuple.get(failures);
    }
  }
}
