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
 * a temporary file of its own, then one step renames them all into place, numbered in the order of
 * their temporary names (an input with no lines gives one empty file). The same files as {@code
 * TextIO.write()} with the runner's sharding, which goes through Beam's {@code WriteFiles}: about
 * 22 steps, a side input and two reshuffles, each of which costs the job start-up time on Flink and
 * the DirectRunner (2 s per write, measured on 100 records); this is 6, the formatting of each line
 * included. A bundle that fails leaves its temporary file unreported and it is removed with the
 * temporary directory; the renaming step can run again after an attempt that failed part way
 * ({@link TempFiles#renameUnlessDone}). Its output is the names of the files written.
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

  @Override
  public PCollection<String> expand(PCollection<T> records) {
    String tempDir = ".bundles-" + UUID.randomUUID();
    KvCoder<Integer, String> coder = KvCoder.of(VarIntCoder.of(), StringUtf8Coder.of());
    PCollection<KV<Integer, String>> temps =
        records
            .apply("WriteBundles", ParDo.of(new WriteBundleFn<>(directory, tempDir, format)))
            .setCoder(coder);
    // One element whatever the input, so that the renaming step runs for an empty input too.
    PCollection<KV<Integer, String>> always =
        records.getPipeline().apply("Always", Create.of(KV.of(0, NONE)).withCoder(coder));
    return PCollectionList.of(temps)
        .and(always)
        .apply("AllBundles", Flatten.pCollections())
        .apply("GatherBundles", GroupByKey.create())
        .apply("Publish", ParDo.of(new PublishFn(directory, tempDir, name)))
        .setCoder(StringUtf8Coder.of());
  }

  /** Not a file: the element that makes the renaming step run. */
  static final String NONE = "";

  static ResourceId tempDir(String directory, String tempDir) {
    return FileSystems.matchNewResource(directory, true)
        .resolve(tempDir, StandardResolveOptions.RESOLVE_DIRECTORY);
  }

  /**
   * Writes each bundle's lines into a temporary file; outputs its name, under the one key of the
   * renaming step, when the bundle ends.
   */
  static final class WriteBundleFn<T> extends DoFn<T, KV<Integer, String>> {
    private final String directory;
    private final String tempDir;
    private final SerializableFunction<T, String> format;
    private transient @Nullable ResourceId file;
    private transient @Nullable OutputStream out;

    WriteBundleFn(String directory, String tempDir, SerializableFunction<T, String> format) {
      this.directory = directory;
      this.tempDir = tempDir;
      this.format = format;
    }

    @StartBundle
    public void startBundle() {
      file = null;
      out = null;
    }

    @ProcessElement
    public void processElement(@Element T record, BoundedWindow window) throws IOException {
      if (!(window instanceof GlobalWindow)) {
        throw new IllegalStateException("writes the global window only, got " + window);
      }
      if (out == null) {
        file =
            tempDir(directory, tempDir)
                .resolve(UUID.randomUUID() + ".jsonl", StandardResolveOptions.RESOLVE_FILE);
        out =
            new BufferedOutputStream(
                Channels.newOutputStream(FileSystems.create(file, "application/jsonl")), 1 << 16);
      }
      out.write(format.apply(record).getBytes(StandardCharsets.UTF_8));
      out.write('\n');
    }

    @FinishBundle
    public void finishBundle(FinishBundleContext context) throws IOException {
      if (out != null) {
        out.close();
        context.output(
            KV.of(0, String.valueOf(file)),
            GlobalWindow.INSTANCE.maxTimestamp(),
            GlobalWindow.INSTANCE);
      }
      file = null;
      out = null;
    }
  }

  /**
   * Renames the bundles' files into place, numbered in the order of their names (so a second
   * attempt on the same input names them the same), and removes the temporary directory.
   */
  static final class PublishFn extends DoFn<KV<Integer, Iterable<String>>, String> {
    private final String directory;
    private final String tempDir;
    private final String name;

    PublishFn(String directory, String tempDir, String name) {
      this.directory = directory;
      this.tempDir = tempDir;
      this.name = name;
    }

    @ProcessElement
    public void processElement(
        @Element KV<Integer, Iterable<String>> bundles, OutputReceiver<String> out)
        throws IOException {
      List<String> names = new ArrayList<>();
      for (String bundle : bundles.getValue()) {
        if (!bundle.equals(NONE)) {
          names.add(bundle);
        }
      }
      names.sort(null);
      ResourceId dir = FileSystems.matchNewResource(directory, true);
      int shards = Math.max(1, names.size());
      List<ResourceId> sources = new ArrayList<>();
      List<ResourceId> targets = new ArrayList<>();
      for (int shard = 0; shard < shards; shard++) {
        ResourceId target =
            dir.resolve(
                String.format("%s-%05d-of-%05d.jsonl", name, shard, shards),
                StandardResolveOptions.RESOLVE_FILE);
        if (names.isEmpty()) {
          Channels.newOutputStream(FileSystems.create(target, "application/jsonl")).close();
        } else {
          sources.add(FileSystems.matchNewResource(names.get(shard), false));
          targets.add(target);
        }
        out.output(target.toString());
      }
      TempFiles.renameUnlessDone(sources, targets);
      TempFiles.deleteDirectory(tempDir(directory, tempDir));
    }
  }
}
