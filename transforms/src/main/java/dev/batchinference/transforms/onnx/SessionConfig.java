package dev.batchinference.transforms.onnx;

import static org.apache.beam.vendor.guava.v32_1_2_jre.com.google.common.base.Preconditions.checkArgument;

import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtException;
import ai.onnxruntime.OrtProvider;
import ai.onnxruntime.OrtSession;
import java.io.Serializable;
import java.util.Objects;

/**
 * How an ONNX Runtime session is opened: threads, graph optimisation and execution provider.
 * Immutable; {@link #defaults()} leaves threading to ONNX Runtime and runs on the CPU.
 */
public final class SessionConfig implements Serializable {

  /** Graph optimisation levels, as ONNX Runtime names them. */
  public enum Optimization {
    NONE(OrtSession.SessionOptions.OptLevel.NO_OPT),
    BASIC(OrtSession.SessionOptions.OptLevel.BASIC_OPT),
    EXTENDED(OrtSession.SessionOptions.OptLevel.EXTENDED_OPT),
    ALL(OrtSession.SessionOptions.OptLevel.ALL_OPT);

    private final OrtSession.SessionOptions.OptLevel level;

    Optimization(OrtSession.SessionOptions.OptLevel level) {
      this.level = level;
    }
  }

  /** Where the model runs. */
  public enum Provider {
    CPU,
    CUDA
  }

  private final int intraOpThreads;
  private final int interOpThreads;
  private final Optimization optimization;
  private final Provider provider;
  private final int deviceId;

  private SessionConfig(
      int intraOpThreads,
      int interOpThreads,
      Optimization optimization,
      Provider provider,
      int deviceId) {
    this.intraOpThreads = intraOpThreads;
    this.interOpThreads = interOpThreads;
    this.optimization = optimization;
    this.provider = provider;
    this.deviceId = deviceId;
  }

  public static SessionConfig defaults() {
    return new SessionConfig(0, 0, Optimization.ALL, Provider.CPU, 0);
  }

  /** Threads inside one operator; 0 lets ONNX Runtime choose (one per core). */
  public SessionConfig withIntraOpThreads(int threads) {
    checkArgument(threads >= 0, "intraOpThreads must be >= 0, got %s", threads);
    return new SessionConfig(threads, interOpThreads, optimization, provider, deviceId);
  }

  /** Threads across independent operators; 0 lets ONNX Runtime choose. */
  public SessionConfig withInterOpThreads(int threads) {
    checkArgument(threads >= 0, "interOpThreads must be >= 0, got %s", threads);
    return new SessionConfig(intraOpThreads, threads, optimization, provider, deviceId);
  }

  public SessionConfig withOptimization(Optimization level) {
    return new SessionConfig(
        intraOpThreads, interOpThreads, Objects.requireNonNull(level), provider, deviceId);
  }

  /** Runs on CUDA device {@code deviceId}; needs the {@code gpu} build and a CUDA device. */
  public SessionConfig withCuda(int deviceId) {
    checkArgument(deviceId >= 0, "CUDA device id must be >= 0, got %s", deviceId);
    return new SessionConfig(intraOpThreads, interOpThreads, optimization, Provider.CUDA, deviceId);
  }

  public SessionConfig withCpu() {
    return new SessionConfig(intraOpThreads, interOpThreads, optimization, Provider.CPU, 0);
  }

  public int intraOpThreads() {
    return intraOpThreads;
  }

  public int interOpThreads() {
    return interOpThreads;
  }

  public Optimization optimization() {
    return optimization;
  }

  public Provider provider() {
    return provider;
  }

  public int deviceId() {
    return deviceId;
  }

  /** ONNX Runtime session options for this configuration; fails clearly when CUDA is missing. */
  OrtSession.SessionOptions toSessionOptions() throws OrtException {
    OrtSession.SessionOptions options = new OrtSession.SessionOptions();
    try {
      if (intraOpThreads > 0) {
        options.setIntraOpNumThreads(intraOpThreads);
      }
      if (interOpThreads > 0) {
        options.setInterOpNumThreads(interOpThreads);
      }
      options.setOptimizationLevel(optimization.level);
      if (provider == Provider.CUDA) {
        if (!OrtEnvironment.getAvailableProviders().contains(OrtProvider.CUDA)) {
          throw new IllegalStateException(
              "The CUDA execution provider was asked for, but this ONNX Runtime build has none"
                  + " (available: "
                  + OrtEnvironment.getAvailableProviders()
                  + "). Build with -Pgpu (onnxruntime_gpu) and run where CUDA is installed, or use"
                  + " the CPU provider.");
        }
        try {
          options.addCUDA(deviceId);
        } catch (OrtException e) {
          throw new IllegalStateException(
              "Could not open CUDA device "
                  + deviceId
                  + ": "
                  + e.getMessage()
                  + ". Check the device id, the CUDA and cuDNN libraries, and the driver.",
              e);
        }
      }
      return options;
    } catch (RuntimeException | OrtException e) {
      options.close();
      throw e;
    }
  }

  @Override
  public boolean equals(Object o) {
    if (!(o instanceof SessionConfig)) {
      return false;
    }
    SessionConfig c = (SessionConfig) o;
    return intraOpThreads == c.intraOpThreads
        && interOpThreads == c.interOpThreads
        && optimization == c.optimization
        && provider == c.provider
        && deviceId == c.deviceId;
  }

  @Override
  public int hashCode() {
    return Objects.hash(intraOpThreads, interOpThreads, optimization, provider, deviceId);
  }

  @Override
  public String toString() {
    return "intra="
        + intraOpThreads
        + ",inter="
        + interOpThreads
        + ",opt="
        + optimization
        + ","
        + provider
        + (provider == Provider.CUDA ? ":" + deviceId : "");
  }
}
