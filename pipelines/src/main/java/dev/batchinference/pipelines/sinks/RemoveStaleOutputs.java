package dev.batchinference.pipelines.sinks;

import java.io.IOException;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.regex.Pattern;
import org.apache.beam.sdk.coders.KvCoder;
import org.apache.beam.sdk.coders.StringUtf8Coder;
import org.apache.beam.sdk.coders.VarIntCoder;
import org.apache.beam.sdk.io.FileSystems;
import org.apache.beam.sdk.io.fs.EmptyMatchTreatment;
import org.apache.beam.sdk.io.fs.MatchResult;
import org.apache.beam.sdk.io.fs.MoveOptions;
import org.apache.beam.sdk.io.fs.ResolveOptions.StandardResolveOptions;
import org.apache.beam.sdk.io.fs.ResourceId;
import org.apache.beam.sdk.metrics.Counter;
import org.apache.beam.sdk.metrics.Metrics;
import org.apache.beam.sdk.transforms.DoFn;
import org.apache.beam.sdk.transforms.GroupByKey;
import org.apache.beam.sdk.transforms.PTransform;
import org.apache.beam.sdk.transforms.ParDo;
import org.apache.beam.sdk.transforms.WithKeys;
import org.apache.beam.sdk.transforms.display.DisplayData;
import org.apache.beam.sdk.values.KV;
import org.apache.beam.sdk.values.PCollection;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Makes a re-run to the same output directory replace the previous run's files instead of adding to
 * them: once this run's predictions and failures are written (the sinks write to temporary files
 * and rename them into place), deletes the job's output files there that this run did not write,
 * such as {@code predictions-00003-of-00004.jsonl} left from a run with more shards. Only names the
 * job itself gives ({@code predictions} or {@code failures}, optional shard suffix, {@code .jsonl}
 * or {@code .parquet}) are touched.
 *
 * <p>Its output is the number of files removed.
 */
public final class RemoveStaleOutputs extends PTransform<PCollection<String>, PCollection<Long>> {

  static final Pattern OUTPUT_NAME =
      Pattern.compile("^(predictions|failures)(-\\d+-of-\\d+)?\\.(jsonl|parquet)$");

  private final String outputDir;

  public RemoveStaleOutputs(String outputDir) {
    this.outputDir = outputDir;
  }

  @Override
  public void populateDisplayData(DisplayData.Builder builder) {
    super.populateDisplayData(builder);
    builder.add(DisplayData.item("directory", outputDir).withLabel("Output directory"));
  }

  @Override
  public PCollection<Long> expand(PCollection<String> written) {
    return written
        .apply("OneKey", WithKeys.of(0))
        .setCoder(KvCoder.of(VarIntCoder.of(), StringUtf8Coder.of()))
        .apply("AllWritten", GroupByKey.create())
        .apply("DeleteOthers", ParDo.of(new DeleteFn(outputDir)));
  }

  static final class DeleteFn extends DoFn<KV<Integer, Iterable<String>>, Long> {
    /** The temporary directory Beam's FileIO (Parquet) leaves behind, empty, on local disk. */
    private static final String FILEIO_TEMP = ".temp-beam";

    private static final Logger LOG = LoggerFactory.getLogger(RemoveStaleOutputs.class);
    private final String outputDir;
    private final Counter removed =
        Metrics.counter(RemoveStaleOutputs.class, "stale_files_removed");

    DeleteFn(String outputDir) {
      this.outputDir = outputDir;
    }

    @ProcessElement
    public void processElement(
        @Element KV<Integer, Iterable<String>> writtenNames, OutputReceiver<Long> out)
        throws IOException {
      Set<String> written = new HashSet<>();
      writtenNames.getValue().forEach(written::add);
      List<ResourceId> stale = new ArrayList<>();
      for (String prefix : List.of(Sink.PREDICTIONS, Sink.FAILURES)) {
        MatchResult match =
            FileSystems.match(
                FileSystems.matchNewResource(outputDir, true)
                    .resolve(prefix + "*", StandardResolveOptions.RESOLVE_FILE)
                    .toString(),
                EmptyMatchTreatment.ALLOW);
        if (match.status() != MatchResult.Status.OK) {
          continue;
        }
        for (MatchResult.Metadata file : match.metadata()) {
          ResourceId id = file.resourceId();
          if (OUTPUT_NAME.matcher(id.getFilename()).matches() && !written.contains(id.toString())) {
            stale.add(id);
          }
        }
      }
      if (!stale.isEmpty()) {
        FileSystems.delete(stale, MoveOptions.StandardMoveOptions.IGNORE_MISSING_FILES);
        removed.inc(stale.size());
        LOG.info(
            "Removed {} output files of an earlier run from {}: {}",
            stale.size(),
            outputDir,
            stale);
      }
      removeEmptyTempDirectory();
      out.output((long) stale.size());
    }

    private void removeEmptyTempDirectory() {
      ResourceId temp =
          FileSystems.matchNewResource(outputDir, true)
              .resolve(FILEIO_TEMP, StandardResolveOptions.RESOLVE_DIRECTORY);
      try {
        FileSystems.delete(List.of(temp), MoveOptions.StandardMoveOptions.IGNORE_MISSING_FILES);
      } catch (IOException | RuntimeException e) {
        // Not empty (another job writing here) or not a directory on this file system: leave it.
      }
    }
  }
}
