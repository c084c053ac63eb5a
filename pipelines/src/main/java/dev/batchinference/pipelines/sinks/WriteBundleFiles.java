package dev.batchinference.pipelines.sinks;

import java.io.BufferedOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.channels.Channels;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.UUID;
import org.apache.beam.sdk.coders.KvCoder;
import org.apache.beam.sdk.coders.StringUtf8Coder;
import org.apache.beam.sdk.coders.VarIntCoder;
import org.apache.beam.sdk.coders.VarLongCoder;
import org.apache.beam.sdk.io.FileSystems;
import org.apache.beam.sdk.io.fs.ResolveOptions.StandardResolveOptions;
import org.apache.beam.sdk.io.fs.ResourceId;
import org.apache.beam.sdk.transforms.Create;
import org.apache.beam.sdk.transforms.DoFn;
import org.apache.beam.sdk.transforms.Flatten;
import org.apache.beam.sdk.transforms.GroupByKey;
import org.apache.beam.sdk.transforms.PTransform;
import org.apache.beam.sdk.transforms.ParDo;
import org.apache.beam.sdk.transforms.SerializableFunction;
import org.apache.beam.sdk.transforms.display.DisplayData;
import org.apache.beam.sdk.transforms.windowing.BoundedWindow;
import org.apache.beam.sdk.transforms.windowing.GlobalWindow;
import org.apache.beam.sdk.values.KV;
import org.apache.beam.sdk.values.PCollection;
import org.apache.beam.sdk.values.PCollectionList;
import org.checkerframework.checker.nullness.qual.Nullable;

/**
 * Writes lines to {@code name-SSSSS-of-NNNNN.jsonl} in a directory, in any order: each bundle into
 * a temporary file of its own, then one step publishes them all, in the order of their temporary
 * names. A file of {@link #FILE_BYTES} or more is renamed into place; smaller ones are concatenated
 * with the next until a file reaches that size (the DirectRunner makes many small bundles: 2,000
 * texts came in 31), so that small outputs are few files and large ones are renamed, not copied. An
 * input with no lines gives one empty file. The same files as {@code TextIO.write()} with the
 * runner's sharding, which goes through Beam's {@code WriteFiles}: about 22 steps, a side input and
 * two reshuffles, each of which costs the job start-up time on Flink and the DirectRunner (2 s per
 * write, measured on 100 records); this is 6, the formatting of each line included. A bundle that
 * fails leaves its temporary file unreported and it is removed with the temporary directory; the
 * publishing step can run again after an attempt that failed part way ({@link
 * TempFiles#renameUnlessDone}, {@link TempFiles#concatenateUnlessDone}). Its output is the names of
 * the files written.
 */
public final class WriteBundleFiles<T> extends PTransform<PCollection<T>, PCollection<String>> {

  private final String directory;
  private final String name;
  private final SerializableFunction<T, String> format;

  /**
   * Each element as the line {@code format} makes of it, into {@code directory}{@code
   * name}-SSSSS-of-NNNNN.jsonl.
   */
  public WriteBundleFiles(String directory, String name, SerializableFunction<T, String> format) {
    this.directory = directory;
    this.name = name;
    this.format = format;
  }

  @Override
  public void populateDisplayData(DisplayData.Builder builder) {
    super.populateDisplayData(builder);
    builder.add(
        DisplayData.item("files", directory + name + "-*.jsonl").withLabel("Files written"));
  }

  /** The size from which a file is published as it is; smaller ones are joined up to it. */
  static final long FILE_BYTES = 64L << 20;

  @Override
  public PCollection<String> expand(PCollection<T> records) {
    String tempDir = ".bundles-" + UUID.randomUUID();
    KvCoder<Integer, KV<String, Long>> coder =
        KvCoder.of(VarIntCoder.of(), KvCoder.of(StringUtf8Coder.of(), VarLongCoder.of()));
    PCollection<KV<Integer, KV<String, Long>>> temps =
        records
            .apply("WriteBundles", ParDo.of(new WriteBundleFn<>(directory, tempDir, format)))
            .setCoder(coder);
    // One element whatever the input, so that the renaming step runs for an empty input too.
    PCollection<KV<Integer, KV<String, Long>>> always =
        records
            .getPipeline()
            .apply("Always", Create.of(KV.of(0, KV.of(NONE, 0L))).withCoder(coder));
    return PCollectionList.of(temps)
        .and(always)
        .apply("AllBundles", Flatten.pCollections())
        .apply("GatherBundles", GroupByKey.create())
        .apply("Publish", ParDo.of(new PublishFn(directory, tempDir, name, FILE_BYTES)))
        .setCoder(StringUtf8Coder.of());
  }

  /** Not a file: the element that makes the renaming step run. */
  static final String NONE = "";

  /**
   * Writes each bundle's lines into a temporary file; outputs its name and size, under the one key
   * of the publishing step, when the bundle ends.
   */
  static final class WriteBundleFn<T> extends DoFn<T, KV<Integer, KV<String, Long>>> {
    private final String directory;
    private final String tempDir;
    private final SerializableFunction<T, String> format;
    private transient @Nullable ResourceId file;
    private transient @Nullable OutputStream out;
    private transient long bytes;

    WriteBundleFn(String directory, String tempDir, SerializableFunction<T, String> format) {
      this.directory = directory;
      this.tempDir = tempDir;
      this.format = format;
    }

    @StartBundle
    public void startBundle() {
      file = null;
      out = null;
      bytes = 0;
    }

    @ProcessElement
    public void processElement(@Element T record, BoundedWindow window) throws IOException {
      if (!(window instanceof GlobalWindow)) {
        throw new IllegalStateException("writes the global window only, got " + window);
      }
      if (out == null) {
        file =
            TempFiles.directory(directory, tempDir)
                .resolve(UUID.randomUUID() + ".jsonl", StandardResolveOptions.RESOLVE_FILE);
        out =
            new BufferedOutputStream(
                Channels.newOutputStream(FileSystems.create(file, "application/jsonl")), 1 << 16);
      }
      byte[] line = format.apply(record).getBytes(StandardCharsets.UTF_8);
      out.write(line);
      out.write('\n');
      bytes += line.length + 1;
    }

    @FinishBundle
    public void finishBundle(FinishBundleContext context) throws IOException {
      if (out != null) {
        out.close();
        context.output(
            KV.of(0, KV.of(String.valueOf(file), bytes)),
            GlobalWindow.INSTANCE.maxTimestamp(),
            GlobalWindow.INSTANCE);
      }
      file = null;
      out = null;
    }
  }

  /**
   * Publishes the bundles' files in the order of their names (so a second attempt on the same input
   * makes the same files): each run of files that reaches {@code fileBytes} (or the last run) is
   * one output file, renamed if it is one temporary file, else concatenated. Then removes the
   * temporary directory.
   */
  static final class PublishFn extends DoFn<KV<Integer, Iterable<KV<String, Long>>>, String> {
    private final String directory;
    private final String tempDir;
    private final String name;
    private final long fileBytes;

    PublishFn(String directory, String tempDir, String name, long fileBytes) {
      this.directory = directory;
      this.tempDir = tempDir;
      this.name = name;
      this.fileBytes = fileBytes;
    }

    @ProcessElement
    public void processElement(
        @Element KV<Integer, Iterable<KV<String, Long>>> bundles, OutputReceiver<String> out)
        throws IOException {
      List<KV<String, Long>> written = new ArrayList<>();
      for (KV<String, Long> bundle : bundles.getValue()) {
        if (!bundle.getKey().equals(NONE)) {
          written.add(bundle);
        }
      }
      written.sort(java.util.Comparator.comparing(KV::getKey));
      List<List<ResourceId>> files = new ArrayList<>();
      List<ResourceId> run = new ArrayList<>();
      long runBytes = 0;
      for (KV<String, Long> bundle : written) {
        run.add(FileSystems.matchNewResource(bundle.getKey(), false));
        runBytes += bundle.getValue();
        if (runBytes >= fileBytes) {
          files.add(run);
          run = new ArrayList<>();
          runBytes = 0;
        }
      }
      if (!run.isEmpty() || files.isEmpty()) {
        files.add(run);
      }
      ResourceId dir = FileSystems.matchNewResource(directory, true);
      List<ResourceId> sources = new ArrayList<>();
      List<ResourceId> targets = new ArrayList<>();
      for (int shard = 0; shard < files.size(); shard++) {
        ResourceId target =
            dir.resolve(
                String.format("%s-%05d-of-%05d.jsonl", name, shard, files.size()),
                StandardResolveOptions.RESOLVE_FILE);
        List<ResourceId> parts = files.get(shard);
        if (parts.isEmpty()) {
          Channels.newOutputStream(FileSystems.create(target, "application/jsonl")).close();
        } else if (parts.size() == 1) {
          sources.add(parts.get(0));
          targets.add(target);
        } else {
          TempFiles.concatenateUnlessDone(parts, target);
        }
        out.output(target.toString());
      }
      TempFiles.renameUnlessDone(sources, targets);
      TempFiles.deleteDirectory(TempFiles.directory(directory, tempDir));
    }
  }
}
