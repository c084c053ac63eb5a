package dev.batchinference.transforms.io;

import static org.apache.beam.vendor.guava.v32_1_2_jre.com.google.common.base.Preconditions.checkArgument;

import org.apache.beam.sdk.io.gcp.bigquery.BigQueryIO;
import org.apache.beam.sdk.io.gcp.bigquery.BigQueryIO.TypedRead;
import org.apache.beam.sdk.io.gcp.bigquery.BigQueryServices;
import org.apache.beam.sdk.io.gcp.bigquery.SchemaAndRecord;
import org.apache.beam.sdk.transforms.PTransform;
import org.apache.beam.sdk.transforms.SerializableFunction;
import org.apache.beam.sdk.transforms.display.DisplayData;
import org.apache.beam.sdk.values.PBegin;
import org.apache.beam.sdk.values.PCollection;
import org.checkerframework.checker.nullness.qual.Nullable;

/**
 * Reads the rows of a BigQuery table, or of a standard-SQL query's result, as records: each row
 * becomes a JSON object of its columns (see {@link AvroJson}), so that it goes through the same
 * parsing and preprocessing as a JSON Lines line.
 *
 * <p>Reads through the Storage Read API ({@code DIRECT_READ}) unless told otherwise. BigQuery rows
 * have no stable position: each record's source is {@code bigquery:TABLE} (or {@code
 * bigquery:query}) and its index is -1, so jobs reading BigQuery name their records by an id
 * column.
 */
public final class ReadBigQuery extends PTransform<PBegin, PCollection<RawRecord>> {

  /** The index of every record read from BigQuery: rows have no position. */
  public static final long NO_POSITION = -1;

  private final @Nullable String table;
  private final @Nullable String query;
  private final TypedRead.Method method;
  private final @Nullable BigQueryServices testServices;

  private ReadBigQuery(
      @Nullable String table,
      @Nullable String query,
      TypedRead.Method method,
      @Nullable BigQueryServices testServices) {
    this.table = table;
    this.query = query;
    this.method = method;
    this.testServices = testServices;
  }

  /** Reads a table, {@code PROJECT:DATASET.TABLE} or {@code PROJECT.DATASET.TABLE}. */
  public static ReadBigQuery table(String table) {
    checkArgument(table != null && !table.isEmpty(), "table must be set");
    return new ReadBigQuery(table, null, TypedRead.Method.DIRECT_READ, null);
  }

  /** Reads the result of a standard-SQL query. */
  public static ReadBigQuery query(String query) {
    checkArgument(query != null && !query.isEmpty(), "query must be set");
    return new ReadBigQuery(null, query, TypedRead.Method.DIRECT_READ, null);
  }

  /** {@code DIRECT_READ} (Storage Read API, the default) or {@code EXPORT} (an export job). */
  public ReadBigQuery withMethod(TypedRead.Method method) {
    return new ReadBigQuery(table, query, method, testServices);
  }

  /** Talks to {@code services} instead of BigQuery: Beam's fakes, in tests. */
  public ReadBigQuery withTestServices(BigQueryServices services) {
    return new ReadBigQuery(table, query, method, services);
  }

  /** What records read by this transform name as their source. */
  public String sourceName() {
    return table != null ? "bigquery:" + table : "bigquery:query";
  }

  @Override
  public void populateDisplayData(DisplayData.Builder builder) {
    super.populateDisplayData(builder);
    builder
        .addIfNotNull(DisplayData.item("table", table).withLabel("BigQuery table"))
        .addIfNotNull(DisplayData.item("query", query).withLabel("BigQuery query"))
        .add(DisplayData.item("method", method.name()).withLabel("Read method"));
  }

  @Override
  public PCollection<RawRecord> expand(PBegin input) {
    String source = sourceName();
    SerializableFunction<SchemaAndRecord, RawRecord> toRecord =
        row -> RawRecord.of(source, NO_POSITION, AvroJson.toJson(row.getRecord()).toString());
    TypedRead<RawRecord> read =
        BigQueryIO.read(toRecord).withCoder(RawRecord.Coder.of()).withMethod(method);
    read = table != null ? read.from(table) : read.fromQuery(query).usingStandardSql();
    if (testServices != null) {
      read = read.withTestServices(testServices).withoutValidation();
    }
    return input.apply("Read", read);
  }
}
