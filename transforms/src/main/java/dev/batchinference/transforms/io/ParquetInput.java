package dev.batchinference.transforms.io;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.Channels;
import java.nio.channels.SeekableByteChannel;
import org.apache.avro.generic.GenericData;
import org.apache.avro.generic.GenericRecord;
import org.apache.beam.sdk.io.FileIO;
import org.apache.hadoop.conf.Configuration;
import org.apache.parquet.avro.AvroParquetReader;
import org.apache.parquet.hadoop.ParquetReader;
import org.apache.parquet.io.DelegatingSeekableInputStream;
import org.apache.parquet.io.InputFile;
import org.apache.parquet.io.SeekableInputStream;

/**
 * A Parquet file read through Beam's file systems (local, {@code gs://}), so that Parquet needs no
 * Hadoop file system: rows come back as Avro records in the file's own schema, in file order.
 */
public final class ParquetInput implements InputFile {

  private final FileIO.ReadableFile file;

  ParquetInput(FileIO.ReadableFile file) {
    this.file = file;
  }

  /** A reader of the file's rows; close it when done. */
  ParquetReader<GenericRecord> open() throws IOException {
    Configuration conf = new Configuration(false);
    return AvroParquetReader.<GenericRecord>builder(this)
        .withDataModel(GenericData.get())
        .withConf(conf)
        .build();
  }

  /** The file's name: Parquet's errors name their input by it. */
  @Override
  public String toString() {
    return file.getMetadata().resourceId().toString();
  }

  @Override
  public long getLength() {
    return file.getMetadata().sizeBytes();
  }

  @Override
  public SeekableInputStream newStream() throws IOException {
    return stream(file.openSeekable());
  }

  /** Parquet's view of a seekable channel: reads, positions and seeks go to the channel. */
  public static SeekableInputStream stream(SeekableByteChannel channel) {
    return new DelegatingSeekableInputStream(Channels.newInputStream(channel)) {
      @Override
      public long getPos() throws IOException {
        return channel.position();
      }

      @Override
      public void seek(long newPos) throws IOException {
        channel.position(newPos);
      }

      @Override
      public int read(ByteBuffer buf) throws IOException {
        return channel.read(buf);
      }
    };
  }
}
