package dev.batchinference.benchmarks;

import java.io.BufferedReader;
import java.io.BufferedWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Map;

/**
 * The plain Java loop a user would write instead of the job, as its own program so that the compare
 * workload runs it in a fresh JVM like every other variant: read the JSON lines, batch them, run
 * the model, write one JSON line per record to {@code OUTPUT/predictions.jsonl}. One thread (plus
 * ONNX Runtime's intra-op threads).
 *
 * <pre>
 * PlainLoop --task=fashion --input=DIR_OR_FILE --output=DIR --model=M.onnx --labels=L.txt
 *           --batch=64 --threads=2
 * PlainLoop --task=text --input=F.jsonl --output=DIR --model=classpath:... --tokenizer=classpath:...
 *           --batch=32 --maxTokens=256 --threads=2 [--order=sorted]
 * </pre>
 *
 * <p>{@code --order=sorted} (text only) is the padding-free limit: every text is tokenized first
 * and the whole input sorted by token count before batching, so a batch holds texts of nearly one
 * length. Tokenizing, sorting, running, pooling and writing are all inside the program's run.
 */
public final class PlainLoop {

  private PlainLoop() {}

  public static void main(String[] argv) throws Exception {
    Map<String, String> args = LineScorer.parseArgs(argv);
    int batch = Integer.parseInt(args.getOrDefault("batch", "64"));
    boolean sorted = "sorted".equals(args.getOrDefault("order", "file"));
    Path output = Path.of(args.get("output"));
    Files.createDirectories(output);
    long written = 0;
    try (LineScorer scorer = LineScorer.of(args);
        BufferedWriter out =
            Files.newBufferedWriter(output.resolve("predictions.jsonl"), StandardCharsets.UTF_8)) {
      scorer.open();
      if (sorted) {
        if (!(scorer instanceof LineScorer.Text text)) {
          throw new IllegalArgumentException("--order=sorted is for --task=text");
        }
        List<LineScorer.Text.Encoded> all = new ArrayList<>();
        for (Path file : LineScorer.inputFiles(Path.of(args.get("input")))) {
          try (BufferedReader in = Files.newBufferedReader(file, StandardCharsets.UTF_8)) {
            for (String line; (line = in.readLine()) != null; ) {
              all.add(text.encode(line));
            }
          }
        }
        all.sort(Comparator.comparingInt(e -> e.ids().length));
        for (int start = 0; start < all.size(); start += batch) {
          written += write(out, text.run(all.subList(start, Math.min(all.size(), start + batch))));
        }
      } else {
        List<String> chunk = new ArrayList<>(batch);
        for (Path file : LineScorer.inputFiles(Path.of(args.get("input")))) {
          try (BufferedReader in = Files.newBufferedReader(file, StandardCharsets.UTF_8)) {
            for (String line; (line = in.readLine()) != null; ) {
              chunk.add(line);
              if (chunk.size() == batch) {
                written += write(out, scorer.score(chunk));
                chunk.clear();
              }
            }
          }
        }
        written += write(out, scorer.score(chunk));
      }
    }
    System.out.println("plain loop: " + written + " records written");
  }

  private static int write(BufferedWriter out, List<String> lines) throws Exception {
    for (String line : lines) {
      out.write(line);
      out.write('\n');
    }
    return lines.size();
  }
}
