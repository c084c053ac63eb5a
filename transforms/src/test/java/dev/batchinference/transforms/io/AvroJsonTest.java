package dev.batchinference.transforms.io;

import static org.hamcrest.MatcherAssert.assertThat;
import static org.hamcrest.Matchers.equalTo;

import java.math.BigDecimal;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Map;
import org.apache.avro.LogicalTypes;
import org.apache.avro.Schema;
import org.apache.avro.SchemaBuilder;
import org.apache.avro.generic.GenericData;
import org.apache.avro.generic.GenericRecord;
import org.apache.avro.generic.GenericRecordBuilder;
import org.apache.avro.util.Utf8;
import org.junit.Test;
import org.junit.runner.RunWith;
import org.junit.runners.JUnit4;

/** Tests of {@link AvroJson}: rows as Parquet and BigQuery reads deliver them. */
@RunWith(JUnit4.class)
public class AvroJsonTest {

  @Test
  public void rendersEveryKindOfColumn() {
    Schema timestamp = LogicalTypes.timestampMicros().addToSchema(Schema.create(Schema.Type.LONG));
    Schema date = LogicalTypes.date().addToSchema(Schema.create(Schema.Type.INT));
    Schema decimal = LogicalTypes.decimal(10, 2).addToSchema(Schema.create(Schema.Type.BYTES));
    Schema inner = SchemaBuilder.record("inner").fields().requiredDouble("x").endRecord();
    Schema schema =
        SchemaBuilder.record("row")
            .fields()
            .requiredString("id")
            .optionalLong("count")
            .optionalString("missing")
            .name("when")
            .type(timestamp)
            .noDefault()
            .name("day")
            .type(date)
            .noDefault()
            .name("price")
            .type(decimal)
            .noDefault()
            .requiredBytes("blob")
            .name("scores")
            .type()
            .array()
            .items()
            .floatType()
            .noDefault()
            .name("tags")
            .type()
            .map()
            .values()
            .intType()
            .noDefault()
            .name("nested")
            .type(inner)
            .noDefault()
            .requiredBoolean("ok")
            .endRecord();
    GenericRecord row =
        new GenericRecordBuilder(schema)
            .set("id", new Utf8("r1"))
            .set("count", 7L)
            .set("missing", null)
            .set("when", 1_700_000_000_123_456L)
            .set("day", 19_000)
            .set("price", ByteBuffer.wrap(new BigDecimal("12.34").unscaledValue().toByteArray()))
            .set("blob", ByteBuffer.wrap("hi".getBytes(StandardCharsets.UTF_8)))
            .set(
                "scores",
                new GenericData.Array<>(schema.getField("scores").schema(), List.of(0.5f, 1.5f)))
            .set("tags", Map.of(new Utf8("a"), 1))
            .set("nested", new GenericRecordBuilder(inner).set("x", 2.25).build())
            .set("ok", true)
            .build();

    assertThat(
        AvroJson.toJson(row).toString(),
        equalTo(
            "{\"id\":\"r1\",\"count\":7,\"missing\":null,"
                + "\"when\":\"2023-11-14T22:13:20.123456Z\",\"day\":\"2022-01-08\","
                + "\"price\":12.34,\"blob\":\"aGk=\",\"scores\":[0.5,1.5],\"tags\":{\"a\":1},"
                + "\"nested\":{\"x\":2.25},\"ok\":true}"));
  }

  /**
   * BigQuery's TIMESTAMP and DATE run from 0001-01-01 to 9999-12-31; {@code 9999-12-31T23:59:59Z}
   * is a common "never" sentinel. Every value in that range comes out exactly, including the
   * microseconds of instants before 1970.
   */
  @Test
  public void timestampsAndDatesAtBothEndsOfBigQuerysRange() {
    Schema micros = LogicalTypes.timestampMicros().addToSchema(Schema.create(Schema.Type.LONG));
    Schema millis = LogicalTypes.timestampMillis().addToSchema(Schema.create(Schema.Type.LONG));
    Schema date = LogicalTypes.date().addToSchema(Schema.create(Schema.Type.INT));
    Schema schema =
        SchemaBuilder.record("row")
            .fields()
            .name("last")
            .type(micros)
            .noDefault()
            .name("sentinel")
            .type(micros)
            .noDefault()
            .name("first")
            .type(micros)
            .noDefault()
            .name("before_epoch")
            .type(micros)
            .noDefault()
            .name("last_millis")
            .type(millis)
            .noDefault()
            .name("last_day")
            .type(date)
            .noDefault()
            .name("first_day")
            .type(date)
            .noDefault()
            .endRecord();
    GenericRecord row =
        new GenericRecordBuilder(schema)
            .set("last", 253_402_300_799_999_999L)
            .set("sentinel", 253_402_300_799_000_000L)
            .set("first", -62_135_596_800_000_000L)
            .set("before_epoch", -1L)
            .set("last_millis", 253_402_300_799_999L)
            .set("last_day", 2_932_896)
            .set("first_day", -719_162)
            .build();

    assertThat(
        AvroJson.toJson(row).toString(),
        equalTo(
            "{\"last\":\"9999-12-31T23:59:59.999999Z\","
                + "\"sentinel\":\"9999-12-31T23:59:59Z\","
                + "\"first\":\"0001-01-01T00:00:00Z\","
                + "\"before_epoch\":\"1969-12-31T23:59:59.999999Z\","
                + "\"last_millis\":\"9999-12-31T23:59:59.999Z\","
                + "\"last_day\":\"9999-12-31\",\"first_day\":\"0001-01-01\"}"));
  }
}
