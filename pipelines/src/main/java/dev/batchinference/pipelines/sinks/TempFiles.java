package dev.batchinference.pipelines.sinks;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.channels.Channels;
import java.util.ArrayList;
import java.util.List;
import org.apache.beam.sdk.io.FileSystems;
import org.apache.beam.sdk.io.fs.MatchResult;
import org.apache.beam.sdk.io.fs.MoveOptions;
import org.apache.beam.sdk.io.fs.ResolveOptions.StandardResolveOptions;
import org.apache.beam.sdk.io.fs.ResourceId;

/**
 * Publishing files written to a temporary directory, as the job's file sinks do: renames that a
 * second attempt can repeat (a rename already done is found in place), and the removal of the
 * temporary directory with whatever a failed attempt left in it.
 */
final class TempFiles {

  private TempFiles() {}

  /** The temporary directory {@code name} in the output directory {@code directory}. */
  static ResourceId directory(String directory, String name) {
    return FileSystems.matchNewResource(directory, true)
        .resolve(name, StandardResolveOptions.RESOLVE_DIRECTORY);
  }

  /**
   * Renames each of {@code sources} still there to its target; a source that is gone must have been
   * renamed by an earlier attempt, so its target must exist (else the file is lost: fail).
   */
  static void renameUnlessDone(List<ResourceId> sources, List<ResourceId> targets)
      throws IOException {
    List<ResourceId> present = existing(sources);
    List<ResourceId> from = new ArrayList<>();
    List<ResourceId> to = new ArrayList<>();
    List<ResourceId> done = new ArrayList<>();
    for (int i = 0; i < sources.size(); i++) {
      if (present.contains(sources.get(i))) {
        from.add(sources.get(i));
        to.add(targets.get(i));
      } else {
        done.add(targets.get(i));
      }
    }
    List<ResourceId> renamed = existing(done);
    if (renamed.size() != done.size()) {
      throw new IOException(
          "cannot publish "
              + missing(done, renamed)
              + ": neither the file nor its shard in the temporary directory exists");
    }
    FileSystems.rename(from, to);
  }

  /**
   * Concatenates {@code sources} into {@code target}, then deletes them. A second attempt finds
   * either every source (the first died before it deleted any: the target is written again) or the
   * target written whole (it died while deleting the sources: the rest go); a source gone with no
   * target means a file is lost, and fails.
   */
  static void concatenateUnlessDone(List<ResourceId> sources, ResourceId target)
      throws IOException {
    List<ResourceId> present = existing(sources);
    if (present.size() == sources.size()) {
      try (OutputStream os =
          Channels.newOutputStream(FileSystems.create(target, "application/jsonl"))) {
        for (ResourceId source : sources) {
          try (InputStream in = Channels.newInputStream(FileSystems.open(source))) {
            in.transferTo(os);
          }
        }
      }
    } else if (!exists(target)) {
      throw new IOException(
          "cannot publish "
              + target
              + ": files "
              + missing(sources, present)
              + " are gone and it was never written");
    }
    FileSystems.delete(present, MoveOptions.StandardMoveOptions.IGNORE_MISSING_FILES);
  }

  static boolean exists(ResourceId file) throws IOException {
    return !existing(List.of(file)).isEmpty();
  }

  /** The files of {@code files} that exist, in the same order. */
  static List<ResourceId> existing(List<ResourceId> files) throws IOException {
    List<ResourceId> found = new ArrayList<>();
    if (files.isEmpty()) {
      return found;
    }
    List<String> specs = new ArrayList<>();
    files.forEach(f -> specs.add(f.toString()));
    List<MatchResult> matches = FileSystems.match(specs);
    for (int i = 0; i < files.size(); i++) {
      MatchResult match = matches.get(i);
      if (match.status() == MatchResult.Status.OK) {
        found.add(files.get(i));
      } else if (match.status() != MatchResult.Status.NOT_FOUND) {
        throw new IOException("cannot tell whether " + files.get(i) + " exists: " + match);
      }
    }
    return found;
  }

  static List<ResourceId> missing(List<ResourceId> all, List<ResourceId> present) {
    List<ResourceId> gone = new ArrayList<>(all);
    gone.removeAll(present);
    return gone;
  }

  /**
   * Removes the temporary directory {@code dir} and the files left in it (those of attempts that
   * failed); best effort: what cannot be removed is left, the published files stand.
   */
  static void deleteDirectory(ResourceId dir) {
    try {
      MatchResult left = FileSystems.match(dir + "*");
      if (left.status() == MatchResult.Status.OK) {
        List<ResourceId> files = new ArrayList<>();
        left.metadata().forEach(m -> files.add(m.resourceId()));
        FileSystems.delete(files, MoveOptions.StandardMoveOptions.IGNORE_MISSING_FILES);
      }
      FileSystems.delete(List.of(dir), MoveOptions.StandardMoveOptions.IGNORE_MISSING_FILES);
    } catch (IOException | RuntimeException e) {
      // An object store has no directory to remove.
    }
  }
}
