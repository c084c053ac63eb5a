package dev.batchinference.transforms.testing;

import dev.batchinference.transforms.RecordMeta;
import dev.batchinference.transforms.tensor.TensorExample;
import org.apache.beam.sdk.transforms.MapElements;
import org.apache.beam.sdk.transforms.SimpleFunction;
import org.apache.beam.sdk.values.KV;
import org.apache.beam.sdk.values.PCollection;

/** Test helpers for {@link RecordMeta}. */
public final class Metas {

  private Metas() {}

  /**
   * The examples with their metadata's content hash checked (the SHA-256 of a record is 64 hex
   * characters) and then dropped, so that expectations need not spell it out.
   */
  public static PCollection<KV<RecordMeta, TensorExample>> withoutHashes(
      PCollection<KV<RecordMeta, TensorExample>> examples) {
    return examples
        .apply(
            "WithoutHashes",
            MapElements.via(
                new SimpleFunction<KV<RecordMeta, TensorExample>, KV<RecordMeta, TensorExample>>() {
                  @Override
                  public KV<RecordMeta, TensorExample> apply(KV<RecordMeta, TensorExample> kv) {
                    RecordMeta m = kv.getKey();
                    if (m.contentSha256() == null || m.contentSha256().length() != 64) {
                      throw new AssertionError("no content hash in " + m);
                    }
                    return KV.of(
                        RecordMeta.of(m.id(), m.source(), m.index(), m.carriedJson()),
                        kv.getValue());
                  }
                }))
        .setCoder(examples.getCoder());
  }
}
