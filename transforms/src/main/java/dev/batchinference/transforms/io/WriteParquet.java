package dev.batchinference.transforms.io;

import static org.apache.beam.vendor.guava.v32_1_2_jre.com.google.common.base.Preconditions.checkArgument;

import org.apache.avro.generic.GenericRecord;
import org.apache.beam.sdk.extensions.avro.schemas.utils.AvroUtils;
import org.apache.beam.sdk.io.FileIO;
import org.apache.beam.sdk.io.WriteFilesResult;
import org.apache.beam.sdk.io.parquet.ParquetIO;
import org.apache.beam.sdk.schemas.Schema;
import org.apache.beam.sdk.transforms.Contextful;
import org.apache.beam.sdk.transforms.PTransform;
import org.apache.beam.sdk.transforms.SerializableFunction;
import org.apache.beam.sdk.transforms.display.DisplayData;
import org.apache.beam.sdk.values.PCollection;
import org.apache.beam.sdk.values.Row;

/**
 * Writes rows as Snappy-compressed Parquet files named {@code PREFIX-SSSSS-of-NNNNN.parquet} in a
 * directory (local or any Beam file system), with the Avro schema Beam derives from the rows'
 * schema.
 */
public final class WriteParquet extends PTransform<PCollection<Row>, WriteFilesResult<Void>> {

  private final String directory;
  private final String prefix;
  private final int numShards;

  private WriteParquet(String directory, String prefix, int numShards) {
    this.directory = directory;
    this.prefix = prefix;
    this.numShards = numShards;
  }

  /** Files {@code prefix-*.parquet} in {@code directory}; as many shards as the runner likes. */
  public static WriteParquet to(String directory, String prefix) {
    checkArgument(directory != null && !directory.isEmpty(), "directory must be set");
    checkArgument(prefix != null && !prefix.isEmpty(), "prefix must be set");
    return new WriteParquet(directory, prefix, 0);
  }

  /** A fixed number of files; 1 writes a single file. */
  public WriteParquet withNumShards(int numShards) {
    checkArgument(numShards >= 0, "numShards must be >= 0");
    return new WriteParquet(directory, prefix, numShards);
  }

  @Override
  public void populateDisplayData(DisplayData.Builder builder) {
    super.populateDisplayData(builder);
    builder
        .add(DisplayData.item("directory", directory).withLabel("Output directory"))
        .add(DisplayData.item("prefix", prefix).withLabel("File name prefix"))
        .addIfNotDefault(DisplayData.item("numShards", numShards).withLabel("Number of files"), 0);
  }

  @Override
  public WriteFilesResult<Void> expand(PCollection<Row> rows) {
    Schema schema = rows.getSchema();
    org.apache.avro.Schema avro = AvroUtils.toAvroSchema(schema);
    SerializableFunction<Row, GenericRecord> toAvro = AvroUtils.getRowToGenericRecordFunction(avro);
    FileIO.Write<Void, Row> write =
        FileIO.<Row>write()
            .via(Contextful.fn(toAvro), ParquetIO.sink(avro))
            .to(directory)
            .withPrefix(prefix)
            .withSuffix(".parquet");
    if (numShards > 0) {
      write = write.withNumShards(numShards);
    }
    return rows.apply("WriteFiles", write);
  }
}
