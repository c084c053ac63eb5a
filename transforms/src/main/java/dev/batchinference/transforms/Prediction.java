package dev.batchinference.transforms;

import dev.batchinference.transforms.model.ModelIdentity;
import dev.batchinference.transforms.tensor.TensorExample;
import dev.batchinference.transforms.tensor.TensorExampleCoder;
import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.io.Serializable;
import java.util.Arrays;
import java.util.Objects;
import org.apache.beam.sdk.coders.AtomicCoder;
import org.apache.beam.sdk.coders.StringUtf8Coder;
import org.apache.beam.sdk.util.VarInt;
import org.checkerframework.checker.nullness.qual.Nullable;

/**
 * One record's prediction: the record it belongs to, the model that made it, and the prediction
 * fields its postprocessor filled in (an embedding; a label, score and top-k; or raw output
 * tensors).
 */
public final class Prediction implements Serializable {

  private final RecordMeta meta;
  private final ModelIdentity model;
  private final float @Nullable [] embedding;
  private final @Nullable String label;
  private final int labelIndex;
  private final float score;
  private final String @Nullable [] topLabels;
  private final float @Nullable [] topScores;
  private final @Nullable TensorExample outputs;

  private Prediction(Builder b) {
    this.meta = Objects.requireNonNull(b.meta, "meta");
    this.model = Objects.requireNonNull(b.model, "model");
    this.embedding = b.embedding;
    this.label = b.label;
    this.labelIndex = b.labelIndex;
    this.score = b.score;
    this.topLabels = b.topLabels;
    this.topScores = b.topScores;
    this.outputs = b.outputs;
  }

  public static Builder builder(RecordMeta meta, ModelIdentity model) {
    return new Builder(meta, model);
  }

  public RecordMeta meta() {
    return meta;
  }

  public ModelIdentity model() {
    return model;
  }

  public float @Nullable [] embedding() {
    return embedding;
  }

  public @Nullable String label() {
    return label;
  }

  /** Index of the predicted class, or -1 when the prediction has no label. */
  public int labelIndex() {
    return labelIndex;
  }

  /** Score of the predicted class, or NaN when the prediction has no label. */
  public float score() {
    return score;
  }

  public String @Nullable [] topLabels() {
    return topLabels;
  }

  public float @Nullable [] topScores() {
    return topScores;
  }

  /** Raw output tensors, for models scored in raw mode. */
  public @Nullable TensorExample outputs() {
    return outputs;
  }

  @Override
  public boolean equals(@Nullable Object o) {
    if (!(o instanceof Prediction)) {
      return false;
    }
    Prediction p = (Prediction) o;
    return meta.equals(p.meta)
        && model.equals(p.model)
        && Arrays.equals(embedding, p.embedding)
        && Objects.equals(label, p.label)
        && labelIndex == p.labelIndex
        && Float.compare(score, p.score) == 0
        && Arrays.equals(topLabels, p.topLabels)
        && Arrays.equals(topScores, p.topScores)
        && Objects.equals(outputs, p.outputs);
  }

  @Override
  public int hashCode() {
    return Objects.hash(meta, label);
  }

  @Override
  public String toString() {
    return "Prediction{" + meta + ", label=" + label + ", score=" + score + "}";
  }

  /** Builds a {@link Prediction}; postprocessors fill in the fields they produce. */
  public static final class Builder {
    private final RecordMeta meta;
    private final ModelIdentity model;
    private float @Nullable [] embedding;
    private @Nullable String label;
    private int labelIndex = -1;
    private float score = Float.NaN;
    private String @Nullable [] topLabels;
    private float @Nullable [] topScores;
    private @Nullable TensorExample outputs;

    private Builder(RecordMeta meta, ModelIdentity model) {
      this.meta = meta;
      this.model = model;
    }

    public Builder embedding(float[] value) {
      this.embedding = value;
      return this;
    }

    public Builder label(String value, int index, float score) {
      this.label = value;
      this.labelIndex = index;
      this.score = score;
      return this;
    }

    public Builder topK(String[] labels, float[] scores) {
      this.topLabels = labels;
      this.topScores = scores;
      return this;
    }

    public Builder outputs(TensorExample value) {
      this.outputs = value;
      return this;
    }

    public Prediction build() {
      return new Prediction(this);
    }
  }

  /** Coder for {@link Prediction}: presence flags, then each present field in binary. */
  public static final class Coder extends AtomicCoder<Prediction> {
    private static final Coder INSTANCE = new Coder();
    private static final StringUtf8Coder STRING = StringUtf8Coder.of();
    private static final int HAS_EMBEDDING = 1;
    private static final int HAS_LABEL = 2;
    private static final int HAS_TOP_K = 4;
    private static final int HAS_OUTPUTS = 8;

    public static Coder of() {
      return INSTANCE;
    }

    private Coder() {}

    @Override
    public void encode(Prediction p, OutputStream out) throws IOException {
      RecordMeta.Coder.of().encode(p.meta, out);
      STRING.encode(p.model.name(), out);
      STRING.encode(p.model.sha256(), out);
      int flags =
          (p.embedding != null ? HAS_EMBEDDING : 0)
              | (p.label != null ? HAS_LABEL : 0)
              | (p.topLabels != null ? HAS_TOP_K : 0)
              | (p.outputs != null ? HAS_OUTPUTS : 0);
      out.write(flags);
      DataOutputStream data = new DataOutputStream(out);
      if (p.embedding != null) {
        writeFloats(p.embedding, data);
      }
      if (p.label != null) {
        STRING.encode(p.label, out);
        VarInt.encode(p.labelIndex, out);
        data.writeFloat(p.score);
      }
      if (p.topLabels != null) {
        VarInt.encode(p.topLabels.length, out);
        for (String l : p.topLabels) {
          STRING.encode(l, out);
        }
        writeFloats(p.topScores, data);
      }
      if (p.outputs != null) {
        TensorExampleCoder.of().encode(p.outputs, out);
      }
      data.flush();
    }

    @Override
    public Prediction decode(InputStream in) throws IOException {
      RecordMeta meta = RecordMeta.Coder.of().decode(in);
      ModelIdentity model = ModelIdentity.of(STRING.decode(in), STRING.decode(in));
      Builder b = new Builder(meta, model);
      int flags = in.read();
      DataInputStream data = new DataInputStream(in);
      if ((flags & HAS_EMBEDDING) != 0) {
        b.embedding(readFloats(data));
      }
      if ((flags & HAS_LABEL) != 0) {
        String label = STRING.decode(in);
        int index = VarInt.decodeInt(in);
        b.label(label, index, data.readFloat());
      }
      if ((flags & HAS_TOP_K) != 0) {
        String[] labels = new String[VarInt.decodeInt(in)];
        for (int i = 0; i < labels.length; i++) {
          labels[i] = STRING.decode(in);
        }
        b.topK(labels, readFloats(data));
      }
      if ((flags & HAS_OUTPUTS) != 0) {
        b.outputs(TensorExampleCoder.of().decode(in));
      }
      return b.build();
    }

    private static void writeFloats(float[] values, DataOutputStream out) throws IOException {
      VarInt.encode(values.length, out);
      java.nio.ByteBuffer buf = java.nio.ByteBuffer.allocate(values.length * 4);
      buf.asFloatBuffer().put(values);
      out.write(buf.array());
    }

    private static float[] readFloats(DataInputStream in) throws IOException {
      float[] values = new float[VarInt.decodeInt(in)];
      byte[] raw = new byte[values.length * 4];
      in.readFully(raw);
      java.nio.ByteBuffer.wrap(raw).asFloatBuffer().get(values);
      return values;
    }

    @Override
    public void verifyDeterministic() {}
  }
}
