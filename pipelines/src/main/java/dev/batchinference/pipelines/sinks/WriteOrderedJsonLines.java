package dev.batchinference.pipelines.sinks;

import dev.batchinference.transforms.Prediction;
import dev.batchinference.transforms.RecordMeta;
import dev.batchinference.transforms.io.JsonLines;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.channels.Channels;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import org.apache.beam.sdk.coders.KvCoder;
import org.apache.beam.sdk.coders.StringUtf8Coder;
import org.apache.beam.sdk.coders.VarIntCoder;
import org.apache.beam.sdk.coders.VarLongCoder;
import org.apache.beam.sdk.io.FileSystems;
import org.apache.beam.sdk.io.fs.ResolveOptions.StandardResolveOptions;
import org.apache.beam.sdk.io.fs.ResourceId;
import org.apache.beam.sdk.transforms.DoFn;
import org.apache.beam.sdk.transforms.Flatten;
import org.apache.beam.sdk.transforms.GroupByKey;
import org.apache.beam.sdk.transforms.MapElements;
import org.apache.beam.sdk.transforms.PTransform;
import org.apache.beam.sdk.transforms.ParDo;
import org.apache.beam.sdk.transforms.WithKeys;
import org.apache.beam.sdk.transforms.display.DisplayData;
import org.apache.beam.sdk.values.KV;
import org.apache.beam.sdk.values.PCollection;
import org.apache.beam.sdk.values.PCollectionList;
import org.apache.beam.sdk.values.TypeDescriptor;
import org.apache.beam.sdk.values.TypeDescriptors;
import org.checkerframework.checker.nullness.qual.Nullable;

/**
 * Writes predictions as JSON Lines in the order of the input: input file by input file (in the
 * order of their names), record by record. Each input file's predictions are sorted by record index
 * on one worker, in memory, and written as shard {@code predictions-RRRRR-of-NNNNN.jsonl}, where R
 * is the input file's rank and N the number of input files (an input file without predictions gets
 * an empty shard), so the shards' concatenation is in input order whatever the parallelism. With a
 * single output file, the shards are concatenated into {@code predictions.jsonl} at the end. Its
 * output is the names of the files written.
 */
public final class WriteOrderedJsonLines
    extends PTransform<PCollection<Prediction>, PCollection<String>> {

  private final String outputDir;
  private final List<String> inputFiles;
  private final boolean singleFile;
  private final @Nullable String settingsSha256;
  private final @Nullable PCollection<KV<RecordMeta, Prediction>> carried;

  /**
   * @param inputFiles the job's input files as the reader names them, in name order
   */
  WriteOrderedJsonLines(String outputDir, List<String> inputFiles, boolean singleFile) {
    this(outputDir, inputFiles, singleFile, null, null);
  }

  private WriteOrderedJsonLines(
      String outputDir,
      List<String> inputFiles,
      boolean singleFile,
      @Nullable String settingsSha256,
      @Nullable PCollection<KV<RecordMeta, Prediction>> carried) {
    this.outputDir = outputDir;
    this.inputFiles = List.copyOf(inputFiles);
    this.singleFile = singleFile;
    this.settingsSha256 = settingsSha256;
    this.carried = carried;
  }

  /** Writes {@code settings_sha256} into each new prediction (see {@link JsonLines}). */
  WriteOrderedJsonLines withSettingsSha256(String settingsSha256) {
    return new WriteOrderedJsonLines(outputDir, inputFiles, singleFile, settingsSha256, carried);
  }

  /**
   * Also writes an incremental run's carried-forward predictions, unchanged, each in the place of
   * the record (of this run's input) it stands for.
   */
  WriteOrderedJsonLines withCarriedForward(PCollection<KV<RecordMeta, Prediction>> carried) {
    return new WriteOrderedJsonLines(outputDir, inputFiles, singleFile, settingsSha256, carried);
  }

  @Override
  public void populateDisplayData(DisplayData.Builder builder) {
    super.populateDisplayData(builder);
    builder
        .add(DisplayData.item("directory", outputDir).withLabel("Output directory"))
        .add(DisplayData.item("inputFiles", inputFiles.size()).withLabel("Input files, in order"))
        .add(DisplayData.item("singleFile", singleFile).withLabel("One file"));
  }

  @Override
  public PCollection<String> expand(PCollection<Prediction> predictions) {
    String tempDir = ".ordered-" + UUID.randomUUID();
    String settings = settingsSha256;
    TypeDescriptor<KV<String, KV<Long, String>>> placed =
        TypeDescriptors.kvs(
            TypeDescriptors.strings(),
            TypeDescriptors.kvs(TypeDescriptors.longs(), TypeDescriptors.strings()));
    KvCoder<String, KV<Long, String>> placedCoder =
        KvCoder.of(StringUtf8Coder.of(), KvCoder.of(VarLongCoder.of(), StringUtf8Coder.of()));
    PCollectionList<KV<String, KV<Long, String>>> lines =
        PCollectionList.of(
            predictions
                .apply(
                    "BySource",
                    MapElements.into(placed)
                        .via(
                            (Prediction p) ->
                                KV.of(
                                    p.meta().source(),
                                    KV.of(p.meta().index(), JsonLines.prediction(p, settings)))))
                .setCoder(placedCoder));
    if (carried != null) {
      lines =
          lines.and(
              carried
                  .apply(
                      "CarriedBySource",
                      MapElements.into(placed)
                          .via(
                              (KV<RecordMeta, Prediction> c) ->
                                  KV.of(
                                      c.getKey().source(),
                                      KV.of(
                                          c.getKey().index(),
                                          JsonLines.prediction(c.getValue(), settings)))))
                  .setCoder(placedCoder));
    }
    return lines
        .apply("AllLines", Flatten.pCollections())
        .apply("GroupBySource", GroupByKey.create())
        .apply("WriteSortedShards", ParDo.of(new WriteShardFn(outputDir, tempDir, inputFiles)))
        .setCoder(KvCoder.of(VarIntCoder.of(), StringUtf8Coder.of()))
        .apply("OneKey", WithKeys.of(0))
        .setCoder(KvCoder.of(VarIntCoder.of(), KvCoder.of(VarIntCoder.of(), StringUtf8Coder.of())))
        .apply("AllShards", GroupByKey.create())
        .apply(
            "Publish", ParDo.of(new PublishFn(outputDir, tempDir, inputFiles.size(), singleFile)))
        .setCoder(StringUtf8Coder.of());
  }

  /** Sorts one input file's predictions by index and writes them to a temporary shard. */
  static final class WriteShardFn
      extends DoFn<KV<String, Iterable<KV<Long, String>>>, KV<Integer, String>> {
    private final String outputDir;
    private final String tempDir;
    private final List<String> inputFiles;

    WriteShardFn(String outputDir, String tempDir, List<String> inputFiles) {
      this.outputDir = outputDir;
      this.tempDir = tempDir;
      this.inputFiles = inputFiles;
    }

    @ProcessElement
    public void processElement(
        @Element KV<String, Iterable<KV<Long, String>>> source,
        OutputReceiver<KV<Integer, String>> out)
        throws IOException {
      int rank = inputFiles.indexOf(source.getKey());
      if (rank < 0) {
        throw new IllegalStateException(
            "predictions from " + source.getKey() + ", which is not among the input files");
      }
      List<KV<Long, String>> lines = new ArrayList<>();
      source.getValue().forEach(lines::add);
      lines.sort(Comparator.comparing(KV::getKey));
      ResourceId shard = temp(outputDir, tempDir, rank);
      try (OutputStream os =
          Channels.newOutputStream(FileSystems.create(shard, "application/jsonl"))) {
        for (KV<Long, String> line : lines) {
          os.write(line.getValue().getBytes(StandardCharsets.UTF_8));
          os.write('\n');
        }
      }
      out.output(KV.of(rank, shard.toString()));
    }
  }

  public static ResourceId temp(String outputDir, String tempDir, int rank) {
    return TempFiles.directory(outputDir, tempDir)
        .resolve(String.format("%05d.jsonl", rank), StandardResolveOptions.RESOLVE_FILE);
  }

  /**
   * Renames the shards into place (or concatenates them into one file) in input order. A runner may
   * run it again after an attempt that failed part way (a worker lost, a bundle retried): shards
   * already renamed, or already concatenated and deleted, are then found in place and left as they
   * are, so a second attempt on the same input ends with the same files as one that ran once.
   */
  public static final class PublishFn
      extends DoFn<KV<Integer, Iterable<KV<Integer, String>>>, String> {
    private final String outputDir;
    private final String tempDir;
    private final int inputFiles;
    private final boolean singleFile;

    public PublishFn(String outputDir, String tempDir, int inputFiles, boolean singleFile) {
      this.outputDir = outputDir;
      this.tempDir = tempDir;
      this.inputFiles = inputFiles;
      this.singleFile = singleFile;
    }

    @ProcessElement
    public void processElement(
        @Element KV<Integer, Iterable<KV<Integer, String>>> shards, OutputReceiver<String> out)
        throws IOException {
      Map<Integer, ResourceId> byRank = new java.util.TreeMap<>();
      for (KV<Integer, String> shard : shards.getValue()) {
        byRank.put(shard.getKey(), FileSystems.matchNewResource(shard.getValue(), false));
      }
      ResourceId dir = FileSystems.matchNewResource(outputDir, true);
      List<ResourceId> temps = new ArrayList<>(byRank.values());
      if (singleFile) {
        ResourceId target =
            dir.resolve(Sink.PREDICTIONS + ".jsonl", StandardResolveOptions.RESOLVE_FILE);
        TempFiles.concatenateUnlessDone(temps, target);
        out.output(target.toString());
      } else {
        List<ResourceId> sources = new ArrayList<>();
        List<ResourceId> targets = new ArrayList<>();
        for (int rank = 0; rank < inputFiles; rank++) {
          ResourceId target =
              dir.resolve(
                  String.format("%s-%05d-of-%05d.jsonl", Sink.PREDICTIONS, rank, inputFiles),
                  StandardResolveOptions.RESOLVE_FILE);
          if (byRank.containsKey(rank)) {
            sources.add(byRank.get(rank));
            targets.add(target);
          } else {
            Channels.newOutputStream(FileSystems.create(target, "application/jsonl")).close();
          }
          out.output(target.toString());
        }
        TempFiles.renameUnlessDone(sources, targets);
      }
      TempFiles.deleteDirectory(TempFiles.directory(outputDir, tempDir));
    }
  }
}
