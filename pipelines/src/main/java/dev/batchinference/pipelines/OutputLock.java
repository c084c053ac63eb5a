package dev.batchinference.pipelines;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.io.Serializable;
import java.net.InetAddress;
import java.nio.channels.Channels;
import java.nio.charset.StandardCharsets;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Paths;
import java.nio.file.StandardOpenOption;
import java.time.Instant;
import java.util.List;
import java.util.UUID;
import org.apache.beam.sdk.coders.StringUtf8Coder;
import org.apache.beam.sdk.io.FileSystems;
import org.apache.beam.sdk.io.fs.CreateOptions.StandardCreateOptions;
import org.apache.beam.sdk.io.fs.EmptyMatchTreatment;
import org.apache.beam.sdk.io.fs.MatchResult;
import org.apache.beam.sdk.io.fs.MoveOptions;
import org.apache.beam.sdk.io.fs.ResolveOptions.StandardResolveOptions;
import org.apache.beam.sdk.io.fs.ResourceId;
import org.apache.beam.sdk.transforms.DoFn;
import org.apache.beam.sdk.transforms.PTransform;
import org.apache.beam.sdk.transforms.ParDo;
import org.apache.beam.sdk.values.PCollection;
import org.checkerframework.checker.nullness.qual.Nullable;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The lock file {@value #FILE} in a job's output directory, which keeps two runs from writing into
 * one directory at once (each would delete the other's files as stale). The command line takes it
 * after the job's checks and before any data is read, and releases it when the job ends; a job it
 * does not wait for (Dataflow) releases it in its last step, {@link #releaseAtEnd}.
 *
 * <p>The file says who holds it: a run id, the job name, host, process id and start time. Taking it
 * is a create-if-absent: on local disk an exclusive create, on {@code gs://} a create with {@code
 * ifGenerationMatch=0} (elsewhere a check, then a write read back). A lock whose holder ran on this
 * host in a process that no longer exists (a killed run) is removed and taken; any other refuses,
 * with {@link HeldException} naming the file and the holder. {@code --breakLock} removes it first,
 * for a holder known to be gone (a run killed on another machine, a Dataflow job that failed).
 * Releasing removes the file only while it still carries this run's id.
 */
public final class OutputLock implements Serializable {

  /** The lock file's name in the output directory. */
  static final String FILE = ".batch-inference.lock";

  private static final Logger LOG = LoggerFactory.getLogger(OutputLock.class);
  private static final ObjectMapper JSON = new ObjectMapper();

  private final String outputDir;
  private final String runId;
  private final String holder;

  private OutputLock(String outputDir, String runId, String holder) {
    this.outputDir = outputDir;
    this.runId = runId;
    this.holder = holder;
  }

  /** The lock a new run of job {@code jobName} would take in {@code outputDir}; not taken yet. */
  public static OutputLock forRun(String outputDir, String jobName) {
    String runId = UUID.randomUUID().toString();
    ObjectNode holder = JSON.createObjectNode();
    holder.put("run", runId);
    holder.put("job", jobName);
    holder.put("host", hostName());
    holder.put("pid", ProcessHandle.current().pid());
    holder.put("started_at", Instant.now().toString());
    holder.put("output", outputDir);
    return new OutputLock(outputDir, runId, holder.toString());
  }

  /** Another run holds the lock; the message names the lock file, the holder and what to do. */
  public static final class HeldException extends Exception {
    HeldException(String message) {
      super(message);
    }
  }

  public ResourceId file() {
    return FileSystems.matchNewResource(outputDir, true)
        .resolve(FILE, StandardResolveOptions.RESOLVE_FILE);
  }

  String runId() {
    return runId;
  }

  /**
   * Takes the lock, or throws {@link HeldException} when another run holds it. With {@code
   * breakLock}, removes a lock another run left first.
   */
  public void acquire(boolean breakLock) throws HeldException, IOException {
    ResourceId file = file();
    if (breakLock) {
      JsonNode previous = read(file);
      if (previous != null) {
        LOG.warn("--breakLock: removing the lock {} of {}", file, describe(previous));
        delete(file);
      }
    }
    // Twice at most: once more after removing a lock whose holder is gone.
    for (int attempt = 0; attempt < 2; attempt++) {
      if (createIfAbsent(file)) {
        return;
      }
      JsonNode other = read(file);
      if (other == null) {
        continue; // released between our create and our read: try again
      }
      if (runId.equals(other.path("run").asText())) {
        return;
      }
      if (holderIsGone(other)) {
        LOG.warn(
            "Removing the lock {} of {}: no such process runs on this host any more",
            file,
            describe(other));
        delete(file);
        continue;
      }
      throw new HeldException(
          "another run holds the output lock "
              + file
              + " ("
              + describe(other)
              + "): two runs writing into one output directory delete each other's files. Wait"
              + " for that run to finish or choose another --output; if that run is no longer"
              + " running (killed on another machine, a Dataflow job that failed), run again"
              + " with --breakLock.");
    }
    throw new HeldException(
        "cannot take the output lock " + file + ": other runs keep taking and releasing it");
  }

  /** Removes the lock if it is still this run's; does nothing otherwise. */
  public void release() {
    ResourceId file = file();
    try {
      JsonNode current = read(file);
      if (current != null && runId.equals(current.path("run").asText())) {
        delete(file);
      }
    } catch (IOException | RuntimeException e) {
      LOG.warn("Cannot remove the output lock {}: {}", file, e.toString());
    }
  }

  /**
   * Releases the lock once its input has an element: applied to the run summary (which is written
   * after every sink), the job's last step, for a job the command line does not wait for.
   */
  Release releaseAtEnd() {
    return new Release(this);
  }

  /** Removes the lock once its input has an element; outputs the run id. */
  static final class Release extends PTransform<PCollection<String>, PCollection<String>> {
    private final transient OutputLock lock;

    Release(OutputLock lock) {
      this.lock = lock;
    }

    @Override
    public PCollection<String> expand(PCollection<String> after) {
      return after
          .apply("RemoveLockFile", ParDo.of(new ReleaseFn(lock)))
          .setCoder(StringUtf8Coder.of());
    }
  }

  /** Removes the lock file if it still carries this run's id; outputs the run id. */
  static final class ReleaseFn extends DoFn<String, String> {
    private final OutputLock lock;

    ReleaseFn(OutputLock lock) {
      this.lock = lock;
    }

    @ProcessElement
    public void processElement(OutputReceiver<String> out) {
      // Safe to run again: a lock already removed, or another run's, is left as it is.
      lock.release();
      out.output(lock.runId);
    }
  }

  /** Writes the lock file unless it exists; whether this call wrote it. */
  private boolean createIfAbsent(ResourceId file) throws IOException {
    byte[] bytes = holder.getBytes(StandardCharsets.UTF_8);
    if (isLocal(file)) {
      try {
        Files.write(
            Paths.get(file.toString()),
            bytes,
            StandardOpenOption.CREATE_NEW,
            StandardOpenOption.WRITE);
        return true;
      } catch (FileAlreadyExistsException e) {
        return false;
      }
    }
    if (exists(file)) {
      return false;
    }
    try (OutputStream out =
        Channels.newOutputStream(
            FileSystems.create(
                file,
                StandardCreateOptions.builder()
                    .setMimeType("application/json")
                    // gs://: ifGenerationMatch=0, so that of two runs only one creates it.
                    .setExpectFileToNotExist(true)
                    .build()))) {
      out.write(bytes);
    } catch (IOException e) {
      if (exists(file)) {
        return false; // another run created it first
      }
      throw e;
    }
    // A file system without create-if-absent lets the last writer win: read back who did.
    JsonNode written = read(file);
    return written != null && runId.equals(written.path("run").asText());
  }

  private static boolean isLocal(ResourceId file) {
    return "file".equals(file.getScheme());
  }

  private static boolean exists(ResourceId file) throws IOException {
    MatchResult match = FileSystems.match(file.toString(), EmptyMatchTreatment.ALLOW);
    return match.status() == MatchResult.Status.OK && !match.metadata().isEmpty();
  }

  /** The lock file's content, or null when there is none (or it is not a lock's JSON). */
  private static @Nullable JsonNode read(ResourceId file) throws IOException {
    if (!exists(file)) {
      return null;
    }
    try (InputStream in = Channels.newInputStream(FileSystems.open(file))) {
      return JSON.readTree(in);
    } catch (NoSuchFileException | java.io.FileNotFoundException e) {
      return null;
    } catch (com.fasterxml.jackson.core.JsonProcessingException e) {
      // A lock written half-way by a killed run: nobody's, so treat it as a lock of unknown holder.
      return JSON.createObjectNode().put("job", "unknown (unreadable lock file)");
    }
  }

  private static void delete(ResourceId file) throws IOException {
    FileSystems.delete(List.of(file), MoveOptions.StandardMoveOptions.IGNORE_MISSING_FILES);
  }

  /** A holder that ran on this host in a process that has ended: a killed run. */
  private static boolean holderIsGone(JsonNode other) {
    if (!other.has("pid") || !hostName().equals(other.path("host").asText())) {
      return false;
    }
    long pid = other.path("pid").asLong();
    return pid != ProcessHandle.current().pid() && ProcessHandle.of(pid).isEmpty();
  }

  private static String describe(JsonNode holder) {
    return String.format(
        "run %s of job '%s' on host %s, pid %s, started %s",
        holder.path("run").asText("?"),
        holder.path("job").asText("?"),
        holder.path("host").asText("?"),
        holder.path("pid").asText("?"),
        holder.path("started_at").asText("?"));
  }

  private static String hostName() {
    try {
      return InetAddress.getLocalHost().getHostName();
    } catch (IOException e) {
      String env = System.getenv("HOSTNAME");
      return env == null ? "unknown" : env;
    }
  }
}
