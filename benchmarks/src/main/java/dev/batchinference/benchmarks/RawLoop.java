package dev.batchinference.benchmarks;

import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtException;
import ai.onnxruntime.OrtSession;
import java.util.List;
import java.util.Map;
import java.util.Set;

/** The raw ONNX Runtime side: sessions opened like the job opens them, and timed run loops. */
final class RawLoop {

  private RawLoop() {}

  /**
   * A session with {@code intraOpThreads} threads (0: ONNX Runtime's default) and all graph
   * optimisations.
   */
  static OrtSession open(OrtEnvironment env, byte[] model, int intraOpThreads) throws OrtException {
    try (OrtSession.SessionOptions options = new OrtSession.SessionOptions()) {
      if (intraOpThreads > 0) {
        options.setIntraOpNumThreads(intraOpThreads);
      }
      options.setOptimizationLevel(OrtSession.SessionOptions.OptLevel.ALL_OPT);
      return env.createSession(model, options);
    }
  }

  /** Runs the first {@code count} batches once, untimed. */
  static void warmUp(
      OrtSession session, List<Map<String, OnnxTensor>> batches, Set<String> outputs, int count)
      throws OrtException {
    for (int i = 0; i < Math.min(count, batches.size()); i++) {
      session.run(batches.get(i), outputs).close();
    }
  }

  /**
   * Runs every batch, pass after pass, until at least {@code minSeconds} have gone by (at least one
   * pass); only {@code session.run} and closing its result are inside the loop.
   *
   * @return the number of passes
   */
  static int timedPasses(
      OrtSession session,
      List<Map<String, OnnxTensor>> batches,
      Set<String> outputs,
      Measurement clock,
      double minSeconds)
      throws OrtException {
    int passes = 0;
    do {
      for (Map<String, OnnxTensor> batch : batches) {
        session.run(batch, outputs).close();
      }
      passes++;
    } while (clock.seconds() < minSeconds);
    clock.stop();
    return passes;
  }

  static void closeAll(List<Map<String, OnnxTensor>> batches) {
    for (Map<String, OnnxTensor> batch : batches) {
      for (OnnxTensor t : batch.values()) {
        t.close();
      }
    }
  }
}
