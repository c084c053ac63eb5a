package dev.batchinference.transforms.preprocess;

import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonToken;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.io.Serializable;
import org.checkerframework.checker.nullness.qual.Nullable;

/**
 * A top-level field of a JSON record that holds a flat array of exactly {@code length} numbers (a
 * feature vector, an image's pixels), read straight from the line's text into a {@code float[]}.
 *
 * <p>Parsing such a line into a tree makes a node per number and is most of the cost of a record
 * for a small model (a 784-pixel image is 5 KB of text). {@link #read} scans the array itself and
 * leaves only the rest of the record to Jackson. It reads only what it can read exactly as the tree
 * would: plain JSON numbers, each converted as {@code (float) Double.parseDouble(text)}. For
 * anything else (a string, a null, a nested array, another count, a line that is not an object) it
 * returns null, and the caller parses the line the usual way, which gives the usual errors.
 *
 * @param field the top-level field that holds the array
 * @param length how many numbers the array must hold
 */
public record NumberArray(String field, int length) implements Serializable {

  /** 10^0 .. 10^22: each exactly a double, so {@code m / 10^k} is correctly rounded. */
  private static final double[] POWERS_OF_TEN = {
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16,
    1e17, 1e18, 1e19, 1e20, 1e21, 1e22
  };

  /** Integers below 2^53 are exact as doubles. */
  private static final long EXACT_MANTISSA = 1L << 53;

  /**
   * Reads the array of {@code text} into {@code values} (of {@link #length}) and returns the rest
   * of the record as parsed by {@code json}, with the field itself set to null; or null when the
   * line is not an object whose field is such an array (the caller then parses it the usual way).
   *
   * @throws IOException when the rest of the line is not valid JSON
   */
  public @Nullable ObjectNode read(String text, ObjectMapper json, float[] values)
      throws IOException {
    int start = arrayStart(text, json);
    if (start < 0) {
      return null;
    }
    int end = scan(text, start, values);
    if (end < 0) {
      return null;
    }
    // The same line with the array replaced by null: Jackson still checks the whole record
    // (duplicate fields, trailing tokens), but makes no node per number.
    JsonNode rest = json.readTree(text.substring(0, start) + "null" + text.substring(end + 1));
    return rest != null && rest.isObject() ? (ObjectNode) rest : null;
  }

  /** The index of the '[' that opens the field's array, or -1. */
  private int arrayStart(String text, ObjectMapper json) throws IOException {
    try (JsonParser parser = json.getFactory().createParser(text)) {
      if (parser.nextToken() != JsonToken.START_OBJECT) {
        return -1;
      }
      JsonToken token;
      while ((token = parser.nextToken()) == JsonToken.FIELD_NAME) {
        boolean ours = field.equals(parser.currentName());
        JsonToken value = parser.nextToken();
        if (ours) {
          return value == JsonToken.START_ARRAY
              ? Math.toIntExact(parser.currentTokenLocation().getCharOffset())
              : -1;
        }
        parser.skipChildren();
      }
      return -1;
    }
  }

  /**
   * Scans the array that opens at {@code start} into {@code values}; returns the index of its
   * closing ']', or -1 when it is not exactly {@code values.length} plain numbers.
   */
  static int scan(String s, int start, float[] values) {
    int n = 0;
    int len = s.length();
    int i = start + 1;
    while (true) {
      i = skipSpace(s, i);
      if (i >= len) {
        return -1;
      }
      int from = i;
      boolean negative = s.charAt(i) == '-';
      if (negative) {
        i++;
      }
      long mantissa = 0;
      int digits = 0;
      int fraction = 0;
      boolean exponent = false;
      char c;
      int intStart = i;
      while (i < len && (c = s.charAt(i)) >= '0' && c <= '9') {
        mantissa = mantissa * 10 + (c - '0');
        digits++;
        i++;
      }
      if (digits == 0 || (digits > 1 && s.charAt(intStart) == '0')) {
        return -1; // not a JSON number (no digits, or a leading zero)
      }
      if (i < len && s.charAt(i) == '.') {
        i++;
        while (i < len && (c = s.charAt(i)) >= '0' && c <= '9') {
          mantissa = mantissa * 10 + (c - '0');
          digits++;
          fraction++;
          i++;
        }
        if (fraction == 0) {
          return -1;
        }
      }
      if (i < len && ((c = s.charAt(i)) == 'e' || c == 'E')) {
        exponent = true;
        i++;
        if (i < len && ((c = s.charAt(i)) == '+' || c == '-')) {
          i++;
        }
        int expDigits = 0;
        while (i < len && (c = s.charAt(i)) >= '0' && c <= '9') {
          expDigits++;
          i++;
        }
        if (expDigits == 0) {
          return -1;
        }
      }
      float value;
      if (fraction == 0 && !exponent) {
        // An integer: the tree makes an int or long node, whose float is the long's.
        if (digits > 18) {
          return -1; // maybe past a long: a big-integer node, left to the tree
        }
        value = negative ? (float) -mantissa : (float) mantissa;
      } else if (!exponent && digits <= 18 && mantissa < EXACT_MANTISSA && fraction < 23) {
        // Both exact doubles, and IEEE division rounds correctly: Double.parseDouble's result.
        double exact = mantissa / POWERS_OF_TEN[fraction];
        value = (float) (negative ? -exact : exact);
      } else {
        value = (float) Double.parseDouble(s.substring(from, i));
      }
      if (n >= values.length) {
        return -1;
      }
      values[n++] = value;
      i = skipSpace(s, i);
      if (i >= len) {
        return -1;
      }
      c = s.charAt(i);
      if (c == ']') {
        return n == values.length ? i : -1;
      }
      if (c != ',') {
        return -1;
      }
      i++;
    }
  }

  private static int skipSpace(String s, int i) {
    char c;
    while (i < s.length() && ((c = s.charAt(i)) == ' ' || c == '\t' || c == '\n' || c == '\r')) {
      i++;
    }
    return i;
  }
}
