package dev.batchinference.transforms;

import static org.hamcrest.MatcherAssert.assertThat;
import static org.hamcrest.Matchers.equalTo;
import static org.hamcrest.Matchers.is;
import static org.hamcrest.Matchers.lessThanOrEqualTo;

import ai.onnxruntime.OrtException;
import dev.batchinference.transforms.model.LoadedModel;
import dev.batchinference.transforms.model.MemoryBackoff;
import dev.batchinference.transforms.model.ModelHandler;
import dev.batchinference.transforms.model.ModelIdentity;
import dev.batchinference.transforms.onnx.OnnxModelHandler;
import dev.batchinference.transforms.postprocess.ClassScores;
import dev.batchinference.transforms.tensor.TensorExample;
import dev.batchinference.transforms.tensor.TensorExampleCoder;
import dev.batchinference.transforms.testing.FashionMnist;
import dev.batchinference.transforms.testing.TestModels;
import java.util.ArrayList;
import java.util.List;
import org.apache.beam.sdk.coders.KvCoder;
import org.apache.beam.sdk.testing.PAssert;
import org.apache.beam.sdk.testing.TestPipeline;
import org.apache.beam.sdk.transforms.Count;
import org.apache.beam.sdk.transforms.Create;
import org.apache.beam.sdk.values.KV;
import org.junit.Before;
import org.junit.Rule;
import org.junit.Test;
import org.junit.runner.RunWith;
import org.junit.runners.JUnit4;

/**
 * Memory back-off: a worker whose batches run out of memory retries them in smaller pieces and
 * lowers its batch size for the rest of its life. The allocation failure is injected around the
 * real classifier, with the message ONNX Runtime's CPU allocator gives.
 */
@RunWith(JUnit4.class)
public class MemoryBackoffTest {

  @Rule public final transient TestPipeline pipeline = TestPipeline.create();

  @Before
  public void forgetLimits() {
    MemoryBackoff.reset();
  }

  /** The classifier, on a worker where a batch of more than {@code fits} records cannot run. */
  static final class MemoryLimited implements ModelHandler<TensorExample, TensorExample> {
    private final OnnxModelHandler delegate;
    private final int fits;
    private final boolean javaHeap;

    MemoryLimited(OnnxModelHandler delegate, int fits, boolean javaHeap) {
      this.delegate = delegate;
      this.fits = fits;
      this.javaHeap = javaHeap;
    }

    @Override
    public String cacheKey() {
      return "memory-limited:" + fits + ":" + javaHeap + ":" + delegate.cacheKey();
    }

    @Override
    public LoadedModel<TensorExample, TensorExample> load() throws Exception {
      LoadedModel<TensorExample, TensorExample> model = delegate.load();
      return new LoadedModel<>() {
        @Override
        public ModelIdentity identity() {
          return model.identity();
        }

        @Override
        public long byteSize() {
          return model.byteSize();
        }

        @Override
        public List<TensorExample> run(List<TensorExample> batch) throws Exception {
          if (batch.size() > fits) {
            if (javaHeap) {
              throw new OutOfMemoryError("Java heap space");
            }
            throw new OrtException(
                OrtException.OrtErrorCode.ORT_RUNTIME_EXCEPTION,
                "Failed to allocate memory for requested buffer of size "
                    + batch.size() * 784L * 4);
          }
          return model.run(batch);
        }

        @Override
        public void close() throws Exception {
          model.close();
        }
      };
    }

    @Override
    public long weight(TensorExample example) {
      return delegate.weight(example);
    }
  }

  private void runsEveryRecordAfterBackingOff(boolean javaHeap) {
    FashionMnist.Dataset data = FashionMnist.load(false, 100);
    List<KV<RecordMeta, TensorExample>> records = TestModels.keyedImages(data, 100);
    RunInference.Result result =
        pipeline
            .apply(
                Create.of(records)
                    .withCoder(KvCoder.of(RecordMeta.Coder.of(), TensorExampleCoder.of())))
            .apply(
                RunInference.of(
                        new MemoryLimited(
                            OnnxModelHandler.of(TestModels.classifier().toString()), 10, javaHeap),
                        ClassScores.of().withLabels(FashionMnist.LABELS))
                    .withShards(1)
                    .withBatchSize(32));

    PAssert.that(result.failures()).empty();
    PAssert.thatSingleton(result.predictions().apply(Count.globally())).isEqualTo(100L);
    PAssert.that(result.batches())
        .satisfies(
            batches -> {
              List<Long> limits = new ArrayList<>();
              for (BatchStats b : batches) {
                if (b.isMemoryBackoff()) {
                  limits.add(b.backoffLimit());
                } else {
                  assertThat("every run fits", b.size(), lessThanOrEqualTo(10L));
                }
              }
              // 32 failed, so 16; 16 failed too, so 8; then every batch is cut to 8 up front.
              limits.sort(null);
              assertThat(limits, equalTo(List.of(8L, 16L)));
              return null;
            });
    pipeline.run().waitUntilFinish();
    assertThat(MemoryBackoff.limit(cacheKeyFor(javaHeap)), equalTo(8));
  }

  private static String cacheKeyFor(boolean javaHeap) {
    return new MemoryLimited(OnnxModelHandler.of(TestModels.classifier().toString()), 10, javaHeap)
        .cacheKey();
  }

  @Test
  public void onnxRuntimeAllocationFailuresLowerTheBatchSize() {
    runsEveryRecordAfterBackingOff(false);
  }

  @Test
  public void javaHeapExhaustionLowersTheBatchSize() {
    runsEveryRecordAfterBackingOff(true);
  }

  @Test
  public void recognisesOutOfMemoryErrors() {
    assertThat(MemoryBackoff.isOutOfMemory(new OutOfMemoryError("Java heap space")), is(true));
    assertThat(
        MemoryBackoff.isOutOfMemory(
            new RuntimeException(
                "wrapped",
                new OrtException(
                    OrtException.OrtErrorCode.ORT_RUNTIME_EXCEPTION,
                    "[ONNXRuntimeError] : 6 : RUNTIME_EXCEPTION : std::bad_alloc"))),
        is(true));
    assertThat(
        MemoryBackoff.isOutOfMemory(new IllegalArgumentException("shape [10] is not [784]")),
        is(false));
  }
}
