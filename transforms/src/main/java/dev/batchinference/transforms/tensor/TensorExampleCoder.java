package dev.batchinference.transforms.tensor;

import java.io.DataInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.LinkedHashMap;
import org.apache.beam.sdk.coders.AtomicCoder;
import org.apache.beam.sdk.coders.CoderException;
import org.apache.beam.sdk.coders.StringUtf8Coder;
import org.apache.beam.sdk.util.VarInt;

/**
 * A compact coder for {@link TensorExample}: names, element types and shapes, then the values as
 * raw little-endian bytes in one block per tensor (no per-element framing, no Java serialization).
 */
public final class TensorExampleCoder extends AtomicCoder<TensorExample> {

  private static final TensorExampleCoder INSTANCE = new TensorExampleCoder();
  private static final StringUtf8Coder NAME_CODER = StringUtf8Coder.of();
  private static final Tensor.DType[] DTYPES = Tensor.DType.values();

  public static TensorExampleCoder of() {
    return INSTANCE;
  }

  private TensorExampleCoder() {}

  @Override
  public void encode(TensorExample value, OutputStream out) throws IOException {
    VarInt.encode(value.names().size(), out);
    for (var entry : value.asMap().entrySet()) {
      NAME_CODER.encode(entry.getKey(), out);
      encodeTensor(entry.getValue(), out);
    }
  }

  @Override
  public TensorExample decode(InputStream in) throws IOException {
    int n = VarInt.decodeInt(in);
    LinkedHashMap<String, Tensor> tensors = new LinkedHashMap<>();
    for (int i = 0; i < n; i++) {
      String name = NAME_CODER.decode(in);
      tensors.put(name, decodeTensor(in));
    }
    return TensorExample.of(tensors);
  }

  static void encodeTensor(Tensor t, OutputStream out) throws IOException {
    out.write(t.dtype().ordinal());
    VarInt.encode(t.rank(), out);
    for (int i = 0; i < t.rank(); i++) {
      VarInt.encode(t.dim(i), out);
    }
    int n = t.size();
    if (t.dtype() == Tensor.DType.STRING) {
      for (String s : (String[]) t.data()) {
        NAME_CODER.encode(s, out);
      }
      return;
    }
    ByteBuffer bytes = ByteBuffer.allocate(n * t.dtype().width()).order(ByteOrder.LITTLE_ENDIAN);
    switch (t.dtype()) {
      case FLOAT:
        bytes.asFloatBuffer().put((float[]) t.data());
        break;
      case DOUBLE:
        bytes.asDoubleBuffer().put((double[]) t.data());
        break;
      case INT32:
        bytes.asIntBuffer().put((int[]) t.data());
        break;
      case INT64:
        bytes.asLongBuffer().put((long[]) t.data());
        break;
      case INT16:
      case FLOAT16:
      case BFLOAT16:
        bytes.asShortBuffer().put((short[]) t.data());
        break;
      default:
        bytes.put((byte[]) t.data());
        break;
    }
    out.write(bytes.array());
  }

  static Tensor decodeTensor(InputStream in) throws IOException {
    int ordinal = in.read();
    if (ordinal < 0 || ordinal >= DTYPES.length) {
      throw new CoderException("bad tensor element type " + ordinal);
    }
    Tensor.DType dtype = DTYPES[ordinal];
    long[] shape = new long[VarInt.decodeInt(in)];
    for (int i = 0; i < shape.length; i++) {
      shape[i] = VarInt.decodeLong(in);
    }
    int n = Math.toIntExact(Tensor.elementCount(shape));
    if (dtype == Tensor.DType.STRING) {
      String[] strings = new String[n];
      for (int i = 0; i < n; i++) {
        strings[i] = NAME_CODER.decode(in);
      }
      return Tensor.ofStrings(strings, shape);
    }
    byte[] raw = new byte[n * dtype.width()];
    new DataInputStream(in).readFully(raw);
    ByteBuffer bytes = ByteBuffer.wrap(raw).order(ByteOrder.LITTLE_ENDIAN);
    Object values = dtype.newArray(n);
    switch (dtype) {
      case FLOAT:
        bytes.asFloatBuffer().get((float[]) values);
        break;
      case DOUBLE:
        bytes.asDoubleBuffer().get((double[]) values);
        break;
      case INT32:
        bytes.asIntBuffer().get((int[]) values);
        break;
      case INT64:
        bytes.asLongBuffer().get((long[]) values);
        break;
      case INT16:
      case FLOAT16:
      case BFLOAT16:
        bytes.asShortBuffer().get((short[]) values);
        break;
      default:
        values = raw;
        break;
    }
    return Tensor.of(dtype, values, shape);
  }

  @Override
  public void verifyDeterministic() {}
}
