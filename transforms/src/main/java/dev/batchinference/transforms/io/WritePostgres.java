package dev.batchinference.transforms.io;

import static org.apache.beam.vendor.guava.v32_1_2_jre.com.google.common.base.Preconditions.checkArgument;

import com.fasterxml.jackson.databind.ObjectMapper;
import java.sql.Array;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.SQLException;
import java.sql.Statement;
import java.sql.Timestamp;
import java.sql.Types;
import java.util.ArrayList;
import java.util.Collection;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.regex.Pattern;
import java.util.stream.Collectors;
import javax.sql.DataSource;
import org.apache.beam.sdk.io.jdbc.JdbcIO;
import org.apache.beam.sdk.schemas.Schema;
import org.apache.beam.sdk.transforms.PTransform;
import org.apache.beam.sdk.transforms.SerializableFunction;
import org.apache.beam.sdk.transforms.display.DisplayData;
import org.apache.beam.sdk.values.PCollection;
import org.apache.beam.sdk.values.Row;
import org.joda.time.ReadableInstant;

/**
 * Upserts rows into a PostgreSQL table through Beam's {@link JdbcIO}, in batches: {@code INSERT ...
 * ON CONFLICT (key) DO UPDATE}, so that writing the same keys again replaces rows instead of adding
 * them. The table's columns follow the rows' Beam schema: {@code text}, {@code bigint}, {@code
 * real}, {@code double precision}, {@code boolean}, {@code timestamptz}; {@code real[]} and {@code
 * bigint[]} for arrays of numbers; {@code jsonb} for nested rows and arrays of them. {@link
 * #createTableIfMissing} makes the table, keyed by the key columns, before the job reads data.
 *
 * <p>Its output is empty and complete once every row was written: a signal for {@code Wait.on}.
 *
 * <p>Rows with the same key must not meet in one run (PostgreSQL refuses to update a row twice in
 * one statement): keep one row per key before this transform.
 */
public final class WritePostgres extends PTransform<PCollection<Row>, PCollection<Void>> {

  private static final Pattern NAME = Pattern.compile("[A-Za-z_][A-Za-z0-9_]{0,62}");
  private static final ObjectMapper JSON = new ObjectMapper();

  private final PostgresConnection connection;
  private final String table;
  private final List<String> key;
  private final int batchSize;

  private WritePostgres(PostgresConnection connection, String table, List<String> key, int batch) {
    this.connection = connection;
    this.table = table;
    this.key = key;
    this.batchSize = batch;
  }

  /** Upserts into {@code table} (optionally {@code schema.table}) keyed by {@code key}. */
  public static WritePostgres to(PostgresConnection connection, String table, List<String> key) {
    checkArgument(isTableName(table), "not a plain table name: %s", table);
    checkArgument(!key.isEmpty(), "the key must name at least one column");
    return new WritePostgres(connection, table, List.copyOf(key), 1000);
  }

  public WritePostgres withBatchSize(int batchSize) {
    checkArgument(batchSize > 0, "batchSize must be > 0");
    return new WritePostgres(connection, table, key, batchSize);
  }

  /** Whether {@code table} is {@code name} or {@code schema.name} of plain identifiers. */
  public static boolean isTableName(String table) {
    if (table == null) {
      return false;
    }
    String[] parts = table.split("\\.", -1);
    if (parts.length > 2) {
      return false;
    }
    for (String part : parts) {
      if (!NAME.matcher(part).matches()) {
        return false;
      }
    }
    return true;
  }

  /** The column type of a Beam field type. */
  static String columnType(Schema.FieldType type) {
    switch (type.getTypeName()) {
      case STRING:
        return "text";
      case INT16:
      case INT32:
      case INT64:
        return "bigint";
      case FLOAT:
        return "real";
      case DOUBLE:
        return "double precision";
      case BOOLEAN:
        return "boolean";
      case DATETIME:
        return "timestamptz";
      case ARRAY:
      case ITERABLE:
        Schema.FieldType element = type.getCollectionElementType();
        switch (element.getTypeName()) {
          case FLOAT:
            return "real[]";
          case DOUBLE:
            return "double precision[]";
          case INT16:
          case INT32:
          case INT64:
            return "bigint[]";
          case STRING:
            return "text[]";
          default:
            return "jsonb";
        }
      default:
        return "jsonb";
    }
  }

  /** {@code CREATE TABLE IF NOT EXISTS} for rows of {@code schema}, keyed by {@code key}. */
  public static String createTableSql(String table, Schema schema, List<String> key) {
    String columns =
        schema.getFields().stream()
            .map(
                f ->
                    quote(f.getName())
                        + " "
                        + columnType(f.getType())
                        + (f.getType().getNullable() ? "" : " NOT NULL"))
            .collect(Collectors.joining(", "));
    return "CREATE TABLE IF NOT EXISTS "
        + table
        + " ("
        + columns
        + ", PRIMARY KEY ("
        + key.stream().map(WritePostgres::quote).collect(Collectors.joining(", "))
        + "))";
  }

  /** The upsert statement for rows of {@code schema}. */
  static String upsertSql(String table, Schema schema, List<String> key) {
    List<String> names = schema.getFieldNames();
    String columns = names.stream().map(WritePostgres::quote).collect(Collectors.joining(", "));
    String values =
        schema.getFields().stream()
            .map(f -> columnType(f.getType()).equals("jsonb") ? "?::jsonb" : "?")
            .collect(Collectors.joining(", "));
    String updates =
        names.stream()
            .filter(n -> !key.contains(n))
            .map(n -> quote(n) + " = EXCLUDED." + quote(n))
            .collect(Collectors.joining(", "));
    return "INSERT INTO "
        + table
        + " ("
        + columns
        + ") VALUES ("
        + values
        + ") ON CONFLICT ("
        + key.stream().map(WritePostgres::quote).collect(Collectors.joining(", "))
        + ") DO "
        + (updates.isEmpty() ? "NOTHING" : "UPDATE SET " + updates);
  }

  private static String quote(String name) {
    return "\"" + name.replace("\"", "\"\"") + "\"";
  }

  /** Creates the table if it does not exist; fails with PostgreSQL's reason otherwise. */
  public void createTableIfMissing(Schema schema) throws SQLException {
    try (Connection c = connection.open();
        Statement s = c.createStatement()) {
      s.execute(createTableSql(table, schema, key));
    }
  }

  @Override
  public void populateDisplayData(DisplayData.Builder builder) {
    super.populateDisplayData(builder);
    builder
        .add(
            DisplayData.item("jdbcUrl", connection.urlWithoutPassword())
                .withLabel("PostgreSQL JDBC URL"))
        .addIfNotNull(DisplayData.item("user", connection.user()).withLabel("PostgreSQL user"))
        .add(DisplayData.item("table", table).withLabel("Table"))
        .add(DisplayData.item("key", String.join(",", key)).withLabel("Key columns"))
        .add(DisplayData.item("batchSize", batchSize).withLabel("Rows per statement batch"));
  }

  @Override
  public PCollection<Void> expand(PCollection<Row> rows) {
    Schema schema = rows.getSchema();
    PostgresConnection conn = connection;
    SerializableFunction<Void, DataSource> dataSource = ignored -> conn.dataSource();
    return rows.apply(
        "Upsert",
        JdbcIO.<Row>write()
            .withDataSourceProviderFn(dataSource)
            .withStatement(upsertSql(table, schema, key))
            .withBatchSize(batchSize)
            .withPreparedStatementSetter(new SetRow(schema))
            .withResults());
  }

  /** Sets a row's values as the statement's parameters, in schema order. */
  static final class SetRow implements JdbcIO.PreparedStatementSetter<Row> {
    private final Schema schema;

    SetRow(Schema schema) {
      this.schema = schema;
    }

    @Override
    public void setParameters(Row row, PreparedStatement statement) throws Exception {
      for (int i = 0; i < schema.getFieldCount(); i++) {
        Schema.FieldType type = schema.getField(i).getType();
        Object value = row.getValue(i);
        String column = columnType(type);
        int p = i + 1;
        if (value == null) {
          statement.setNull(p, column.equals("jsonb") ? Types.OTHER : Types.NULL);
        } else if (column.equals("jsonb")) {
          statement.setString(p, JSON.writeValueAsString(toJson(value)));
        } else if (column.endsWith("[]")) {
          String element = column.substring(0, column.length() - 2);
          Array array =
              statement
                  .getConnection()
                  .createArrayOf(
                      element.equals("double precision") ? "float8" : element,
                      ((Collection<?>) value).toArray());
          statement.setArray(p, array);
        } else if (value instanceof ReadableInstant) {
          statement.setTimestamp(p, new Timestamp(((ReadableInstant) value).getMillis()));
        } else {
          statement.setObject(p, value);
        }
      }
    }

    /** Nested rows and lists as plain maps and lists, for JSON. */
    private static Object toJson(Object value) {
      if (value instanceof Row) {
        Row r = (Row) value;
        Map<String, Object> map = new LinkedHashMap<>();
        for (int i = 0; i < r.getSchema().getFieldCount(); i++) {
          map.put(r.getSchema().getField(i).getName(), toJson(r.getValue(i)));
        }
        return map;
      }
      if (value instanceof Collection) {
        List<Object> list = new ArrayList<>();
        for (Object v : (Collection<?>) value) {
          list.add(toJson(v));
        }
        return list;
      }
      return value;
    }
  }
}
