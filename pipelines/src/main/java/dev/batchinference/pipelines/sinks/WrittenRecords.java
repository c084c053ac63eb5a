package dev.batchinference.pipelines.sinks;

import dev.batchinference.transforms.io.ParquetInput;
import java.io.IOException;
import java.io.InputStream;
import java.nio.channels.Channels;
import java.nio.channels.SeekableByteChannel;
import org.apache.beam.sdk.coders.VarLongCoder;
import org.apache.beam.sdk.io.FileSystems;
import org.apache.beam.sdk.io.fs.ResourceId;
import org.apache.beam.sdk.transforms.DoFn;
import org.apache.beam.sdk.transforms.PTransform;
import org.apache.beam.sdk.transforms.ParDo;
import org.apache.beam.sdk.values.PCollection;
import org.apache.parquet.hadoop.ParquetFileReader;
import org.apache.parquet.io.InputFile;
import org.apache.parquet.io.SeekableInputStream;

/**
 * Counts the records in finalized output files, one count per file name: the rows of a Parquet file
 * (from its footer), the lines of a JSON Lines file. The nothing-lost check counts predictions this
 * way, as the files hold them, not as the job meant to write them.
 */
public final class WrittenRecords extends PTransform<PCollection<String>, PCollection<Long>> {

  private WrittenRecords() {}

  /** One count per file name in the input. */
  static WrittenRecords perFile() {
    return new WrittenRecords();
  }

  @Override
  public PCollection<Long> expand(PCollection<String> files) {
    return files.apply("CountRecords", ParDo.of(new CountFn())).setCoder(VarLongCoder.of());
  }

  /** The number of records in {@code file}, by its extension. */
  static long count(String file) throws IOException {
    ResourceId id = FileSystems.matchNewResource(file, false);
    if (file.endsWith(".parquet")) {
      try (ParquetFileReader reader = ParquetFileReader.open(new BeamInputFile(id))) {
        return reader.getRecordCount();
      }
    }
    long lines = 0;
    int last = '\n';
    byte[] buffer = new byte[1 << 16];
    try (InputStream in = Channels.newInputStream(FileSystems.open(id))) {
      for (int n = in.read(buffer); n >= 0; n = in.read(buffer)) {
        for (int i = 0; i < n; i++) {
          if (buffer[i] == '\n') {
            lines++;
          }
        }
        if (n > 0) {
          last = buffer[n - 1];
        }
      }
    }
    // A last line without its newline is a record too.
    return last == '\n' ? lines : lines + 1;
  }

  static final class CountFn extends DoFn<String, Long> {
    @ProcessElement
    public void processElement(@Element String file, OutputReceiver<Long> out) throws IOException {
      out.output(count(file));
    }
  }

  /** A file of any Beam file system as Parquet's input. */
  private static final class BeamInputFile implements InputFile {
    private final ResourceId id;

    BeamInputFile(ResourceId id) {
      this.id = id;
    }

    @Override
    public long getLength() throws IOException {
      try (SeekableByteChannel channel = (SeekableByteChannel) FileSystems.open(id)) {
        return channel.size();
      }
    }

    @Override
    public SeekableInputStream newStream() throws IOException {
      return ParquetInput.stream((SeekableByteChannel) FileSystems.open(id));
    }
  }
}
