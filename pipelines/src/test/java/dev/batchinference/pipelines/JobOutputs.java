package dev.batchinference.pipelines;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/** Reads what a job wrote to its output directory. */
public final class JobOutputs {

  private static final ObjectMapper JSON = new ObjectMapper();

  public final List<JsonNode> predictions;
  public final List<JsonNode> failures;
  public final JsonNode summary;

  private JobOutputs(List<JsonNode> predictions, List<JsonNode> failures, JsonNode summary) {
    this.predictions = predictions;
    this.failures = failures;
    this.summary = summary;
  }

  public static JobOutputs read(Path dir) throws IOException {
    return new JobOutputs(
        lines(dir, BatchInference.PREDICTIONS + "*.jsonl"),
        lines(dir, BatchInference.FAILURES + "*.jsonl"),
        JSON.readTree(dir.resolve(BatchInference.SUMMARY).toFile()));
  }

  static List<JsonNode> lines(Path dir, String glob) throws IOException {
    List<JsonNode> out = new ArrayList<>();
    try (DirectoryStream<Path> files = Files.newDirectoryStream(dir, glob)) {
      for (Path file : files) {
        for (String line : Files.readAllLines(file)) {
          if (!line.isEmpty()) {
            out.add(JSON.readTree(line));
          }
        }
      }
    }
    return out;
  }

  /** Predictions by id. */
  Map<String, JsonNode> predictionsById() {
    Map<String, JsonNode> byId = new LinkedHashMap<>();
    for (JsonNode p : predictions) {
      byId.put(p.get("id").asText(), p);
    }
    return byId;
  }

  /** Failures by id (or source index for failures without id). */
  Map<String, JsonNode> failuresByKey() {
    Map<String, JsonNode> byKey = new LinkedHashMap<>();
    for (JsonNode f : failures) {
      String key = f.get("id").isNull() ? "#" + f.get("index").asLong() : f.get("id").asText();
      byKey.put(key, f);
    }
    return byKey;
  }
}
