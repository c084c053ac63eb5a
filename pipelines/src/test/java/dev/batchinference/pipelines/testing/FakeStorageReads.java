package dev.batchinference.pipelines.testing;

import com.google.cloud.bigquery.storage.v1.AvroRows;
import com.google.cloud.bigquery.storage.v1.AvroSchema;
import com.google.cloud.bigquery.storage.v1.CreateReadSessionRequest;
import com.google.cloud.bigquery.storage.v1.DataFormat;
import com.google.cloud.bigquery.storage.v1.ReadRowsRequest;
import com.google.cloud.bigquery.storage.v1.ReadRowsResponse;
import com.google.cloud.bigquery.storage.v1.ReadSession;
import com.google.cloud.bigquery.storage.v1.ReadStream;
import com.google.cloud.bigquery.storage.v1.SplitReadStreamRequest;
import com.google.cloud.bigquery.storage.v1.SplitReadStreamResponse;
import com.google.cloud.bigquery.storage.v1.StreamStats;
import com.google.protobuf.ByteString;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.Serializable;
import java.io.UncheckedIOException;
import java.util.List;
import java.util.concurrent.atomic.AtomicInteger;
import org.apache.avro.Schema;
import org.apache.avro.generic.GenericDatumWriter;
import org.apache.avro.generic.GenericRecord;
import org.apache.avro.io.BinaryEncoder;
import org.apache.avro.io.EncoderFactory;
import org.apache.beam.sdk.io.gcp.bigquery.BigQueryServices;
import org.apache.beam.sdk.io.gcp.testing.FakeBigQueryServices.FakeBigQueryServerStream;

/**
 * A Storage Read API that serves one table's rows, for {@code DIRECT_READ} through Beam's BigQuery
 * fakes (which have none): one read session with one stream holding every row, Avro-encoded as the
 * real API sends them. Rows are kept encoded so that the client serializes with the pipeline.
 */
public final class FakeStorageReads implements BigQueryServices.StorageClient, Serializable {

  private static final AtomicInteger SESSIONS = new AtomicInteger();

  private final String schemaJson;
  private final byte[] rows;
  private final long rowCount;

  public FakeStorageReads(Schema schema, List<GenericRecord> records) {
    this.schemaJson = schema.toString();
    this.rowCount = records.size();
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    BinaryEncoder encoder = EncoderFactory.get().binaryEncoder(out, null);
    GenericDatumWriter<GenericRecord> writer = new GenericDatumWriter<>(schema);
    try {
      for (GenericRecord r : records) {
        writer.write(r, encoder);
      }
      encoder.flush();
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
    this.rows = out.toByteArray();
  }

  /** How many read sessions were opened: a test's proof that the Storage Read API was used. */
  public static int sessionsCreated() {
    return SESSIONS.get();
  }

  @Override
  public ReadSession createReadSession(CreateReadSessionRequest request) {
    SESSIONS.incrementAndGet();
    return ReadSession.newBuilder()
        .setName("projects/test/locations/us/sessions/" + SESSIONS.get())
        .setTable(request.getReadSession().getTable())
        .setDataFormat(DataFormat.AVRO)
        .setAvroSchema(AvroSchema.newBuilder().setSchema(schemaJson))
        .addStreams(ReadStream.newBuilder().setName("streams/0"))
        .build();
  }

  @Override
  public BigQueryServices.BigQueryServerStream<ReadRowsResponse> readRows(ReadRowsRequest request) {
    ReadRowsResponse response =
        ReadRowsResponse.newBuilder()
            .setAvroRows(AvroRows.newBuilder().setSerializedBinaryRows(ByteString.copyFrom(rows)))
            .setRowCount(rowCount)
            .setStats(
                StreamStats.newBuilder()
                    .setProgress(
                        StreamStats.Progress.newBuilder()
                            .setAtResponseStart(0.0)
                            .setAtResponseEnd(1.0)))
            .build();
    return new FakeBigQueryServerStream<>(List.of(response));
  }

  @Override
  public BigQueryServices.BigQueryServerStream<ReadRowsResponse> readRows(
      ReadRowsRequest request, String fullTableId) {
    return readRows(request);
  }

  @Override
  public SplitReadStreamResponse splitReadStream(SplitReadStreamRequest request) {
    return SplitReadStreamResponse.getDefaultInstance();
  }

  @Override
  public SplitReadStreamResponse splitReadStream(
      SplitReadStreamRequest request, String fullTableId) {
    return splitReadStream(request);
  }

  @Override
  public void close() {}
}
