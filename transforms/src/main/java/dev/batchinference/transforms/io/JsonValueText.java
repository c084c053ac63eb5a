package dev.batchinference.transforms.io;

import com.fasterxml.jackson.core.JsonFactory;
import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonToken;
import com.fasterxml.jackson.databind.JsonNode;
import java.io.IOException;
import java.util.LinkedHashMap;
import java.util.Map;
import org.checkerframework.checker.nullness.qual.Nullable;

/**
 * The values of a JSON object's top-level fields as they are written, for fields copied from an
 * input record to its prediction (carried fields).
 *
 * <p>A Jackson tree holds a decimal as a double: {@code 12345678901234567.89} comes back as {@code
 * 1.2345678901234568E16}, {@code 1e400} as the string {@code "Infinity"}, and a tree read with
 * {@code USE_BIG_DECIMAL_FOR_FLOATS} turns {@code -0.0} into {@code 0}. A carried field is not the
 * job's to round: it is copied as text, so that the prediction holds the very value of the input.
 */
public final class JsonValueText {

  private static final JsonFactory FACTORY = new JsonFactory();

  private JsonValueText() {}

  /**
   * Each top-level field of {@code object}, in order, with the text of its value as written.
   *
   * @throws IOException when {@code object} is not a JSON object
   */
  public static Map<String, String> of(String object) throws IOException {
    return read(object, false);
  }

  /**
   * As {@link #of}, but as a text column holds each value: a string as its text (unquoted and
   * unescaped), null as null, anything else as written.
   */
  public static Map<String, @Nullable String> asText(String object) throws IOException {
    return read(object, true);
  }

  private static Map<String, @Nullable String> read(String object, boolean decoded)
      throws IOException {
    Map<String, @Nullable String> values = new LinkedHashMap<>();
    try (JsonParser p = FACTORY.createParser(object)) {
      if (p.nextToken() != JsonToken.START_OBJECT) {
        throw new IOException("not a JSON object: " + object);
      }
      while (p.nextToken() == JsonToken.FIELD_NAME) {
        String name = p.currentName();
        JsonToken value = p.nextToken();
        long start = p.currentTokenLocation().getCharOffset();
        if (decoded && value == JsonToken.VALUE_STRING) {
          values.put(name, p.getText());
          continue;
        }
        if (decoded && value == JsonToken.VALUE_NULL) {
          values.put(name, null);
          continue;
        }
        if (value.isStructStart()) {
          p.skipChildren();
        } else {
          p.finishToken(); // a string is read to its closing quote only when asked
        }
        values.put(name, object.substring((int) start, (int) p.currentLocation().getCharOffset()));
      }
    }
    return values;
  }

  /** Whether {@code value} holds a decimal anywhere: what a tree may not hold as written. */
  public static boolean hasDecimal(JsonNode value) {
    if (value.isFloatingPointNumber()) {
      return true;
    }
    for (JsonNode child : value) {
      if (hasDecimal(child)) {
        return true;
      }
    }
    return false;
  }
}
