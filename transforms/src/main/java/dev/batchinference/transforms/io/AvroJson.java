package dev.batchinference.transforms.io;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.math.BigDecimal;
import java.math.BigInteger;
import java.nio.ByteBuffer;
import java.time.Instant;
import java.time.LocalDate;
import java.util.Base64;
import java.util.Collection;
import java.util.Map;
import org.apache.avro.LogicalType;
import org.apache.avro.LogicalTypes;
import org.apache.avro.Schema;
import org.apache.avro.generic.GenericEnumSymbol;
import org.apache.avro.generic.GenericFixed;
import org.apache.avro.generic.GenericRecord;

/**
 * Renders Avro records (rows of Parquet files and of BigQuery reads) as JSON objects, so that they
 * go through the same parsing and preprocessing as JSON Lines.
 *
 * <p>Numbers stay numbers, strings and enums become strings, arrays, maps and nested records nest;
 * bytes become base64 text. Logical types read as BigQuery and Parquet mean them: timestamps become
 * ISO-8601 instants, dates ISO dates, decimals exact numbers.
 */
public final class AvroJson {

  private static final JsonNodeFactory NODES = JsonNodeFactory.withExactBigDecimals(true);

  private AvroJson() {}

  /** The record as a JSON object. */
  public static ObjectNode toJson(GenericRecord record) {
    ObjectNode object = NODES.objectNode();
    for (Schema.Field field : record.getSchema().getFields()) {
      object.set(field.name(), value(record.get(field.pos()), field.schema()));
    }
    return object;
  }

  private static JsonNode value(Object value, Schema schema) {
    if (value == null) {
      return NODES.nullNode();
    }
    switch (schema.getType()) {
      case UNION:
        for (Schema branch : schema.getTypes()) {
          if (branch.getType() != Schema.Type.NULL && matches(value, branch)) {
            return value(value, branch);
          }
        }
        return untyped(value);
      case RECORD:
        return toJson((GenericRecord) value);
      case ARRAY:
        ArrayNode array = NODES.arrayNode();
        for (Object element : (Collection<?>) value) {
          array.add(value(element, schema.getElementType()));
        }
        return array;
      case MAP:
        ObjectNode map = NODES.objectNode();
        for (Map.Entry<?, ?> e : ((Map<?, ?>) value).entrySet()) {
          map.set(e.getKey().toString(), value(e.getValue(), schema.getValueType()));
        }
        return map;
      case BYTES:
      case FIXED:
        return bytes(value, schema.getLogicalType());
      case INT:
      case LONG:
        return integral(((Number) value).longValue(), schema.getLogicalType());
      default:
        return untyped(value);
    }
  }

  private static boolean matches(Object value, Schema branch) {
    switch (branch.getType()) {
      case RECORD:
        return value instanceof GenericRecord;
      case ARRAY:
        return value instanceof Collection;
      case MAP:
        return value instanceof Map;
      case BYTES:
        return value instanceof ByteBuffer;
      case FIXED:
        return value instanceof GenericFixed;
      case INT:
        return value instanceof Integer;
      case LONG:
        return value instanceof Long;
      case FLOAT:
        return value instanceof Float;
      case DOUBLE:
        return value instanceof Double;
      case BOOLEAN:
        return value instanceof Boolean;
      case STRING:
      case ENUM:
        return value instanceof CharSequence || value instanceof GenericEnumSymbol;
      default:
        return false;
    }
  }

  private static JsonNode integral(long v, LogicalType logical) {
    if (logical instanceof LogicalTypes.TimestampMicros) {
      // Seconds and microseconds apart: microseconds times 1000 overflow a long past the year
      // 2262 (and before 1677), and BigQuery's TIMESTAMP runs from 0001-01-01 to 9999-12-31.
      return NODES.textNode(
          Instant.ofEpochSecond(Math.floorDiv(v, 1_000_000L), Math.floorMod(v, 1_000_000L) * 1000L)
              .toString());
    }
    if (logical instanceof LogicalTypes.TimestampMillis) {
      return NODES.textNode(Instant.ofEpochMilli(v).toString());
    }
    if (logical instanceof LogicalTypes.Date) {
      return NODES.textNode(LocalDate.ofEpochDay(v).toString());
    }
    return NODES.numberNode(v);
  }

  private static JsonNode bytes(Object value, LogicalType logical) {
    byte[] bytes;
    if (value instanceof ByteBuffer) {
      ByteBuffer buffer = ((ByteBuffer) value).duplicate();
      bytes = new byte[buffer.remaining()];
      buffer.get(bytes);
    } else {
      bytes = ((GenericFixed) value).bytes();
    }
    if (logical instanceof LogicalTypes.Decimal) {
      int scale = ((LogicalTypes.Decimal) logical).getScale();
      return NODES.numberNode(new BigDecimal(new BigInteger(bytes), scale));
    }
    return NODES.textNode(Base64.getEncoder().encodeToString(bytes));
  }

  private static JsonNode untyped(Object value) {
    if (value instanceof Boolean) {
      return NODES.booleanNode((Boolean) value);
    }
    if (value instanceof Integer || value instanceof Long) {
      return NODES.numberNode(((Number) value).longValue());
    }
    if (value instanceof Float) {
      return NODES.numberNode((Float) value);
    }
    if (value instanceof Double) {
      return NODES.numberNode((Double) value);
    }
    if (value instanceof GenericRecord) {
      return toJson((GenericRecord) value);
    }
    if (value instanceof BigDecimal) {
      return NODES.numberNode((BigDecimal) value);
    }
    return NODES.textNode(value.toString());
  }
}
